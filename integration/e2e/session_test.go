package e2e

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// TestExitStatusPassesThrough: the remote command's status is the plugin's, exactly.
func TestExitStatusPassesThrough(t *testing.T) {
	e := newE2E(t)
	tests := []struct {
		args   []string
		status int
	}{
		{[]string{"true"}, 0},
		{[]string{"false"}, 1},
		{[]string{"sh", "-c", "exit 7"}, 7},
		{[]string{"/no/such/command"}, 127},
	}
	for i, tc := range tests {
		node := e.Nodes()[i%len(e.Nodes())]
		r := e.NodeShell(append([]string{node, "--"}, tc.args...)...).Run()
		if r.Status != tc.status {
			t.Errorf("%v on %s: status %d, want %d; stderr: %s", tc.args, node, r.Status, tc.status, r.Stderr)
		}
		r.AssertOnNode(t, node)
	}
}

// TestStdinIsBinarySafeAndStreamsAreSeparate: 8 MiB of random bytes go through stdin and
// come back on stdout byte for byte; stderr stays on stderr; stdout carries nothing else.
func TestStdinIsBinarySafeAndStreamsAreSeparate(t *testing.T) {
	e := newE2E(t)
	payload := make([]byte, 8<<20)
	if _, err := rand.Read(payload); err != nil {
		t.Fatal(err)
	}
	r := e.NodeShell(e.Nodes()[1], "--", "cat").WithStdin(bytes.NewReader(payload)).RunOK()
	r.AssertOnNode(t, e.Nodes()[1])
	if got, want := sha256.Sum256(r.Stdout), sha256.Sum256(payload); got != want {
		t.Errorf("stdout: %d bytes, sha256 %s; want %d bytes, sha256 %s",
			len(r.Stdout), hex.EncodeToString(got[:]), len(payload), hex.EncodeToString(want[:]))
	}

	r = e.NodeShell(e.Nodes()[0], "--", "sh", "-c", "echo to-stdout; echo to-stderr >&2; exit 3").Run()
	r.AssertOnNode(t, e.Nodes()[0])
	if r.Status != 3 || string(r.Stdout) != "to-stdout\n" || !strings.Contains(string(r.Stderr), "to-stderr") ||
		strings.Contains(string(r.Stderr), "to-stdout") {
		t.Errorf("status %d, stdout %q, stderr %q; want 3, exactly %q, and to-stderr on stderr only", r.Status, r.Stdout, r.Stderr, "to-stdout\n")
	}
}

// TestTarThroughStdin: the README's copy recipe, `tar c … | node-shell N -- tar x -C DIR`.
func TestTarThroughStdin(t *testing.T) {
	e := newE2E(t)
	dest := t.TempDir() // the nodes share this machine's filesystem: the host sees what the node sees
	var archive bytes.Buffer
	tw := tar.NewWriter(&archive)
	files := map[string]string{"a.txt": "alpha\n", "sub/b.bin": string([]byte{0, 1, 2, 255})}
	for name, body := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(body))
	}
	tw.Close()
	e.NodeShell(e.Nodes()[2], "--", "tar", "x", "-C", dest).WithStdin(&archive).RunOK().AssertOnNode(t, e.Nodes()[2])
	for name, body := range files {
		got, err := os.ReadFile(filepath.Join(dest, name))
		if err != nil || string(got) != body {
			t.Errorf("%s on the node: %q, %v; want %q", name, got, err, body)
		}
	}
}

// TestModesReachTheNode: chroot sees a file written on the host at its own path; container
// mode sees it under /host only; nsenter mode lands in the host's mount and PID namespaces.
func TestModesReachTheNode(t *testing.T) {
	e := newE2E(t)
	marker := filepath.Join(t.TempDir(), "marker")
	want := fmt.Sprintf("written by %s\n", t.Name())
	if err := os.WriteFile(marker, []byte(want), 0o644); err != nil {
		t.Fatal(err)
	}
	node := e.Nodes()[1]

	r := e.NodeShell(node, "--", "cat", marker).RunOK()
	r.AssertOnNode(t, node)
	if string(r.Stdout) != want {
		t.Errorf("chroot mode: cat %s = %q, want %q", marker, r.Stdout, want)
	}

	r = e.NodeShell("--mode", "container", node, "--", "sh", "-c", "cat /host"+marker+"; test ! -e "+marker).RunOK()
	r.AssertOnNode(t, node)
	if string(r.Stdout) != want {
		t.Errorf("container mode: /host%s = %q, want %q", marker, r.Stdout, want)
	}

	hostMnt, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil {
		t.Fatal(err)
	}
	hostPID, err := os.Readlink("/proc/self/ns/pid")
	if err != nil {
		t.Fatal(err)
	}
	hostInit, err := os.ReadFile("/proc/1/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	r = e.NodeShell("--nsenter", node, "--", "sh", "-c", "readlink /proc/self/ns/mnt; readlink /proc/self/ns/pid; cat /proc/1/cmdline; echo; cat "+marker).RunOK()
	r.AssertOnNode(t, node)
	got := strings.SplitN(string(r.Stdout), "\n", 4)
	wantLines := []string{hostMnt, hostPID, strings.TrimRight(string(hostInit), "\x00"), want}
	if len(got) != 4 || got[0] != wantLines[0] || got[1] != wantLines[1] || strings.TrimRight(got[2], "\x00") != wantLines[2] || got[3] != wantLines[3] {
		t.Errorf("nsenter mode saw %q, want the host's mount ns, pid ns, PID 1 and marker %q (stderr %q)", got, wantLines, r.Stderr)
	}
}

// TestTaintedAndCordonedNode: the pod tolerates every taint and bypasses the scheduler, so a
// node tainted NoSchedule+NoExecute and cordoned is still reachable.
func TestTaintedAndCordonedNode(t *testing.T) {
	e := newE2E(t)
	ctx := context.Background()
	node := e.Nodes()[len(e.Nodes())-1]
	patch := `{"spec":{"unschedulable":true,"taints":[` +
		`{"key":"e2e/broken","value":"x","effect":"NoSchedule"},{"key":"e2e/evict","effect":"NoExecute"}]}}`
	if _, err := e.client.CoreV1().Nodes().Patch(ctx, node, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		restore := `{"spec":{"unschedulable":null,"taints":null}}`
		if _, err := e.client.CoreV1().Nodes().Patch(context.Background(), node, types.MergePatchType, []byte(restore), metav1.PatchOptions{}); err != nil {
			t.Errorf("restore node %s: %v", node, err)
		}
	})
	n, err := e.client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !n.Spec.Unschedulable || !hasTaint(n, "e2e/evict", corev1.TaintEffectNoExecute) {
		t.Fatalf("node %s was not cordoned and tainted: %+v", node, n.Spec)
	}
	r := e.NodeShell(node, "--", "cat", "/proc/sys/kernel/hostname").RunOK()
	r.AssertOnNode(t, node)
	if host, _ := os.Hostname(); strings.TrimSpace(string(r.Stdout)) != host {
		t.Errorf("hostname on %s = %q, want %q", node, r.Stdout, host)
	}
}

func hasTaint(n *corev1.Node, key string, effect corev1.TaintEffect) bool {
	for _, taint := range n.Spec.Taints {
		if taint.Key == key && taint.Effect == effect {
			return true
		}
	}
	return false
}
