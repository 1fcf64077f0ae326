package sshkeys

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// cacheFile is the one file in the cache directory.
const cacheFile = "keys.json"

// Snapshot is what the cache keeps of the last Node object read: its key annotations as
// they were (re-validated on every read), whose node they are, and when they were read.
type Snapshot struct {
	Node    string            `json:"node"`
	Fetched time.Time         `json:"fetched"`
	Keys    map[string]string `json:"keys"`
}

// KeyAnnotations keeps only the annotations of keys.
func KeyAnnotations(annotations map[string]string) map[string]string {
	keys := map[string]string{}
	for name, value := range annotations {
		if strings.HasPrefix(name, KeyPrefix) {
			keys[name] = value
		}
	}
	return keys
}

// Cache is a root-only directory (0700) holding one file (0600), replaced atomically.
type Cache struct{ Dir string }

func (c Cache) path() string { return filepath.Join(c.Dir, cacheFile) }

// Write replaces the snapshot: a temporary file in the same directory, fsynced, then
// renamed over the old one, so a concurrent reader sees the old or the new file whole.
func (c Cache) Write(s Snapshot) error {
	if err := c.ensureDir(); err != nil {
		return err
	}
	data, err := json.Marshal(s)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(c.Dir, ".keys-*.tmp")
	if err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	defer os.Remove(tmp.Name()) // a no-op after the rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("cache: writing %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("cache: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	if err := os.Rename(tmp.Name(), c.path()); err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	return nil
}

// ensureDir creates the directory 0700, or checks that an existing one is a real
// directory of ours that nobody else may write or read.
func (c Cache) ensureDir() error {
	if err := os.MkdirAll(c.Dir, 0o700); err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	return checkPrivate(c.Dir, true)
}

// checkPrivate refuses a symlink, another owner, or a mode open to group or others.
func checkPrivate(path string, dir bool) error {
	fi, err := os.Lstat(path)
	if err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	switch {
	case fi.Mode()&os.ModeSymlink != 0:
		return fmt.Errorf("cache: %s is a symlink", path)
	case dir != fi.IsDir() || (!dir && !fi.Mode().IsRegular()):
		return fmt.Errorf("cache: %s is not a regular %s", path, map[bool]string{true: "directory", false: "file"}[dir])
	case fi.Mode().Perm()&0o077 != 0:
		return fmt.Errorf("cache: %s has mode %04o; it must be private to its owner", path, fi.Mode().Perm())
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("cache: %s belongs to uid %d, not %d", path, st.Uid, os.Geteuid())
	}
	return nil
}

// ErrNoCache is returned by Read when nothing was cached yet.
var ErrNoCache = errors.New("no cache yet")

// Read returns the snapshot, after checking that the directory and file are private.
func (c Cache) Read() (Snapshot, error) {
	if _, err := os.Lstat(c.path()); errors.Is(err, os.ErrNotExist) {
		return Snapshot{}, ErrNoCache
	}
	if err := checkPrivate(c.Dir, true); err != nil {
		return Snapshot{}, err
	}
	if err := checkPrivate(c.path(), false); err != nil {
		return Snapshot{}, err
	}
	data, err := os.ReadFile(c.path())
	if err != nil {
		return Snapshot{}, fmt.Errorf("cache: %w", err)
	}
	var s Snapshot
	if err := json.Unmarshal(data, &s); err != nil {
		return Snapshot{}, fmt.Errorf("cache: %s is not a snapshot: %v", c.path(), err)
	}
	return s, nil
}
