package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
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

// TestSPDYWhenWebSocketsDisabled: with kubectl's escape hatch for proxies that break
// WebSockets, a session still carries stdin, stdout and the exit status, over SPDY: the
// apiserver saw the exec as a POST (verb create), never as a WebSocket GET (verb get).
// Without it, the same session goes over SPDY too: node-shell upgrades to SPDY first
// (pkg/stream's newExecutor; WebSocket only where SPDY is refused, unit-tested there).
func TestSPDYWhenWebSocketsDisabled(t *testing.T) {
	e := newE2E(t)
	node := e.Nodes()[1]
	execs := func(verb string) int {
		return e.auditCount(`"subresource":"exec"`, `"namespace":"`+e.namespace+`"`, `"verb":"`+verb+`"`, `"stage":"ResponseComplete"`)
	}
	r := e.NodeShell(node, "--", "sh", "-c", "cat; exit 5").
		WithEnv("KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false").WithStdin(strings.NewReader("over spdy\n")).Run()
	if r.Status != 5 || string(r.Stdout) != "over spdy\n" {
		t.Fatalf("over SPDY: status %d, stdout %q (want 5, %q); stderr %q", r.Status, r.Stdout, "over spdy\n", r.Stderr)
	}
	r.AssertOnNode(t, node)
	e.waitAudit(10*time.Second, `"subresource":"exec"`, `"namespace":"`+e.namespace+`"`, `"verb":"create"`, `"stage":"ResponseComplete"`)
	if n := execs("get"); n != 0 {
		t.Errorf("with KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false the apiserver saw %d WebSocket exec(s)", n)
	}

	r = e.NodeShell(node, "--", "sh", "-c", "cat; exit 6").WithStdin(strings.NewReader("by default\n")).Run()
	if r.Status != 6 || string(r.Stdout) != "by default\n" {
		t.Fatalf("by default: status %d, stdout %q; stderr %q", r.Status, r.Stdout, r.Stderr)
	}
	for deadline := time.Now().Add(10 * time.Second); execs("create") < 2; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the apiserver saw %d SPDY exec(s) after two sessions, want 2", execs("create"))
		}
	}
	if n := execs("get"); n != 0 {
		t.Errorf("by default the apiserver saw %d WebSocket exec(s), want SPDY only", n)
	}
}
