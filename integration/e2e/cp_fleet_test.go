package e2e

import (
	"bytes"
	"crypto/rand"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// TestCpFleet: `cp -l SELECTOR :PATH DEST` gathers each labelled node's copy, verified,
// into DEST/NODE/ and nothing for the node left out; every session pod ran on the node it
// copied for. The nodes share this machine's filesystem, so their copies cannot differ:
// what tells them apart is the pods. A path missing on the nodes fails every node alone,
// with its cause in the summary, exit 255 and no DEST/NODE left; an upload with -l puts the
// file on each node, verified.
func TestCpFleet(t *testing.T) {
	e := newE2E(t)
	all := e.Nodes()
	picked := []string{all[0], all[2]}
	key := "kubectl-node-shell.io/e2e-cp-fleet"
	e.labelNodes(key, e.namespace, picked...)
	selector := key + "=" + e.namespace
	nodeDir, dest := t.TempDir(), filepath.Join(t.TempDir(), "logs")
	data := make([]byte, 1<<20+13)
	rand.Read(data)
	src := filepath.Join(nodeDir, "x.log")
	if err := os.WriteFile(src, data, 0o640); err != nil {
		t.Fatal(err)
	}

	r := e.NodeShell("cp", "-l", selector, ":"+src, dest+"/").Run()
	if r.Status != 0 || len(r.Stdout) != 0 {
		t.Fatalf("status %d, stdout %q; want 0 and nothing; stderr:\n%s", r.Status, r.Stdout, r.Stderr)
	}
	assertOnePodPerNode(t, r.Sessions, picked)
	var gathered []string
	entries, err := os.ReadDir(dest)
	if err != nil {
		t.Fatalf("DEST: %v", err)
	}
	for _, d := range entries {
		gathered = append(gathered, d.Name())
		got, err := os.ReadFile(filepath.Join(dest, d.Name(), "x.log"))
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("%s/%s/x.log: %d bytes (%v), want the node's %d byte for byte", dest, d.Name(), len(got), err, len(data))
		}
		if fi, err := os.Stat(filepath.Join(dest, d.Name(), "x.log")); err == nil && fi.Mode().Perm() != 0o640 {
			t.Errorf("%s/%s/x.log has mode %v, want 0640", dest, d.Name(), fi.Mode().Perm())
		}
	}
	sort.Strings(gathered)
	if strings.Join(gathered, ",") != strings.Join(picked, ",") {
		t.Errorf("DEST holds %v, want exactly the labelled nodes %v", gathered, picked)
	}
	summary := parseSummary(t, r.Stderr)
	for _, n := range picked {
		if s, ok := summary[n]; !ok || s.status != "0" || s.cause != "" {
			t.Errorf("summary for node %s: %+v, want status 0 and no cause", n, s)
		}
	}
	if len(summary) != len(picked) {
		t.Errorf("summary %+v, want the labelled nodes only", summary)
	}

	missing := filepath.Join(nodeDir, "missing")
	empty := filepath.Join(t.TempDir(), "empty")
	r = e.NodeShell("cp", "-l", selector, ":"+missing, empty).Run()
	assertOnePodPerNode(t, r.Sessions, picked)
	if r.Status != 255 {
		t.Errorf("status %d, want 255: no node's copy was verified; stderr:\n%s", r.Status, r.Stderr)
	}
	summary = parseSummary(t, r.Stderr)
	for _, n := range picked {
		if s := summary[n]; s.status != "failed" || s.cause != missing+": no such file or directory on the node" {
			t.Errorf("summary for node %s: %+v, want failed with the missing path as the cause", n, s)
		}
	}
	if left, _ := os.ReadDir(empty); len(left) != 0 {
		t.Errorf("failed nodes left %v in %s", left, empty)
	}

	up := filepath.Join(nodeDir, "up")
	if err := os.Mkdir(up, 0o755); err != nil {
		t.Fatal(err)
	}
	// One node at a time: both nodes' / is this machine's, so both write the same file.
	r = e.NodeShell("cp", "-l", selector, "--parallel", "1", src, ":"+up+"/").Run()
	if r.Status != 0 {
		t.Errorf("upload: status %d, want 0; stderr:\n%s", r.Status, r.Stderr)
	}
	assertOnePodPerNode(t, r.Sessions, picked)
	if got, err := os.ReadFile(filepath.Join(up, "x.log")); err != nil || !bytes.Equal(got, data) {
		t.Errorf("uploaded file: %d bytes (%v), want %d byte for byte", len(got), err, len(data))
	}
}
