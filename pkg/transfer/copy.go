package transfer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// Exec runs argv in the session's container (container mode: the image's tools, the node
// at /host) and returns its exit status; err is the session's own failure.
type Exec func(ctx context.Context, argv []string, stdin io.Reader, stdout, stderr io.Writer) (int, error)

// Options are what a copy reports to the user.
type Options struct {
	// Progress is where the progress line is drawn; nil for none (a pipe, -q).
	Progress io.Writer
	// ErrOut receives the node's tar messages.
	ErrOut io.Writer
	// Warn receives warnings (skipped entries).
	Warn func(string)
}

// Result is a verified transfer: the bytes of its tar stream.
type Result struct{ Bytes int64 }

// probe resolves nodePath on the node.
func probe(ctx context.Context, exec Exec, nodePath string) (Probe, error) {
	var out, errOut bytes.Buffer
	status, err := exec(ctx, ResolveArgv(nodePath), nil, &out, &errOut)
	if err != nil {
		return Probe{}, err
	}
	if status != 0 {
		return Probe{}, fmt.Errorf("probing %s on the node failed (status %d): %s", nodePath, status, firstLine(errOut.String()))
	}
	return ParseProbe(out.String())
}

// Download copies nodePath (a file or a directory, recursively) to local, like
// `scp NODE:nodePath local`: into local when it is a directory, else as local.
func Download(ctx context.Context, exec Exec, nodePath, local string, o Options) (Result, error) {
	dir, as, err := LocalTarget(local)
	if err != nil {
		return Result{}, err
	}
	p, err := probe(ctx, exec, nodePath)
	if err != nil {
		return Result{}, err
	}
	switch p.Kind {
	case KindNone, KindNoParent:
		return Result{}, fmt.Errorf("%s: no such file or directory on the node", nodePath)
	}
	if as == "" {
		as = path.Base(nodePath)
	}
	if p.Kind == KindDir {
		if fi, err := os.Stat(filepath.Join(dir, as)); err == nil && !fi.IsDir() {
			return Result{}, fmt.Errorf("%s: not a directory, cannot copy directory %s into it", filepath.Join(dir, as), nodePath)
		}
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return Result{}, err
	}
	defer root.Close()

	digest := NewDigest()
	meter := NewMeter(o.Progress, nodePath, p.Size)
	defer meter.Stop()
	pr, pw := io.Pipe()
	extracted := make(chan error, 1)
	top := path.Base(p.Path)
	go func() {
		err := Extract(pr, root, top, as, o.Warn)
		if err == nil {
			_, err = io.Copy(io.Discard, pr) // the end-of-archive padding, still hashed
		}
		pr.CloseWithError(err)
		extracted <- err
	}()
	trailer := &TrailerWriter{Pass: o.ErrOut}
	status, err := exec(ctx, SendArgv(path.Dir(p.Path), top), nil, io.MultiWriter(digest, meter, pw), trailer)
	pw.Close()
	extractErr := <-extracted
	meter.Stop()
	var refused *RefusedError
	switch {
	case errors.As(extractErr, &refused):
		return Result{}, extractErr
	case err != nil:
		return Result{}, err
	case status != 0:
		return Result{}, fmt.Errorf("tar on the node failed with status %d while sending %s", status, nodePath)
	}
	// A stream cut short fails here first, then as a short tar.
	if err := digest.Verify(trailer.Trailer()); err != nil {
		return Result{}, err
	}
	if extractErr != nil {
		return Result{}, extractErr
	}
	return Result{Bytes: digest.n}, nil
}

// Upload copies local (a file or a directory, recursively) to nodePath, like
// `scp local NODE:nodePath`: into nodePath when it is a directory, else as nodePath.
func Upload(ctx context.Context, exec Exec, local, nodePath string, o Options) (Result, error) {
	fi, err := os.Lstat(local)
	if err != nil {
		return Result{}, pathError(err)
	}
	p, err := probe(ctx, exec, nodePath)
	if err != nil {
		return Result{}, err
	}
	dir, as := p.Path, filepath.Base(filepath.Clean(local))
	switch {
	case p.Kind == KindDir:
	case p.Kind == KindNoParent:
		return Result{}, fmt.Errorf("%s: no such directory on the node", path.Dir(nodePath))
	case strings.HasSuffix(nodePath, "/"):
		return Result{}, fmt.Errorf("%s: no such directory on the node", nodePath)
	case p.Kind == KindFile && fi.IsDir():
		return Result{}, fmt.Errorf("%s: not a directory on the node, cannot copy directory %s into it", nodePath, local)
	default: // a new name, or a file replaced
		dir, as = path.Dir(p.Path), path.Base(p.Path)
	}
	size := int64(0)
	if fi.Mode().IsRegular() {
		size = fi.Size()
	} else if fi.IsDir() {
		size = treeSize(local)
	}
	meter := NewMeter(o.Progress, local, size)
	defer meter.Stop()
	n, err := receive(ctx, exec, dir, local, meter, o, func(w io.Writer) error { return Archive(w, local, as) })
	meter.Stop()
	if err != nil || !fi.IsDir() {
		return Result{Bytes: n}, err
	}
	// busybox tar makes symlinks whose target is absolute or has ".." last, after every
	// directory's mtime was set, so their directories' mtimes are set again afterwards.
	dirs, err := deferredLinkDirs(local, as)
	if err != nil || len(dirs) == 0 {
		return Result{Bytes: n}, err
	}
	m, err := receive(ctx, exec, dir, local, io.Discard, o, func(w io.Writer) error { return archiveDirs(w, dirs) })
	return Result{Bytes: n + m}, err
}

// receive streams the tar that write produces into dir on the node and verifies it; it
// returns the stream's verified size.
func receive(ctx context.Context, exec Exec, dir, local string, meter io.Writer, o Options, write func(io.Writer) error) (int64, error) {
	digest := NewDigest()
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(write(io.MultiWriter(pw, digest, meter)))
	}()
	trailer := &TrailerWriter{Pass: o.ErrOut}
	stderr := &TrailerWriter{Pass: o.ErrOut} // tar's messages; its trailer is on stdout
	status, err := exec(ctx, ReceiveArgv(dir), pr, trailer, stderr)
	pr.CloseWithError(io.ErrClosedPipe) // ends the archiver if the exec ended early
	switch {
	case err != nil:
		return 0, err
	case status != 0:
		return 0, fmt.Errorf("tar on the node failed with status %d while receiving %s", status, local)
	}
	if err := digest.Verify(trailer.Trailer()); err != nil {
		return 0, err
	}
	return digest.n, nil
}

// LocalTarget is the directory a download extracts into and the local name of what it
// gets ("" for the node's name): into local when it is a directory, else as local.
func LocalTarget(local string) (dir, as string, err error) {
	fi, err := os.Stat(local)
	switch {
	case err == nil && fi.IsDir():
		return local, "", nil
	case err == nil || errors.Is(err, fs.ErrNotExist):
		if strings.HasSuffix(local, string(filepath.Separator)) {
			return "", "", fmt.Errorf("%s: no such directory", local)
		}
		parent := filepath.Dir(local)
		if pfi, perr := os.Stat(parent); perr != nil || !pfi.IsDir() {
			return "", "", fmt.Errorf("%s: no such directory", parent)
		}
		return parent, filepath.Base(local), nil
	}
	return "", "", pathError(err)
}

func treeSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// pathError is "PATH: no such file or directory", without Go's "lstat" prefix.
func pathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %v", pe.Path, pe.Err)
	}
	return err
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}
