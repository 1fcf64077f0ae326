package cmd

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/diagnose"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/leftover"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/podspec"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/serverclock"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/stream"
)

// podScope is where `list` and `gc` look for node-shell pods: the namespace given with -n,
// or else every namespace the user may list pods in.
type podScope struct {
	configFlags *genericclioptions.ConfigFlags
	namespace   string
	explicit    bool
	client      kubernetes.Interface
	// serverClock reads the apiserver's time off the list's response: pods are judged by it.
	serverClock *serverclock.Clock
	// executor lists and ends agent sessions (agent_list.go); nil: none are looked for.
	executor stream.Executor
	// host is the apiserver's address.
	host string
}

func newPodScope() *podScope {
	return &podScope{configFlags: genericclioptions.NewConfigFlags(true)}
}

// complete resolves the kubeconfig; it sends no request.
func (s *podScope) complete(cmd *cobra.Command) error {
	var err error
	s.namespace, _, err = s.configFlags.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return diagnose.KubeconfigProblem(err)
	}
	s.explicit = cmd.Flags().Changed("namespace")
	if s.client != nil {
		return nil
	}
	config, err := s.configFlags.ToRESTConfig()
	if err != nil {
		return diagnose.KubeconfigProblem(err)
	}
	s.host = config.Host
	s.serverClock = serverclock.New(nil)
	config.Wrap(s.serverClock.Wrap)
	if s.client, err = kubernetes.NewForConfig(config); err != nil {
		return diagnose.KubeconfigProblem(err)
	}
	s.executor = &stream.RemoteExecutor{Config: config, Client: s.client.CoreV1().RESTClient()}
	return nil
}

// find lists the node-shell pods in scope, and warns on errOut about namespaces it could
// not look into.
func (s *podScope) find(ctx context.Context, errOut io.Writer) (leftover.Found, error) {
	if s.explicit {
		return leftover.FindIn(ctx, s.client, s.namespace)
	}
	found, err := leftover.FindAll(ctx, s.client, s.namespace)
	if err != nil {
		return found, err
	}
	switch {
	case found.OnlyIn != "":
		fmt.Fprintf(errOut, "warning: you may list neither pods in all namespaces nor the namespaces; only namespace %s was searched\n", found.OnlyIn)
	case len(found.Forbidden) > 0:
		fmt.Fprintf(errOut, "warning: you may not list pods in namespace(s) %s; node-shell pods there were not searched\n", strings.Join(found.Forbidden, ", "))
	}
	return found, nil
}

// server is the apiserver's address, for diagnoses; "" before complete.
func (s *podScope) server() string { return s.host }

// serverNow is the apiserver's time as of its last response, or zero when unknown (then
// no running pod is judged stale).
func (s *podScope) serverNow() time.Time {
	if s.serverClock == nil {
		return time.Time{}
	}
	now, _ := s.serverClock.Now()
	return now
}

// podNode is the node of a node-shell pod, in full (its label may be shortened).
func podNode(p *corev1.Pod) string {
	if n := p.Annotations[podspec.AnnotationNode]; n != "" {
		return n
	}
	return p.Spec.NodeName
}
