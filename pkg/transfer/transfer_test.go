package transfer

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/podspec"
)

// busyboxExec runs the scripts with this machine's busybox, the node's / being nodeRoot:
// the same shell and applets as the session image, on a tree the test controls.
func busyboxExec(t *testing.T, nodeRoot string) Exec {
	t.Helper()
	bb, err := exec.LookPath("busybox")
	if err != nil {
		t.Fatalf("these tests run the transfer scripts with busybox, as the session image does: %v", err)
	}
	return func(ctx context.Context, argv []string, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
		args := []string{"sh"}
		for i, a := range argv[1:] {
			if i == 1 { // the script: absolute symlink targets are the node's
				a = strings.ReplaceAll(a, "p="+podspec.HostMount+"$l", "p="+nodeRoot+"$l")
			}
			if rest, ok := strings.CutPrefix(a, podspec.HostMount); ok && (rest == "" || rest[0] == '/') {
				a = nodeRoot + rest
			}
			args = append(args, a)
		}
		cmd := exec.CommandContext(ctx, bb, args...)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
		err := cmd.Run()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode(), nil
		}
		return 0, err
	}
}

func write(t *testing.T, p string, data []byte, mode os.FileMode, mtime time.Time) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}

// tree makes a directory with a binary file, a 0700 file, a symlink and an empty dir.
func tree(t *testing.T, dir string) {
	bin := make([]byte, 300_000)
	for i := range bin {
		bin[i] = byte(i * 7)
	}
	mtime := time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC)
	write(t, filepath.Join(dir, "bin.dat"), bin, 0o644, mtime)
	write(t, filepath.Join(dir, "sub", "secret"), []byte("s3cret\n"), 0o700, mtime)
	if err := os.Mkdir(filepath.Join(dir, "empty"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("sub/secret", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	// Links busybox tar makes only after the whole archive: they change their directories' mtimes.
	for target, name := range map[string]string{"../bin.dat": "sub/up", "/nonexistent/abs": "abs"} {
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	// Directories last, deepest first, each its own mtime: writing into one changes it.
	for i, d := range []string{"sub", "empty", "."} {
		dirTime := time.Date(2020, 1, 2+i, 3, 4, 5, 0, time.UTC)
		if err := os.Chtimes(filepath.Join(dir, d), dirTime, dirTime); err != nil {
			t.Fatal(err)
		}
	}
}

// sameTree fails unless b has a's files byte for byte, with a's modes, mtimes and links.
func sameTree(t *testing.T, a, b string) {
	t.Helper()
	err := filepath.Walk(a, func(p string, fa os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(a, p)
		fb, err := os.Lstat(filepath.Join(b, rel))
		if err != nil {
			t.Errorf("%s: missing in the copy: %v", rel, err)
			return nil
		}
		if fa.Mode() != fb.Mode() {
			t.Errorf("%s: mode %v, want %v", rel, fb.Mode(), fa.Mode())
		}
		if !fa.Mode().IsRegular() && fa.Mode()&os.ModeSymlink == 0 && !fa.ModTime().Equal(fb.ModTime()) {
			t.Errorf("%s: directory mtime %v, want %v", rel, fb.ModTime(), fa.ModTime())
		}
		switch {
		case fa.Mode().IsRegular():
			da, _ := os.ReadFile(p)
			db, _ := os.ReadFile(filepath.Join(b, rel))
			if !bytes.Equal(da, db) {
				t.Errorf("%s: content differs", rel)
			}
			if !fa.ModTime().Equal(fb.ModTime()) {
				t.Errorf("%s: mtime %v, want %v", rel, fb.ModTime(), fa.ModTime())
			}
		case fa.Mode()&os.ModeSymlink != 0:
			la, _ := os.Readlink(p)
			lb, _ := os.Readlink(filepath.Join(b, rel))
			if la != lb {
				t.Errorf("%s: link to %q, want %q", rel, lb, la)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestRoundTripThroughBusybox(t *testing.T) {
	node, local := t.TempDir(), t.TempDir()
	tree(t, filepath.Join(node, "var", "data"))
	run := busyboxExec(t, node)
	ctx := context.Background()

	got, err := Download(ctx, run, "/var/data", filepath.Join(local, "copy"), Options{Warn: func(string) {}})
	if err != nil {
		t.Fatalf("Download: %v", err)
	}
	if got.Bytes < 300_000 {
		t.Errorf("Download moved %d bytes, want the whole tree", got.Bytes)
	}
	sameTree(t, filepath.Join(node, "var", "data"), filepath.Join(local, "copy"))

	if err := os.Mkdir(filepath.Join(node, "back"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Upload(ctx, run, filepath.Join(local, "copy"), "/back/", Options{}); err != nil {
		t.Fatalf("Upload: %v", err)
	}
	sameTree(t, filepath.Join(local, "copy"), filepath.Join(node, "back", "copy"))

	// A single file into an existing directory, and a missing source.
	if _, err := Download(ctx, run, "/var/data/bin.dat", local, Options{}); err != nil {
		t.Fatalf("Download of one file: %v", err)
	}
	if _, err := Download(ctx, run, "/nope", local, Options{}); err == nil || err.Error() != "/nope: no such file or directory on the node" {
		t.Errorf("Download of a missing file: %v", err)
	}
}

// A stream cut short (or altered) is never reported as a success.
func TestDownloadVerifiesTheStream(t *testing.T) {
	node := t.TempDir()
	tree(t, filepath.Join(node, "d"))
	real := busyboxExec(t, node)
	want := map[string]string{"cut": "the transfer was cut short", "flipped": "checksum mismatch"}
	for name, tamper := range map[string]func(io.Writer) io.Writer{
		"cut": func(w io.Writer) io.Writer { return &cutWriter{w: w, left: 100_000} },
		"flipped": func(w io.Writer) io.Writer {
			return writerFunc(func(p []byte) (int, error) {
				// One byte of a file's content: the tar stays well-formed.
				if _, err := w.Write(bytes.ReplaceAll(p, []byte("s3cret"), []byte("S3cret"))); err != nil {
					return 0, err
				}
				return len(p), nil
			})
		},
	} {
		t.Run(name, func(t *testing.T) {
			run := func(ctx context.Context, argv []string, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
				if argv[3] == "node-shell-send" {
					stdout = tamper(stdout)
				}
				return real(ctx, argv, stdin, stdout, stderr)
			}
			_, err := Download(context.Background(), run, "/d", t.TempDir(), Options{})
			if err == nil || !strings.Contains(err.Error(), want[name]) {
				t.Fatalf("Download = %v, want an error saying %q", err, want[name])
			}
		})
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// cutWriter passes on the first left bytes and silently drops the rest, as a stream that
// ends early with success would.
type cutWriter struct {
	w    io.Writer
	left int
}

func (c *cutWriter) Write(p []byte) (int, error) {
	n := min(len(p), c.left)
	c.left -= n
	if n > 0 {
		if _, err := c.w.Write(p[:n]); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

func TestMissingTrailerIsACutStream(t *testing.T) {
	d := NewDigest()
	d.Write([]byte("abc"))
	if err := d.Verify(nil); err == nil || !strings.Contains(err.Error(), "cut short") {
		t.Errorf("Verify(nil) = %v, want a cut-short error", err)
	}
	w := &TrailerWriter{Pass: io.Discard}
	io.WriteString(w, "tar: something\nnode-shell-transfer 3 ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\n")
	if err := d.Verify(w.Trailer()); err != nil {
		t.Errorf("Verify of the right trailer: %v", err)
	}
}

type entry struct {
	hdr  tar.Header
	data string
}

func hostileTar(t *testing.T, entries ...entry) *bytes.Buffer {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := e.hdr
		h.Size = int64(len(e.data))
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		io.WriteString(tw, e.data)
	}
	tw.Close()
	return &buf
}

// The guard: no entry of the node's stream writes outside the destination.
func TestExtractRefusesEscapes(t *testing.T) {
	reg := func(name string) entry { return entry{tar.Header{Name: name, Typeflag: tar.TypeReg}, "pwned"} }
	dir := func(name string) entry { return entry{tar.Header{Name: name, Typeflag: tar.TypeDir, Mode: 0o755}, ""} }
	cases := map[string][]entry{
		"dot-dot":             {dir("./top/"), reg("./top/../../x")},
		"dot-dot top":         {reg("../x")},
		"absolute":            {reg("/tmp/x")},
		"other top":           {reg("./other/x")},
		"top prefix":          {reg("./topx")},
		"through a symlink":   {dir("./top/"), {tar.Header{Name: "./top/l", Typeflag: tar.TypeSymlink, Linkname: "../../outside"}, ""}, reg("./top/l/x")},
		"absolute symlink":    {dir("./top/"), {tar.Header{Name: "./top/l", Typeflag: tar.TypeSymlink, Linkname: "OUTSIDE"}, ""}, reg("./top/l/x")},
		"hard link outside":   {dir("./top/"), {tar.Header{Name: "./top/h", Typeflag: tar.TypeLink, Linkname: "../../outside/victim"}, ""}},
		"hard link via slink": {dir("./top/"), {tar.Header{Name: "./top/l", Typeflag: tar.TypeSymlink, Linkname: "OUTSIDE"}, ""}, {tar.Header{Name: "./top/h", Typeflag: tar.TypeLink, Linkname: "./top/l/victim"}, ""}},
	}
	for name, entries := range cases {
		t.Run(name, func(t *testing.T) {
			base := t.TempDir()
			outside := filepath.Join(base, "outside")
			dest := filepath.Join(base, "a", "dest")
			for _, d := range []string{outside, dest} {
				if err := os.MkdirAll(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			write(t, filepath.Join(outside, "victim"), []byte("original"), 0o644, time.Now())
			for i := range entries {
				entries[i].hdr.Linkname = strings.ReplaceAll(entries[i].hdr.Linkname, "OUTSIDE", outside)
			}
			root, err := os.OpenRoot(dest)
			if err != nil {
				t.Fatal(err)
			}
			defer root.Close()
			err = Extract(hostileTar(t, entries...), root, "top", "top", func(string) {})
			var refused *RefusedError
			if !errors.As(err, &refused) {
				t.Errorf("Extract = %v, want a RefusedError", err)
			}
			filepath.Walk(base, func(p string, fi os.FileInfo, err error) error {
				if err == nil && fi.Mode().IsRegular() && p != filepath.Join(outside, "victim") {
					t.Errorf("%s was written", p)
				}
				return nil
			})
			if b, _ := os.ReadFile(filepath.Join(outside, "victim")); string(b) != "original" {
				t.Errorf("the file outside was changed to %q", b)
			}
		})
	}
}

func TestParseProbe(t *testing.T) {
	p, err := ParseProbe("probe dir 4096\n/host/var/log\n")
	if err != nil || p != (Probe{Kind: KindDir, Size: 4096, Path: "/host/var/log"}) {
		t.Errorf("ParseProbe = %+v, %v", p, err)
	}
	for _, bad := range []string{"", "probe dir\n/x", "probe weird 1\n/x", "probe dir 1"} {
		if _, err := ParseProbe(bad); err == nil {
			t.Errorf("ParseProbe(%q) accepted", bad)
		}
	}
}

func TestMeterLine(t *testing.T) {
	m := &Meter{label: "/var/log/syslog", total: 40 << 20}
	m.done.Store(10 << 20)
	if got, want := m.line(2*time.Second), "/var/log/syslog  10.0 MiB / 40.0 MiB (25%)  5.0 MiB/s  ETA 6s"; got != want {
		t.Errorf("line = %q, want %q", got, want)
	}
}

// The far side's count: whole 512-byte blocks are counted exactly, anything else (a cut
// stream) is -1, never a plausible size.
func TestFarSideCount(t *testing.T) {
	bb, err := exec.LookPath("busybox")
	if err != nil {
		t.Fatalf("this test runs the scripts with busybox, as the session image does: %v", err)
	}
	for _, n := range []int{0, 512, 10 * 512, 3<<20 + 512, 1000, 3<<20 + 1} {
		script := hashPrelude + `head -c ` + strconv.Itoa(n) + ` /dev/zero | tee "$t/sum" "$t/size" >/dev/null
` + strings.Replace(hashReport, "FD", "1", 1)
		out, err := exec.Command(bb, "sh", "-c", script).Output()
		if err != nil {
			t.Fatalf("%d bytes: %v", n, err)
		}
		w := &TrailerWriter{}
		w.Write(out)
		tr := w.Trailer()
		d := NewDigest()
		d.Write(make([]byte, n))
		if n%512 == 0 {
			if err := d.Verify(tr); err != nil {
				t.Errorf("%d bytes: %v (trailer %q)", n, err, out)
			}
		} else if tr == nil || tr.Size != -1 || d.Verify(tr) == nil || !strings.Contains(d.Verify(tr).Error(), "cut short") {
			t.Errorf("%d bytes, not whole blocks: trailer %q, Verify %v; want size -1 and a cut-short error", n, out, d.Verify(tr))
		}
	}
}
