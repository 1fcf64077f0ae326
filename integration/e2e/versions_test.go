package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubectl-node-shell/kubectl-node-shell/integration/localcluster"
	"github.com/kubectl-node-shell/kubectl-node-shell/integration/release"
)

// TestClusterVersion: the suite runs on the Kubernetes it was asked for ($KNS_KUBERNETES_VERSION,
// as `make test-versions` sets it, else the default): the apiserver and every kubelet say so.
func TestClusterVersion(t *testing.T) {
	e := newE2E(t)
	want, err := localcluster.KubernetesVersion("")
	if err != nil {
		t.Fatal(err)
	}
	info, err := e.client.Discovery().ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	if info.GitVersion != want || e.cluster.KubernetesVersion() != want {
		t.Errorf("apiserver %s, cluster %s; want %s", info.GitVersion, e.cluster.KubernetesVersion(), want)
	}
	nodes, err := e.client.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes.Items {
		if n.Status.NodeInfo.KubeletVersion != want {
			t.Errorf("node %s runs kubelet %s, want %s", n.Name, n.Status.NodeInfo.KubeletVersion, want)
		}
	}
	t.Logf("Kubernetes %s: apiserver and %d kubelets", want, len(nodes.Items))
}

// TestCompletionFromBin: `make build` puts the plugin and kubectl's completion helper in one
// directory, and with only that directory and kubectl on PATH, kubectl completes node names.
func TestCompletionFromBin(t *testing.T) {
	e := newE2E(t)
	bin := t.TempDir()
	build := exec.Command("make", "build", "BIN="+bin)
	build.Dir = release.RepoRoot()
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("make build: %v\n%s", err, out)
	}
	if err := os.Symlink(e.cluster.KubectlPath(), filepath.Join(bin, "kubectl")); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(bin, "kubectl"), "__complete", "node-shell", "")
	cmd.Env = []string{"PATH=" + bin + ":/usr/bin:/bin", "HOME=" + e.home, "KUBECONFIG=" + e.kubeconfig}
	r := e.runCommand(cmd, time.Minute)
	// An empty word offers the subcommands too (cobra's way); every node must be there.
	words, _ := completions(r.Stdout)
	for _, node := range e.Nodes() {
		if !slices.Contains(words, node) {
			t.Errorf("kubectl __complete node-shell '': %q lacks node %s; status %d, stderr %q", words, node, r.Status, r.Stderr)
		}
	}
	if !slices.Contains(words, "cp") {
		t.Errorf("kubectl __complete node-shell '': %q lacks the subcommands", words)
	}
}
