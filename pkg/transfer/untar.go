package transfer

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"
)

// Extract writes the tar stream from the node into root, the local destination
// directory. The stream's top entry is top (the node's name of what was asked for); it is
// written as as (the local name), and every entry must lie under it: anything else is
// refused and ends the transfer. This is the guard against a hostile node (or image):
// kubectl cp's CVE-2019-1002101 and CVE-2019-11246 came from names with "..", absolute
// names and symlinks that later entries were written through. Here, beyond checking each
// name, every file operation goes through os.Root, which the kernel-level lookups keep
// inside root: a symlink that points outside (kept as a symlink, as tar does) cannot be
// written through, nor can a hard link name a file outside.
//
// kubectl's own untarAll is not reused: it is unexported, drops every symlink, and keeps
// neither mtimes nor directory modes.
//
// Modes keep their permission bits (not setuid/setgid/sticky: they would apply to this
// machine's user); files and directories keep their mtimes; owners are not restored.
// Devices, fifos and sockets are skipped with a warning.
func Extract(r io.Reader, root *os.Root, top, as string, warn func(string)) error {
	tr := tar.NewReader(r)
	type dirTime struct {
		name  string
		mtime time.Time
	}
	var dirs []dirTime // set last: writing a directory's entries changes its mtime
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("reading the node's tar stream: %w", err)
		}
		name, err := localName(hdr.Name, top, as)
		if err != nil {
			return err
		}
		mode := fs.FileMode(hdr.Mode) & fs.ModePerm
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := root.MkdirAll(name, 0o700); err != nil {
				return refusedOr(name, err)
			}
			if err := root.Chmod(name, mode); err != nil {
				return refusedOr(name, err)
			}
			dirs = append(dirs, dirTime{name, hdr.ModTime})
		case tar.TypeReg:
			if err := replaceable(root, name); err != nil {
				return err
			}
			if err := writeFile(root, name, tr, mode); err != nil {
				return err
			}
			if err := root.Chtimes(name, hdr.ModTime, hdr.ModTime); err != nil {
				return refusedOr(name, err)
			}
		case tar.TypeSymlink:
			if err := replaceable(root, name); err != nil {
				return err
			}
			if err := root.Symlink(hdr.Linkname, name); err != nil {
				return refusedOr(name, err)
			}
		case tar.TypeLink:
			target, err := localName(hdr.Linkname, top, as)
			if err != nil {
				return err
			}
			if err := replaceable(root, name); err != nil {
				return err
			}
			if err := root.Link(target, name); err != nil {
				return refusedOr(name, err)
			}
		default:
			warn(fmt.Sprintf("skipped %s: not a file, directory or link (tar type %q)", name, hdr.Typeflag))
		}
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := root.Chtimes(dirs[i].name, dirs[i].mtime, dirs[i].mtime); err != nil {
			return refusedOr(dirs[i].name, err)
		}
	}
	return nil
}

// localName maps an entry's name in the node's stream ("./top/a/b") to the local one
// ("as/a/b"), refusing any name outside top.
func localName(entry, top, as string) (string, error) {
	clean := strings.TrimPrefix(entry, "./")
	clean = strings.TrimSuffix(clean, "/")
	rest, ok := strings.CutPrefix(clean, top)
	if !ok || (rest != "" && rest[0] != '/') || !filepath.IsLocal(filepath.FromSlash(clean)) || path.Clean(clean) != clean {
		return "", &RefusedError{Name: entry}
	}
	return filepath.FromSlash(as + rest), nil
}

// replaceable removes what stands at name unless it is a directory, so that a new file or
// link replaces it instead of being written through it (a symlink left there).
func replaceable(root *os.Root, name string) error {
	fi, err := root.Lstat(name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return refusedOr(name, err)
	case fi.IsDir():
		return fmt.Errorf("%s: is a directory here, the node has a file", name)
	}
	return refusedOr(name, root.Remove(name))
}

func writeFile(root *os.Root, name string, r io.Reader, mode fs.FileMode) error {
	f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return refusedOr(name, err)
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", name, err)
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", name, err)
	}
	return f.Close()
}

// RefusedError is an entry of the node's stream that would land outside the destination.
type RefusedError struct{ Name string }

func (e *RefusedError) Error() string {
	return fmt.Sprintf("refused the node's entry %q: it would write outside the destination", e.Name)
}

// refusedOr turns os.Root's escape errors into a RefusedError, and passes others on.
func refusedOr(name string, err error) error {
	if err == nil {
		return nil
	}
	var pe *fs.PathError
	var le *os.LinkError
	if (errors.As(err, &pe) || errors.As(err, &le)) && strings.Contains(err.Error(), "path escapes from parent") {
		return &RefusedError{Name: name}
	}
	return err
}
