package localcluster

import (
	"bufio"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
)

func sysctlPath(name string) string {
	return "/proc/sys/" + strings.ReplaceAll(name, ".", "/")
}

// readSysctls returns "name=value" lines for kubeletSysctls, in order.
func readSysctls() ([]string, error) {
	out := make([]string, 0, len(kubeletSysctls))
	for _, name := range kubeletSysctls {
		v, err := os.ReadFile(sysctlPath(name))
		if err != nil {
			return nil, fmt.Errorf("reading sysctl %s: %w", name, err)
		}
		out = append(out, name+"="+strings.TrimSpace(string(v)))
	}
	return out, nil
}

func saveSysctls(l layout) error {
	lines, err := readSysctls()
	if err != nil {
		return err
	}
	return os.WriteFile(l.savedFile("sysctl"), []byte(strings.Join(lines, "\n")+"\n"), 0o644)
}

// restoreSysctls puts back the values saved by Up, writing only those that
// changed.
func restoreSysctls(l layout) error {
	data, err := os.ReadFile(l.savedFile("sysctl"))
	if os.IsNotExist(err) {
		return nil
	} else if err != nil {
		return fmt.Errorf("reading saved sysctls: %w", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		name, want, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		cur, err := os.ReadFile(sysctlPath(name))
		if err != nil || strings.TrimSpace(string(cur)) == want {
			continue
		}
		if err := os.WriteFile(sysctlPath(name), []byte(want), 0o644); err != nil {
			return fmt.Errorf("restoring sysctl %s=%s: %w", name, want, err)
		}
	}
	return nil
}

// listHostPaths lists every entry under hostPaths without crossing into
// other file systems (a mount point is listed, its content is not), like
// `find PATHS -xdev`.
func listHostPaths() []string {
	var out []string
	for _, top := range hostPaths {
		var st syscall.Stat_t
		if err := syscall.Lstat(top, &st); err != nil {
			continue
		}
		dev := st.Dev
		_ = filepath.WalkDir(top, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			out = append(out, path)
			if d.IsDir() && path != top {
				var s syscall.Stat_t
				if syscall.Lstat(path, &s) == nil && s.Dev != dev {
					return filepath.SkipDir
				}
			}
			return nil
		})
	}
	sort.Strings(out)
	return out
}

func saveHostPaths(l layout) error {
	return os.WriteFile(l.savedFile("host-paths"), []byte(strings.Join(listHostPaths(), "\n")+"\n"), 0o644)
}

// restoreHostPaths deletes the files, links, directories and mounts that
// appeared under hostPaths since Up, deepest first so that directories are
// empty when reached.
func restoreHostPaths(l layout) error {
	f, err := os.Open(l.savedFile("host-paths"))
	if os.IsNotExist(err) {
		return nil
	} else if err != nil {
		return fmt.Errorf("reading saved host paths: %w", err)
	}
	before := map[string]bool{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		before[sc.Text()] = true
	}
	f.Close()
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading saved host paths: %w", err)
	}
	mounted := map[string]bool{}
	if mounts, err := readMounts(); err == nil {
		for _, m := range mounts {
			mounted[m.point] = true
		}
	}
	now := listHostPaths()
	sort.Sort(sort.Reverse(sort.StringSlice(now)))
	for _, p := range now {
		if before[p] {
			continue
		}
		if mounted[p] {
			_ = unmountUnder(p)
		}
		fi, err := os.Lstat(p)
		if err != nil {
			continue
		}
		if fi.IsDir() {
			_ = syscall.Rmdir(p) // only if empty: never delete what was there before
		} else {
			_ = os.Remove(p)
		}
	}
	return nil
}
