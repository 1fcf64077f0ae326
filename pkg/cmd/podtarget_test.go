package cmd

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/podspec"
)

// completeArgs runs Complete and Validate on the session command's flags and args.
func completeArgs(t *testing.T, kubeconfig string, args ...string) (*NodeShellOptions, error) {
	t.Helper()
	cmd := &cobra.Command{}
	o := NewNodeShellOptions(genericiooptions.NewTestIOStreamsDiscard())
	o.Getenv = func(string) string { return "" }
	o.AddFlags(cmd)
	if err := cmd.ParseFlags(append([]string{"--kubeconfig", kubeconfig}, args...)); err != nil {
		t.Fatal(err)
	}
	// cobra sets ArgsLenAtDash on Execute only; these cases put no command after --.
	if err := o.Complete(cmd, cmd.Flags().Args()); err != nil {
		return o, err
	}
	return o, o.Validate()
}

// pod/NAME: -n is the target's namespace, the session pod's is the context's; kubectl's
// node/NAME is a node.
func TestPodTargetOptions(t *testing.T) {
	kubeconfig, requests := countingServer(t)
	o, err := completeArgs(t, kubeconfig, "-n", "shop", "-c", "app", "--target-namespaces", "pid,net", "pod/web-0")
	if err != nil {
		t.Fatal(err)
	}
	if o.TargetPod != "web-0" || o.Container != "app" || o.targetNamespace != "shop" || o.namespace != "ops" || o.Node != "" || o.fleet ||
		!cmp.Equal(o.TargetNamespaces, []string{"pid", "net"}) || o.namespaceFlagSet() {
		t.Errorf("pod target: pod %q container %q target namespace %q session namespace %q node %q fleet %v namespaces %q -n counted for the session %v",
			o.TargetPod, o.Container, o.targetNamespace, o.namespace, o.Node, o.fleet, o.TargetNamespaces, o.namespaceFlagSet())
	}
	if o, err := completeArgs(t, kubeconfig, "pods/web-0"); err != nil || o.TargetPod != "web-0" || !cmp.Equal(o.TargetNamespaces, []string{"net"}) {
		t.Errorf("pods/web-0: pod %q namespaces %q, %v", o.TargetPod, o.TargetNamespaces, err)
	}
	if o, err := completeArgs(t, kubeconfig, "node/node-1"); err != nil || o.Node != "node-1" || o.TargetPod != "" {
		t.Errorf("node/node-1: node %q pod %q, %v", o.Node, o.TargetPod, err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"deploy/web"}, `"deploy/web": a target is NODE, node/NODE or pod/NAME`},
		{[]string{"-c", "app", "node-1"}, "-c/--container needs a pod target"},
		{[]string{"--target-namespaces", "net,pid", "node-1"}, "--target-namespaces needs a pod target"},
		{[]string{"--target-namespaces", "net,mnt", "pod/a"}, "--target-namespaces: mnt is refused"},
		{[]string{"--nsenter", "pod/a"}, "--mode nsenter does not apply to a pod target"},
		{[]string{"pod/Web_0"}, `"Web_0" is not a valid pod name`},
	} {
		if _, err := completeArgs(t, kubeconfig, tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.args, err, tc.want)
		}
	}
	streams, _, _, errOut := genericiooptions.NewTestIOStreams()
	if status := Execute(streams, []string{"--kubeconfig", kubeconfig, "pod/a", "pod/b", "--", "true"}); status != ExitFailure ||
		!strings.Contains(errOut.String(), "a pod target is one pod") {
		t.Errorf("two pods: status %d, stderr %q", status, errOut.String())
	}
	if n := requests.Load(); n != 0 {
		t.Errorf("%d request(s) reached the apiserver during Complete and Validate", n)
	}
}

// Without --mode, the node's nodeInfo picks the entry; with it, --mode does.
func TestChooseNodeEntry(t *testing.T) {
	kubeconfig, _ := countingServer(t)
	for _, tc := range []struct {
		args []string
		os   string
		want podspec.Mode
	}{
		{[]string{"n1"}, "Talos (v1.7.6)", podspec.ModeContainer},
		{[]string{"n1"}, "Bottlerocket OS 1.19.5 (aws-k8s-1.29)", podspec.ModeBottlerocket},
		{[]string{"--mode", "chroot", "n1"}, "Bottlerocket OS 1.19.5 (aws-k8s-1.29)", podspec.ModeChroot},
		{[]string{"n1"}, "Ubuntu 22.04.4 LTS", podspec.ModeChroot},
	} {
		o, err := completeArgs(t, kubeconfig, tc.args...)
		if err != nil {
			t.Fatal(err)
		}
		o.node = readyNodeRunning(tc.os)
		o.chooseNodeEntry(newReporter(o.ErrOut, true, 0, nil))
		if got := o.entry.Mode(); got != tc.want {
			t.Errorf("%q on %s: entry %s, want %s", tc.args, tc.os, got, tc.want)
		}
	}
}

func readyNodeRunning(osImage string) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"},
		Status: corev1.NodeStatus{NodeInfo: corev1.NodeSystemInfo{OperatingSystem: "linux", OSImage: osImage}}}
}
