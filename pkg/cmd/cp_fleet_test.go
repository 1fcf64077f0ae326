package cmd

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/fleet"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/podspec"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/session"
)

func TestCpFleetBadArgumentsFailBeforeAnyRequest(t *testing.T) {
	kubeconfig, requests := countingServer(t)
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"a node named beside a selector", []string{"-l", "pool=gpu", "node-1:/var/log/x", "./logs"}, "node-1:/var/log/x names node node-1, but -l/--all choose the nodes: write the node side as :PATH"},
		{"a node named beside --all", []string{"--all", "./tool", "node-1:/usr/local/bin/"}, "names node node-1, but -l/--all choose the nodes"},
		{"both sides on the nodes", []string{"--all", ":/a", ":/b"}, "both :/a and :/b are on the nodes"},
		{"neither side on the nodes", []string{"-l", "pool=gpu", "./a", "./b"}, "neither ./a nor ./b is on the nodes: with -l/--all write the node side as :PATH"},
		{":PATH without a selection", []string{":/var/log/x", "./logs"}, ":PATH names no node: write NODE:PATH, or select the nodes with -l SELECTOR or --all"},
		{"selector and all", []string{"-l", "pool=gpu", "--all", ":/x", "./logs"}, "-l and --all select the nodes two ways"},
		{"bad selector", []string{"-l", "pool==gpu==x", ":/x", "./logs"}, `-l "pool==gpu==x" is not a valid label selector`},
		{"no parallelism", []string{"--all", "--parallel", "0", ":/x", "./logs"}, "--parallel must be at least 1"},
		{"relative node path", []string{"--all", ":var/log/x", "./logs"}, ":var/log/x: the path on the node must be absolute, like :/var/log/syslog"},
		{"the node's whole filesystem", []string{"--all", ":/", "./logs"}, ":/ is the node's whole filesystem"},
		{"gathering into a file", []string{"--all", ":/var/log/x", file}, file + " is not a directory: copies from several nodes go to DEST/NODE/"},
		{"gathering under a missing parent", []string{"--all", ":/var/log/x", filepath.Join(file+".d", "logs")}, file + ".d: no such directory"},
		{"uploading what is not there", []string{"--all", file + ".missing", ":/tmp/"}, file + ".missing: no such file or directory"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			streams, _, out, errOut := genericiooptions.NewTestIOStreams()
			status := Execute(streams, append([]string{"cp", "--kubeconfig", kubeconfig}, tc.args...))
			if status != ExitFailure {
				t.Errorf("status = %d, want %d", status, ExitFailure)
			}
			if !strings.Contains(errOut.String(), tc.want) || !strings.HasPrefix(errOut.String(), "error: ") {
				t.Errorf("stderr = %q, want an error containing %q", errOut.String(), tc.want)
			}
			if first, _, _ := strings.Cut(errOut.String(), "\n"); !strings.Contains(first, tc.want) {
				t.Errorf("stderr's first line %q does not hold the whole error %q", first, tc.want)
			}
			if out.Len() != 0 {
				t.Errorf("stdout = %q, want nothing", out.String())
			}
			if n := requests.Load(); n != 0 {
				t.Errorf("%d request(s) reached the apiserver", n)
			}
		})
	}
}

// busyboxHandle is a node's session: its Exec runs the transfer scripts with this
// machine's busybox (the session image's shell and applets), the node's / being root.
type busyboxHandle struct {
	t          *testing.T
	node, root string
}

func (h *busyboxHandle) Pod() *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "node-shell-" + h.node + "-abcde"}}
}

func (h *busyboxHandle) Close() error { return nil }

func (h *busyboxHandle) Exec(ctx context.Context, req session.ExecRequest) (int, error) {
	bb, err := exec.LookPath("busybox")
	if err != nil {
		h.t.Fatalf("this test runs the transfer scripts with busybox, as the session image does: %v", err)
	}
	args := []string{"sh"}
	for _, a := range req.Command[1:] {
		a = strings.ReplaceAll(a, "p="+podspec.HostMount+"$l", "p="+h.root+"$l")
		if rest, ok := strings.CutPrefix(a, podspec.HostMount); ok && (rest == "" || rest[0] == '/') {
			a = h.root + rest
		}
		args = append(args, a)
	}
	cmd := exec.CommandContext(ctx, bb, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = req.Terminal.In, req.Terminal.Out, req.Terminal.ErrOut
	var ee *exec.ExitError
	if err := cmd.Run(); errors.As(err, &ee) {
		return ee.ExitCode(), nil
	} else if err != nil {
		return 0, err
	}
	return 0, nil
}

// cpFleet runs the fleet's cp on nodes, each node's / a directory under roots, with the
// arguments as the command line has them after Complete.
func cpFleet(t *testing.T, roots string, src, dest string, nodes ...string) []fleet.Result {
	t.Helper()
	streams, _, _, _ := genericiooptions.NewTestIOStreams()
	o := &CpOptions{NodeShellOptions: NewNodeShellOptions(streams), Src: src, Dest: dest}
	if strings.HasPrefix(src, ":") {
		o.nodePath, o.localPath = src[1:], dest
	} else {
		o.upload, o.nodePath, o.localPath = true, dest[1:], src
	}
	start := func(_ context.Context, node string, _ session.Reporter) (fleet.Handle, error) {
		root := filepath.Join(roots, node)
		if _, err := os.Stat(root); err != nil {
			return nil, errors.New("the pod did not start")
		}
		return &busyboxHandle{t: t, node: node, root: root}, nil
	}
	var ns []fleet.Node
	for _, n := range nodes {
		ns = append(ns, fleet.Node{Name: n})
	}
	return fleet.Run(context.Background(), &fleet.Options{Nodes: ns, Parallel: 2, Start: start, Action: o.copyOnNode,
		Output: &fleet.Output{Out: io.Discard, ErrOut: io.Discard}})
}

// From the nodes, each node's copy lands in DEST/NODE/, verified; a node without the
// file and a node whose session never started fail alone, and leave no directory behind.
func TestCpFleetGathersIntoNodeDirectories(t *testing.T) {
	roots, dest := t.TempDir(), filepath.Join(t.TempDir(), "logs")
	if err := os.Mkdir(dest, 0o755); err != nil {
		t.Fatal(err)
	}
	content := map[string][]byte{"node-a": bytes.Repeat([]byte("a\x00"), 70_000), "node-c": []byte("node c's log\n")}
	for _, n := range []string{"node-a", "node-b", "node-c"} {
		if err := os.MkdirAll(filepath.Join(roots, n, "var", "log"), 0o755); err != nil {
			t.Fatal(err)
		}
		if data, ok := content[n]; ok {
			if err := os.WriteFile(filepath.Join(roots, n, "var", "log", "x"), data, 0o640); err != nil {
				t.Fatal(err)
			}
		}
	}
	results := cpFleet(t, roots, ":/var/log/x", dest, "node-a", "node-b", "node-c", "node-d")
	for _, r := range results {
		switch r.Node {
		case "node-a", "node-c":
			got, err := os.ReadFile(filepath.Join(dest, r.Node, "x"))
			if r.Outcome != fleet.Exited || err != nil || !bytes.Equal(got, content[r.Node]) {
				t.Errorf("node %s: %s %q, read %d bytes (%v); want exited with its own %d bytes", r.Node, r.Outcome, r.Error, len(got), err, len(content[r.Node]))
			}
			if fi, err := os.Stat(filepath.Join(dest, r.Node, "x")); err != nil || fi.Mode().Perm() != 0o640 {
				t.Errorf("node %s: copy's mode %v (%v), want 0640", r.Node, fi.Mode(), err)
			}
		case "node-b", "node-d":
			want := map[string]string{"node-b": "/var/log/x: no such file or directory on the node", "node-d": "the pod did not start"}[r.Node]
			if r.Outcome != fleet.Failed || r.Error != want {
				t.Errorf("node %s: %s %q, want failed %q", r.Node, r.Outcome, r.Error, want)
			}
			if _, err := os.Stat(filepath.Join(dest, r.Node)); !os.IsNotExist(err) {
				t.Errorf("node %s failed but left %s (%v)", r.Node, filepath.Join(dest, r.Node), err)
			}
		}
	}
	if s := fleet.ExitStatus(results); s != fleet.ExitFailure {
		t.Errorf("status %d, want %d", s, fleet.ExitFailure)
	}
	entries, _ := os.ReadDir(dest)
	if len(entries) != 2 {
		t.Errorf("DEST holds %d entries, want node-a and node-c only: %v", len(entries), entries)
	}
}

// To the nodes, every node gets SRC at PATH, each transfer verified on its own.
func TestCpFleetUploadsToEveryNode(t *testing.T) {
	roots, src := t.TempDir(), filepath.Join(t.TempDir(), "tool")
	data := bytes.Repeat([]byte("\x7fELF tool\n"), 30_000)
	if err := os.WriteFile(src, data, 0o755); err != nil {
		t.Fatal(err)
	}
	nodes := []string{"node-a", "node-b", "node-c"}
	for _, n := range nodes {
		if err := os.MkdirAll(filepath.Join(roots, n, "usr", "local", "bin"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	results := cpFleet(t, roots, src, ":/usr/local/bin/", nodes...)
	if s := fleet.ExitStatus(results); s != 0 {
		t.Errorf("status %d, want 0; results %+v", s, results)
	}
	for _, n := range nodes {
		got, err := os.ReadFile(filepath.Join(roots, n, "usr", "local", "bin", "tool"))
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("node %s has %d bytes (%v), want the %d of %s", n, len(got), err, len(data), src)
		}
	}
}
