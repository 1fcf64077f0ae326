package transfer

import (
	"archive/tar"
	"cmp"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// Archive writes src (a local file or directory) as a tar stream whose top entry is
// named as. Symlinks stay symlinks; modes (with setuid, setgid, sticky) and mtimes are
// kept. Entries are owned by root, as files copied by root with scp would be: the local
// user's uid means nothing on the node. A directory's own entry follows its contents, so
// an extractor that sets its mode on creation can still write into a 0500 directory.
func Archive(w io.Writer, src, as string) error {
	tw := tar.NewWriter(w)
	if err := archive(tw, src, as); err != nil {
		return err
	}
	return tw.Close()
}

// tarDir is a local directory and its name in the stream.
type tarDir struct{ file, name string }

// deferredLinkDirs lists the directories under src (named as in the stream) that hold a
// symlink busybox tar makes only at the end of the archive, deepest first: one whose
// target is absolute or contains "..", the links its extractor defers so that no later
// entry can be written through them.
func deferredLinkDirs(src, as string) ([]tarDir, error) {
	seen := map[string]bool{}
	var dirs []tarDir
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.Type()&fs.ModeSymlink == 0 {
			return err
		}
		target, err := os.Readlink(p)
		if err != nil {
			return err
		}
		if !path.IsAbs(filepath.ToSlash(target)) && !strings.Contains(target, "..") {
			return nil
		}
		parent := filepath.Dir(p)
		if !seen[parent] {
			seen[parent] = true
			rel, err := filepath.Rel(src, parent)
			if err != nil {
				return err
			}
			dirs = append(dirs, tarDir{parent, path.Join(as, filepath.ToSlash(rel))})
		}
		return nil
	})
	slices.SortStableFunc(dirs, func(a, b tarDir) int { return cmp.Compare(strings.Count(b.name, "/"), strings.Count(a.name, "/")) })
	return dirs, err
}

// archiveDirs writes a tar stream of dirs' own entries only (modes and mtimes, as Archive
// writes them): extracted over the tree, it sets those directories' mtimes again.
func archiveDirs(w io.Writer, dirs []tarDir) error {
	tw := tar.NewWriter(w)
	for _, d := range dirs {
		fi, err := os.Lstat(d.file)
		if err != nil {
			return err
		}
		hdr, err := header(fi, d.name, "")
		if err != nil {
			return fmt.Errorf("%s: %w", d.file, err)
		}
		hdr.Name += "/"
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
	}
	return tw.Close()
}

// header is fi's entry named name, owned by root.
func header(fi fs.FileInfo, name, link string) (*tar.Header, error) {
	hdr, err := tar.FileInfoHeader(fi, link)
	if err != nil {
		return nil, err
	}
	hdr.Name = filepath.ToSlash(name)
	hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = 0, 0, "root", "root"
	hdr.Format = tar.FormatPAX // long names, sub-second mtimes, large sizes
	return hdr, nil
}

func archive(tw *tar.Writer, file, name string) error {
	fi, err := os.Lstat(file)
	if err != nil {
		return err
	}
	link := ""
	if fi.Mode()&fs.ModeSymlink != 0 {
		if link, err = os.Readlink(file); err != nil {
			return err
		}
	}
	hdr, err := header(fi, name, link)
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	switch {
	case fi.IsDir():
		entries, err := os.ReadDir(file)
		if err != nil {
			return err
		}
		for _, e := range entries {
			if err := archive(tw, filepath.Join(file, e.Name()), name+"/"+e.Name()); err != nil {
				return err
			}
		}
		hdr.Name += "/"
		return tw.WriteHeader(hdr)
	case fi.Mode().IsRegular():
		f, err := os.Open(file)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if n, err := io.Copy(tw, f); err != nil {
			return fmt.Errorf("%s: %w", file, err)
		} else if n != hdr.Size {
			return fmt.Errorf("%s changed size while being copied", file)
		}
		return nil
	case fi.Mode()&fs.ModeSymlink != 0:
		return tw.WriteHeader(hdr)
	}
	return fmt.Errorf("%s: not a file, directory or symlink", file)
}
