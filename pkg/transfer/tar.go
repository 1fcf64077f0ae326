package transfer

import (
	"archive/tar"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
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
	hdr, err := tar.FileInfoHeader(fi, link)
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	hdr.Name = filepath.ToSlash(name)
	hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = 0, 0, "root", "root"
	hdr.Format = tar.FormatPAX // long names, sub-second mtimes, large sizes
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
