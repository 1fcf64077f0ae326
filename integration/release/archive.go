package release

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
)

// ArchiveFile is one file to put at the top level of an archive.
type ArchiveFile struct {
	Name   string // name in the archive
	Source string // file on disk; its permission bits are kept
}

// WriteTarGz writes the files into a new tar.gz at dst, laid out as goreleaser lays out a
// release archive: every file at the top level, no directory entries. Tests use it to
// stand in for goreleaser when they need one archive for this machine.
func WriteTarGz(dst string, files []ArchiveFile) (err error) {
	f, err := os.Create(dst)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	gz := gzip.NewWriter(f)
	tw := tar.NewWriter(gz)
	for _, af := range files {
		if err := addFile(tw, af); err != nil {
			return fmt.Errorf("add %s to %s: %w", af.Name, dst, err)
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return gz.Close()
}

func addFile(tw *tar.Writer, af ArchiveFile) error {
	src, err := os.Open(af.Source)
	if err != nil {
		return err
	}
	defer src.Close()
	fi, err := src.Stat()
	if err != nil {
		return err
	}
	hdr, err := tar.FileInfoHeader(fi, "")
	if err != nil {
		return err
	}
	hdr.Name = af.Name
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	_, err = io.Copy(tw, src)
	return err
}

// FileSHA256 is the hex SHA-256 digest of a file, as krew and checksums.txt write it.
func FileSHA256(file string) (string, error) {
	f, err := os.Open(file)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
