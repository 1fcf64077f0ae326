package localcluster

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// mountEntry is one line of /proc/mounts.
type mountEntry struct {
	point, fstype, options string
}

func readMounts() ([]mountEntry, error) {
	f, err := os.Open("/proc/mounts")
	if err != nil {
		return nil, fmt.Errorf("reading /proc/mounts: %w", err)
	}
	defer f.Close()
	var out []mountEntry
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 4 {
			out = append(out, mountEntry{point: unescapeMount(fields[1]), fstype: fields[2], options: fields[3]})
		}
	}
	return out, sc.Err()
}

// cgroupRoots returns the mount points of the cgroup v1 hierarchies and, if
// all is set, of cgroup2 too.
func cgroupRoots(all bool) []string {
	mounts, _ := readMounts()
	var roots []string
	for _, m := range mounts {
		if m.fstype == "cgroup" || (all && m.fstype == "cgroup2") {
			roots = append(roots, m.point)
		}
	}
	return roots
}

// cgroupExists reports whether /localcluster exists in any hierarchy.
func cgroupExists() bool {
	for _, r := range cgroupRoots(true) {
		if _, err := os.Stat(filepath.Join(r, cgroupName)); err == nil {
			return true
		}
	}
	return false
}

// makeCgroups creates /localcluster/nodeK in every cgroup v1 hierarchy:
// kubelet needs its cgroupRoot to exist before it starts. Only sub-cgroups
// are created; the cgroup mounts themselves are never touched. New cpuset
// cgroups start with no cpus and mems, so they get the parent's.
func makeCgroups(nodes int) error {
	for _, root := range cgroupRoots(false) {
		for k := 1; k <= nodes; k++ {
			for _, d := range []string{filepath.Join(root, cgroupName), filepath.Join(root, cgroupName, fmt.Sprintf("node%d", k))} {
				if _, err := os.Stat(d); err == nil {
					continue
				}
				if err := os.Mkdir(d, 0o755); err != nil {
					return fmt.Errorf("creating cgroup %s: %w", d, err)
				}
				for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
					if _, err := os.Stat(filepath.Join(d, f)); err != nil {
						continue
					}
					v, err := os.ReadFile(filepath.Join(filepath.Dir(d), f))
					if err != nil {
						return fmt.Errorf("reading parent %s: %w", f, err)
					}
					if err := os.WriteFile(filepath.Join(d, f), v, 0o644); err != nil {
						return fmt.Errorf("setting %s of %s: %w", f, d, err)
					}
				}
			}
		}
	}
	return nil
}

// cgroupPIDs lists every process in the /localcluster cgroups: the
// containers of every node, including processes started by exec.
func cgroupPIDs() []int {
	seen := map[int]bool{}
	for _, root := range cgroupRoots(true) {
		base := filepath.Join(root, cgroupName)
		_ = filepath.WalkDir(base, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || d.Name() != "cgroup.procs" {
				return nil
			}
			data, err := os.ReadFile(path)
			if err != nil {
				return nil
			}
			for _, f := range strings.Fields(string(data)) {
				if pid, err := strconv.Atoi(f); err == nil {
					seen[pid] = true
				}
			}
			return nil
		})
	}
	pids := make([]int, 0, len(seen))
	for pid := range seen {
		pids = append(pids, pid)
	}
	sort.Ints(pids)
	return pids
}

// removeCgroups kills every process left in the /localcluster cgroups (they
// are containers of the cluster; containerd's CRI then deletes the tasks and
// the shims exit) and removes the cgroups deepest first. A v1 memory cgroup
// removed while pages are still charged to it lingers in the kernel as a
// "dying" cgroup (~100 of them after 25 cycles), so it is emptied first with
// memory.force_empty.
func removeCgroups() error {
	for try := 0; try < 5; try++ {
		if pids := cgroupPIDs(); len(pids) > 0 {
			for _, pid := range pids {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
			waitGone(pids, time.Second)
		}
		roots := cgroupRoots(true)
		// rmdir of a v1 cgroup waits for the kernel (~50 ms each): one
		// goroutine per hierarchy.
		var wg sync.WaitGroup
		for _, root := range roots {
			base := filepath.Join(root, cgroupName)
			if _, err := os.Stat(base); err != nil {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				removeCgroupTree(base)
			}()
		}
		wg.Wait()
		if !cgroupExists() {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return errors.New("could not remove every /" + cgroupName + " cgroup")
}

// removeCgroupTree empties and removes the cgroup directories under base,
// deepest first.
func removeCgroupTree(base string) {
	var dirs []string
	_ = filepath.WalkDir(base, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, path)
		}
		return nil
	})
	sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
	for _, d := range dirs {
		if f := filepath.Join(d, "memory.force_empty"); fileExists(f) {
			_ = os.WriteFile(f, []byte("0"), 0o200)
		}
		_ = syscall.Rmdir(d)
	}
}

func fileExists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}
