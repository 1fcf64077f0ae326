package cmd

import (
	"context"
	"errors"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/diagnose"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/sshkeys"
)

// nodeConsoleHint is how pkg/diagnose's fixes name the way in to a node whose kubelet,
// runtime or disk is broken (its nodeConsole).
const nodeConsoleHint = "the node's console or SSH"

// pointToSSH names `kubectl node-shell ssh NODE` in the fix of a session that could not
// start because the node is broken, when the node opted in to SSH with Kubernetes keys:
// the one way in that needs neither the kubelet nor the runtime. Any other error, or a
// node that cannot be read, comes back as it was.
func pointToSSH(ctx context.Context, client kubernetes.Interface, node string, err error) error {
	var p *diagnose.Problem
	if client == nil || !errors.As(err, &p) || !strings.Contains(p.Fix, nodeConsoleHint) {
		return err
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	n, gerr := client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
	if gerr != nil {
		return err
	}
	if _, ok := n.Annotations[sshkeys.EnabledAnnotation]; !ok {
		return err
	}
	hinted := *p
	hinted.Fix = strings.Replace(p.Fix, nodeConsoleHint, "kubectl node-shell ssh "+node+" (the node takes SSH keys from its Node object)", 1)
	return &hinted
}
