package cmd

import (
	"context"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/podspec"
)

// nodeCompletionTimeout bounds the node list behind a TAB: past a few seconds a shell feels
// hung, and no completion is better than a stuck prompt. A var so tests can shorten it.
var nodeCompletionTimeout = 5 * time.Second

// modeDescriptions are shown next to --mode's values by shells that show descriptions.
var modeDescriptions = map[podspec.Mode]string{
	podspec.ModeChroot:    "the node's own files and binaries (default)",
	podspec.ModeNsenter:   "join the namespaces of the node's PID 1",
	podspec.ModeContainer: "stay in the container, the node's / at /host",
}

// registerCompletions makes the NODE argument complete to the cluster's node names and
// the enumerated flags to their values.
func (o *NodeShellOptions) registerCompletions(cmd *cobra.Command) {
	cmd.ValidArgsFunction = o.completeNodeNames
	modes := make([]cobra.Completion, len(podspec.Modes))
	for i, m := range podspec.Modes {
		modes[i] = cobra.CompletionWithDesc(string(m), modeDescriptions[m])
	}
	_ = cmd.RegisterFlagCompletionFunc("mode", prefixCompletions(modes))
	policies := []cobra.Completion{
		string(corev1.PullAlways), string(corev1.PullIfNotPresent), string(corev1.PullNever),
	}
	_ = cmd.RegisterFlagCompletionFunc("image-pull-policy", prefixCompletions(policies))
}

// prefixCompletions completes to the choices that start with what is typed. Unlike
// cobra.FixedCompletions it filters itself, so kubectl's plugin completion and every shell
// get the same short list.
func prefixCompletions(choices []cobra.Completion) cobra.CompletionFunc {
	return func(_ *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		var out []cobra.Completion
		for _, c := range choices {
			if strings.HasPrefix(c, toComplete) {
				out = append(out, c)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

// completeNodeNames completes the NODE argument: the names of the nodes, in the cluster the
// user's kubeconfig flags select, that start with toComplete. The words after NODE are a
// command for the node, so local file names would be wrong there: nothing is offered.
// Failures (no kubeconfig, no access, a slow apiserver) mean no completions, never an error
// in the user's command line: they go to __complete's stderr, which shells discard, and to
// $BASH_COMP_DEBUG_FILE when set.
func (o *NodeShellOptions) completeNodeNames(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	client, err := o.completionClient()
	if err != nil {
		cobra.CompDebugln("node-shell: "+err.Error(), true)
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, nodeCompletionTimeout)
	defer cancel()
	names, err := nodeNames(ctx, client, toComplete)
	if err != nil {
		cobra.CompDebugln("node-shell: list nodes: "+err.Error(), true)
	}
	return names, cobra.ShellCompDirectiveNoFileComp
}

// completionClient is the client Complete would build, with the completion timeout on
// each request. A client already set (by a test) is used as is.
func (o *NodeShellOptions) completionClient() (kubernetes.Interface, error) {
	if o.client != nil {
		return o.client, nil
	}
	config, err := o.configFlags.ToRESTConfig()
	if err != nil {
		return nil, err
	}
	config.Timeout = nodeCompletionTimeout
	return kubernetes.NewForConfig(config)
}

// nodeNames lists the nodes whose names start with prefix. ResourceVersion "0" lets the
// apiserver answer from its cache: a completion may be a moment stale, not a load on etcd.
func nodeNames(ctx context.Context, client kubernetes.Interface, prefix string) ([]cobra.Completion, error) {
	nodes, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{ResourceVersion: "0"})
	if err != nil {
		return nil, err
	}
	var names []cobra.Completion
	for _, n := range nodes.Items {
		if strings.HasPrefix(n.Name, prefix) {
			names = append(names, n.Name)
		}
	}
	return names, nil
}
