package e2e

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/kubectl-node-shell/kubectl-node-shell/integration/localcluster"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/podspec"
)

// withoutNamespaceNotice is stderr without the notice every session outside the dedicated
// namespace prints (namespace.go's sharedNamespaceNotice).
func withoutNamespaceNotice(stderr []byte) string {
	var keep []string
	for _, l := range strings.Split(strings.TrimSpace(string(stderr)), "\n") {
		if !strings.HasPrefix(l, "warning: anyone who may exec into") && l != "" {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

// nodeTree makes, on this machine (which every node's / is), a tree with binary files, a
// 0700 and a 0644 file, a 0700 directory, an empty directory and two symlinks: one
// inside the tree and one pointing outside it, which must stay a symlink.
func nodeTree(t *testing.T, dir string) {
	t.Helper()
	mtime := time.Date(2022, 2, 3, 4, 5, 6, 0, time.UTC)
	big := make([]byte, 3<<20+17)
	rand.Read(big)
	files := map[string]struct {
		data []byte
		mode os.FileMode
	}{
		"big.bin":            {big, 0o644},
		"bin/tool":           {append([]byte("\x7fELF\x00\x01\x02"), big[:4096]...), 0o700},
		"etc/config":         {[]byte("key = value\n"), 0o644},
		"private/key.pem":    {[]byte("-----BEGIN KEY-----\n"), 0o600},
		"name with spaces:x": {[]byte("odd names too\n"), 0o644},
	}
	for name, f := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, f.data, f.mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, f.mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	for _, l := range [][2]string{{"etc/config", "link-inside"}, {"../../../../../../etc/passwd", "link-outside"}} {
		if err := os.Symlink(l[0], filepath.Join(dir, l[1])); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dir, "private"), 0o700); err != nil {
		t.Fatal(err)
	}
	// Directories last, deepest first, each its own mtime: writing into one changes it.
	for i, d := range []string{"bin", "etc", "private", "empty", "."} {
		dirTime := mtime.Add(time.Duration(i+1) * time.Hour)
		if err := os.Chtimes(filepath.Join(dir, d), dirTime, dirTime); err != nil {
			t.Fatal(err)
		}
	}
}

// assertSameTree fails unless got has want's entries byte for byte with their modes,
// file and directory mtimes and symlink targets.
func assertSameTree(t *testing.T, want, got string) {
	t.Helper()
	n := 0
	err := filepath.Walk(want, func(p string, fw os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		n++
		rel, _ := filepath.Rel(want, p)
		fg, err := os.Lstat(filepath.Join(got, rel))
		if err != nil {
			t.Errorf("%s: missing from the copy", rel)
			return nil
		}
		if fw.Mode() != fg.Mode() {
			t.Errorf("%s: mode %v, want %v", rel, fg.Mode(), fw.Mode())
		}
		if fw.IsDir() && !fw.ModTime().Equal(fg.ModTime()) {
			t.Errorf("%s: directory mtime %v, want %v", rel, fg.ModTime(), fw.ModTime())
		}
		switch {
		case fw.Mode().IsRegular():
			a, _ := os.ReadFile(p)
			b, _ := os.ReadFile(filepath.Join(got, rel))
			if !bytes.Equal(a, b) {
				t.Errorf("%s: %d bytes differ from the original's %d", rel, len(b), len(a))
			}
			if !fw.ModTime().Equal(fg.ModTime()) {
				t.Errorf("%s: mtime %v, want %v", rel, fg.ModTime(), fw.ModTime())
			}
		case fw.Mode()&os.ModeSymlink != 0:
			a, _ := os.Readlink(p)
			b, _ := os.Readlink(filepath.Join(got, rel))
			if a != b {
				t.Errorf("%s: links to %q, want %q", rel, b, a)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 10 {
		t.Fatalf("compared only %d entries", n)
	}
}

// TestCpRoundTrip: a tree goes node → local → node byte for byte, with modes, mtimes and
// symlinks; a symlink that points outside the tree stays a symlink and nothing is written
// through it. Every session pod ran on the node asked for.
func TestCpRoundTrip(t *testing.T) {
	e := newE2E(t)
	node := e.Nodes()[1]
	nodeDir, local := t.TempDir(), t.TempDir()
	src := filepath.Join(nodeDir, "tree")
	nodeTree(t, src)

	r := e.NodeShell("cp", node+":"+src, filepath.Join(local, "copy")).RunOK()
	r.AssertOnNode(t, node)
	if len(r.Stdout) != 0 || withoutNamespaceNotice(r.Stderr) != "" {
		t.Errorf("cp printed on a pipe: stdout %q, stderr %q", r.Stdout, r.Stderr)
	}
	assertSameTree(t, src, filepath.Join(local, "copy"))

	back := filepath.Join(nodeDir, "back")
	if err := os.Mkdir(back, 0o755); err != nil {
		t.Fatal(err)
	}
	e.NodeShell("cp", filepath.Join(local, "copy"), node+":"+back+"/").RunOK().AssertOnNode(t, node)
	assertSameTree(t, src, filepath.Join(back, "copy"))
	// Owned by root on the node, as with scp as root, whoever ran node-shell.
	if fi, err := os.Stat(filepath.Join(back, "copy", "big.bin")); err != nil || fi.Sys().(*syscall.Stat_t).Uid != 0 {
		t.Errorf("uploaded file not owned by root: %v", err)
	}

	// One file into a directory, then under a new name, in both directions.
	e.NodeShell("cp", node+":"+filepath.Join(src, "etc", "config"), local+"/").RunOK().AssertOnNode(t, node)
	e.NodeShell("cp", filepath.Join(local, "config"), node+":"+filepath.Join(nodeDir, "renamed")).RunOK().AssertOnNode(t, node)
	if b, err := os.ReadFile(filepath.Join(nodeDir, "renamed")); err != nil || string(b) != "key = value\n" {
		t.Errorf("single file round trip: %q, %v", b, err)
	}
}

// hostileImage is busybox whose sh, found first on PATH, answers node-shell's send
// script with a crafted archive (and its true size and checksum): what a compromised node
// or image could send. The name of the tree the user asked for picks the archive. (A
// wrapper tar would not do: busybox sh runs its own applets before PATH.)
const hostileImage = "docker.io/library/node-shell-hostile-tar:1"

func pushHostileImage(t *testing.T, c *localcluster.Cluster, outside string) {
	t.Helper()
	archive := func(entries ...tar.Header) []byte {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for _, h := range entries {
			data := "written by a hostile node\n"
			if h.Typeflag != tar.TypeReg {
				data = ""
			}
			h.Size, h.Mode, h.ModTime = int64(len(data)), 0o644, time.Now()
			if err := tw.WriteHeader(&h); err != nil {
				t.Fatal(err)
			}
			tw.Write([]byte(data))
		}
		tw.Close()
		return buf.Bytes()
	}
	dir := func(name string) tar.Header { return tar.Header{Name: name, Typeflag: tar.TypeDir} }
	reg := func(name string) tar.Header { return tar.Header{Name: name, Typeflag: tar.TypeReg} }
	files := map[string][]byte{
		"/evil/dotdot.tar":   archive(dir("./dotdot/"), reg("./dotdot/ok"), reg("./dotdot/../../../../../../.."+outside+"/dotdot")),
		"/evil/absolute.tar": archive(dir("./absolute/"), reg(outside+"/absolute")),
		"/evil/symlink.tar": archive(dir("./symlink/"), tar.Header{Name: "./symlink/out", Typeflag: tar.TypeSymlink, Linkname: outside},
			reg("./symlink/out/symlink")),
		"/evil/hardlink.tar": archive(dir("./hardlink/"), tar.Header{Name: "./hardlink/h", Typeflag: tar.TypeLink, Linkname: "../../../../../../.." + outside + "/victim"}),
		// sh -c SCRIPT node-shell-send DIR NAME
		"/usr/local/bin/sh": []byte(`#!/bin/sh
[ "$3" = node-shell-send ] || exec /bin/sh "$@"
f=/evil/$5.tar
cat "$f"
printf 'node-shell-transfer %s %s\n' "$(wc -c <"$f")" "$(sha256sum "$f" | cut -d' ' -f1)" >&2
`),
	}
	if err := c.PushBusyboxImage(context.Background(), hostileImage, localcluster.ImageSpec{Files: files}); err != nil {
		t.Fatalf("push %s: %v", hostileImage, err)
	}
}

// TestCpRefusesEntriesOutsideTheDestination: the node's side of a download sends names
// with "..", absolute names, a symlink to a directory outside followed by an entry
// through it, and a hard link to a file outside. Each copy fails with 255 and one line,
// nothing is written outside the destination, and no pod is left.
func TestCpRefusesEntriesOutsideTheDestination(t *testing.T) {
	e := newE2E(t)
	node := e.Nodes()[2]
	base := t.TempDir()
	outside := filepath.Join(base, "outside")
	nodeDir := filepath.Join(base, "node")
	dest := filepath.Join(base, "a", "b", "c", "d", "dest")
	for _, d := range []string{outside, nodeDir, dest} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(outside, "victim"), []byte("original\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	pushHostileImage(t, e.cluster, outside)
	for _, attack := range []string{"dotdot", "absolute", "symlink", "hardlink"} {
		t.Run(attack, func(t *testing.T) {
			if err := os.Mkdir(filepath.Join(nodeDir, attack), 0o755); err != nil { // what the user asks for exists
				t.Fatal(err)
			}
			r := e.NodeShell("cp", "--image", hostileImage, node+":"+filepath.Join(nodeDir, attack), dest+"/").Run()
			r.AssertOnNode(t, node)
			stderr := withoutNamespaceNotice(r.Stderr)
			t.Logf("status %d, stderr: %s", r.Status, stderr)
			if r.Status != 255 || strings.Count(stderr, "\n") != 0 || !strings.Contains(stderr, "would write outside the destination") {
				t.Errorf("status %d, stderr %q; want 255 and one line refusing the entry", r.Status, stderr)
			}
			entries, _ := os.ReadDir(outside)
			if len(entries) != 1 {
				t.Errorf("%d entries outside the destination, want only the victim: %v", len(entries), entries)
			}
			if b, _ := os.ReadFile(filepath.Join(outside, "victim")); string(b) != "original\n" {
				t.Errorf("the file outside now says %q", b)
			}
			filepath.Walk(base, func(p string, fi os.FileInfo, err error) error {
				if err != nil || !fi.Mode().IsRegular() || strings.HasPrefix(p, dest+"/") {
					return nil
				}
				if b, _ := os.ReadFile(p); bytes.Contains(b, []byte("hostile")) {
					t.Errorf("written outside the destination: %s", p)
				}
				return nil
			})
			e.AssertNoNodeShellPods()
		})
	}
}

// TestCpBadInput: mistakes in the command line fail with 255 and a one-line reason (plus
// kubectl's "See --help" line for usage errors) before any pod exists; a node path that
// does not exist fails the same way once the pod has looked, and the pod is deleted.
func TestCpBadInput(t *testing.T) {
	e := newE2E(t)
	node := e.Nodes()[0]
	local := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"cp", "a", "b"}, "neither a nor b names a node: write one of them as NODE:PATH"},
		{[]string{"cp", node + ":/a", node + ":/b"}, "are on nodes: copy to this machine first"},
		{[]string{"cp", filepath.Join(local, "missing"), node + ":/tmp/"}, filepath.Join(local, "missing") + ": no such file or directory"},
		{[]string{"cp", node + ":var/log", local}, "the path on the node must be absolute"},
		{[]string{"cp", node + ":/", local}, "is the node's whole filesystem"},
		{[]string{"cp", node + ":/etc/hostname", filepath.Join(local, "no", "such")}, filepath.Join(local, "no") + ": no such directory"},
		{[]string{"cp", "Bad_Node:/etc/hostname", local}, `"Bad_Node" is not a valid node name`},
		{[]string{"cp", node + ":/etc/hostname"}, "cp takes SRC and DEST"},
	} {
		r := e.NodeShell(tc.args...).Run()
		first, _, _ := strings.Cut(string(r.Stderr), "\n")
		if r.Status != 255 || !strings.Contains(first, tc.want) || strings.Count(strings.TrimSpace(string(r.Stderr)), "\n") > 1 {
			t.Errorf("%v: status %d, stderr %q; want 255 and %q", tc.args, r.Status, r.Stderr, tc.want)
		}
		r.AssertNoSession(t)
	}

	r := e.NodeShell("cp", node+":/no/such/file", local).Run()
	if stderr := withoutNamespaceNotice(r.Stderr); r.Status != 255 || stderr != "error: cp "+node+":/no/such/file "+local+": /no/such/file: no such file or directory on the node" {
		t.Errorf("missing node file: status %d, stderr %q", r.Status, stderr)
	}
	r.AssertOnNode(t, node)
}

// TestCpWorksWithoutTheNodesTar: the shell, tar and sha256sum that run are the session
// image's, in the container, never the node's (a node may have no tar at all): an image
// whose sh announces itself on stderr (which node-shell passes on for the transfer's
// exec) shows that both directions ran there, as busybox applets, and the session pod is
// in container mode.
func TestCpWorksWithoutTheNodesTar(t *testing.T) {
	e := newE2E(t)
	node := e.Nodes()[0]
	const image = "docker.io/library/node-shell-announcing-sh:1"
	err := e.cluster.PushBusyboxImage(context.Background(), image, localcluster.ImageSpec{Files: map[string][]byte{
		"/usr/local/bin/sh": []byte("#!/bin/sh\necho \"sh of the session image: $3\" >&2\nexec /bin/sh \"$@\"\n"),
	}})
	if err != nil {
		t.Fatal(err)
	}
	seen := e.watchFirst(func(p *corev1.Pod) bool { return true })
	nodeDir, local := t.TempDir(), t.TempDir()
	nodeTree(t, filepath.Join(nodeDir, "tree"))
	down := e.NodeShell("cp", "--image", image, node+":"+filepath.Join(nodeDir, "tree"), local).RunOK()
	up := e.NodeShell("cp", "--image", image, filepath.Join(local, "tree"), node+":"+filepath.Join(nodeDir, "again")).RunOK()
	down.AssertOnNode(t, node)
	up.AssertOnNode(t, node)
	for what, want := range map[string][]string{
		string(down.Stderr): {"sh of the session image: node-shell-send"},
		string(up.Stderr):   {"sh of the session image: node-shell-receive"},
	} {
		for _, w := range want {
			if !strings.Contains(what, w) {
				t.Errorf("stderr %q does not show %q", what, w)
			}
		}
	}
	assertSameTree(t, filepath.Join(nodeDir, "tree"), filepath.Join(nodeDir, "again"))
	pod := (<-seen).pod
	if mode := pod.Annotations[podspec.AnnotationMode]; mode != string(podspec.ModeContainer) || pod.Spec.NodeName != node {
		t.Errorf("session pod in mode %q on %q, want container mode on %s", mode, pod.Spec.NodeName, node)
	}
}

// TestCutStreamIsNeverSuccess: the apiserver is killed in the middle of a download and in
// the middle of a one-shot command's output. Both end non-zero (255) with one line of
// error after the notice about the delete, never 0 with a short file; the pods are
// deleted once the apiserver is back.
func TestCutStreamIsNeverSuccess(t *testing.T) {
	e := newE2E(t)
	node := e.Nodes()[1]
	nodeDir, local := t.TempDir(), t.TempDir()
	big := filepath.Join(nodeDir, "big")
	// Sparse on this machine, 8 GiB in the stream: it cannot end before the cut.
	if err := os.Truncate(createEmpty(t, big), 8<<30); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Later tests need kubelets that watch pods again; their reflectors back off.
		_ = e.cluster.StartAPIServer(context.Background())
		e.waitKubeletsServe(2 * time.Minute)
	})
	for _, tc := range []struct {
		name   string
		args   []string
		stdout string // the file the output lands in
	}{
		{"cp", []string{"cp", node + ":" + big, local}, filepath.Join(local, "big")},
		{"exec", []string{node, "--", "cat", big}, filepath.Join(local, "exec-stdout")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := os.Create(filepath.Join(local, "exec-stdout"))
			if err != nil {
				t.Fatal(err)
			}
			defer out.Close()
			inv := e.NodeShell(tc.args...)
			b := &Background{t: t, cmd: inv.Command(), exited: make(chan struct{})}
			b.cmd.Stdout, b.cmd.Stderr = out, &b.stderr
			b.sessions = e.WatchSessionPods()
			if err := b.cmd.Start(); err != nil {
				t.Fatal(err)
			}
			go func() {
				err := b.cmd.Wait()
				if ee, ok := err.(interface{ ExitCode() int }); ok {
					b.status = ee.ExitCode()
				}
				close(b.exited)
			}()
			t.Cleanup(func() { _ = b.cmd.Process.Kill() })
			waitFileSize(t, tc.stdout, 64<<20, 60*time.Second)
			b.AssertOnNode(t, node) // before the cut: the watch ends with the apiserver
			if err := e.cluster.StopAPIServer(context.Background()); err != nil {
				t.Fatalf("stop apiserver: %v", err)
			}
			cutAt := fileSize(tc.stdout)
			time.Sleep(2 * time.Second) // the stream breaks; node-shell retries its delete
			if err := e.cluster.StartAPIServer(context.Background()); err != nil {
				t.Fatalf("start apiserver: %v", err)
			}
			status := b.Wait(90 * time.Second)
			stderr := withoutNamespaceNotice([]byte(b.stderr.String()))
			lines := strings.Split(stderr, "\n")
			t.Logf("cut at %d MiB: status %d, %d MiB arrived; stderr:\n%s", cutAt>>20, status, fileSize(tc.stdout)>>20, stderr)
			if status != 255 {
				t.Errorf("status %d after a cut stream, want 255", status)
			}
			if last := lines[len(lines)-1]; len(lines) > 2 || !strings.HasPrefix(last, "error: ") {
				t.Errorf("stderr is not a notice and one error line: %q", stderr)
			}
			e.AssertNoNodeShellPods()
		})
	}
}

func createEmpty(t *testing.T, p string) string {
	t.Helper()
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	return p
}

func fileSize(p string) int64 {
	fi, err := os.Stat(p)
	if err != nil {
		return 0
	}
	return fi.Size()
}

func waitFileSize(t *testing.T, p string, size int64, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for fileSize(p) < size {
		if time.Now().After(deadline) {
			t.Fatalf("%s has %d bytes after %v, want %d", p, fileSize(p), timeout, size)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestCpProgressOnlyOnATerminal: on a terminal stderr, a large copy draws its progress line
// (bytes, total, rate, ETA); with -q it draws none (on a pipe, TestCpRoundTrip checks).
func TestCpProgressOnlyOnATerminal(t *testing.T) {
	e := newE2E(t)
	node := e.Nodes()[0]
	nodeDir, local := t.TempDir(), t.TempDir()
	big := filepath.Join(nodeDir, "big")
	if err := os.Truncate(createEmpty(t, big), 1<<30); err != nil {
		t.Fatal(err)
	}
	term := e.NodeShell("cp", node+":"+big, filepath.Join(local, "a")).StartTerminal(24, 120)
	term.Expect(" / 1.0 GiB (", 60*time.Second)
	term.Expect("MiB/s  ETA ", 30*time.Second)
	if status := term.Wait(5 * time.Minute); status != 0 {
		t.Fatalf("status %d; output %q", status, term.Output())
	}
	quiet := e.NodeShell("cp", "-q", node+":"+big, filepath.Join(local, "b")).StartTerminal(24, 120)
	if status := quiet.Wait(5 * time.Minute); status != 0 || strings.Contains(quiet.Output(), "MiB/s") {
		t.Errorf("-q: status %d, output %q; want 0 and no progress", status, quiet.Output())
	}
	if fileSize(filepath.Join(local, "b")) != 1<<30 {
		t.Errorf("the copy has %d bytes", fileSize(filepath.Join(local, "b")))
	}
}
