package localcluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Down stops the cluster and puts the machine back as it was before Up: no
// process, mount, cgroup, bridge or file of the cluster is left, the
// sysctls kubelet changed are restored, and the directories are removed.
// It is best effort: every step runs even if one fails, and the errors are
// returned together.
func (c *Cluster) Down(ctx context.Context) error {
	lock, err := lockMachine(ctx, io.Discard)
	if err != nil {
		return err
	}
	defer lock.unlock()
	return teardown(ctx, c.l, &c.spec, io.Discard)
}

// DownDir tears down the cluster started with Dir dir, if there is one;
// a directory without a cluster is not an error. It refuses a directory that
// is not empty and was not made by Up.
func DownDir(ctx context.Context, dir string, log io.Writer) error {
	if log == nil {
		log = io.Discard
	}
	if err := checkRootLinux(); err != nil {
		return err
	}
	abs, err := absDir(dir)
	if err != nil {
		return err
	}
	l := newLayout(abs)
	if p, err := readPointer(abs); err == nil && p.State != "" {
		l.state = p.State
	} else if entries, err := os.ReadDir(abs); err == nil && len(entries) > 0 && !fileExists(l.state) {
		return fmt.Errorf("%s was not made by localcluster up (no %s in it)", abs, markerName)
	}
	lock, err := lockMachine(ctx, log)
	if err != nil {
		return err
	}
	defer lock.unlock()
	if !fileExists(l.state) {
		removeDirEntries(abs)
		fmt.Fprintf(log, "localcluster: no cluster running for %s\n", abs)
		return nil
	}
	var spec *clusterSpec
	if s, err := readSpec(l.state); err == nil {
		spec = &s
	}
	return teardown(ctx, l, spec, log)
}

// teardown stops and removes everything of the cluster in l. The order
// matters:
//  1. kubelets first, so nothing restarts containers;
//  2. every process in the cluster's cgroups (the containers, including
//     processes started by exec), then the cgroups;
//  3. the containerds, then the shims;
//  4. the controller manager, then the apiserver with SIGKILL: on SIGTERM
//     it waits up to 60 s for its clients' watches to close, and even
//     without clients it takes 1.5-3 s, while its state is about to be
//     deleted anyway; then etcd and the registry;
//  5. whatever process of ours is still there;
//  6. mounts under the runtime directory, deepest first;
//  7. the bridge, new files under the host paths, sysctls, directories.
func teardown(ctx context.Context, l layout, spec *clusterSpec, log io.Writer) error {
	start := time.Now()
	if _, err := os.Lstat(l.state); err != nil {
		// Already torn down. Nothing else may be touched: the cgroups,
		// bridge and ports may belong to a newer cluster by now.
		cleanRequestedDir(l, spec)
		return nil
	}
	var errs []error
	var kubelets, containerds []string
	for _, name := range recordedDaemons(l) {
		switch {
		case strings.HasPrefix(name, kubeletPrefix):
			kubelets = append(kubelets, name)
		case strings.HasPrefix(name, containerdPref):
			containerds = append(containerds, name)
		}
	}
	stopNamed(l, 10*time.Second, kubelets...)
	// The shims' pids, before CRI deletes the task directories holding
	// them; shims started by a crashed run are found by scanning /proc.
	shims, _ := filepath.Glob(l.path("nodes", "*", "containerd", "state", "io.containerd.runtime.v2.task", "*", "*", "shim.pid"))
	var pids []int
	for _, f := range shims {
		var pid int
		if data, err := os.ReadFile(f); err == nil {
			if _, err := fmt.Sscan(string(data), &pid); err == nil {
				pids = append(pids, pid)
			}
		}
	}
	if err := removeCgroups(); err != nil {
		errs = append(errs, err)
	}
	// containerd before the shims: a containerd that sees a shim die runs
	// `containerd-shim-runc-v2 ... delete` to clean up after it, and those
	// would outlive it.
	stopNamed(l, 5*time.Second, containerds...)
	for _, pid := range ourPIDs(l.state) {
		if procExe(pid) == "containerd-shim-runc-v2" {
			pids = append(pids, pid)
		}
	}
	stopPIDs(l.state, 2*time.Second, pids)
	stopNamed(l, 5*time.Second, kcmName)
	stopNamed(l, 0, apiServerName)
	stopNamed(l, 5*time.Second, etcdName, registryName)
	stopSSHDs(l)
	if left := ourPIDs(l.state); len(left) > 0 {
		for _, pid := range left {
			fmt.Fprintf(log, "localcluster: killing leftover process %d: %.100s\n", pid, procCmdline(pid))
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		if still := waitGone(left, 3*time.Second); len(still) > 0 {
			errs = append(errs, fmt.Errorf("processes %v did not exit", still))
		}
	}
	if err := unmountUnder(l.state); err != nil {
		errs = append(errs, err)
	}
	if err := deleteBridge(ctx, l); err != nil {
		errs = append(errs, err)
	}
	if err := restoreHostPaths(l); err != nil {
		errs = append(errs, err)
	}
	if err := restoreSysctls(l); err != nil {
		errs = append(errs, err)
	}
	if err := removeAllOneFS(l.state); err != nil {
		errs = append(errs, err)
	}
	cleanRequestedDir(l, spec)
	if len(errs) == 0 {
		fmt.Fprintf(log, "localcluster: cluster down in %.1f s\n", time.Since(start).Seconds())
	}
	return errors.Join(errs...)
}

// removeAllOneFS is `rm -rf --one-file-system`: it refuses to descend into
// another file system, so a mount that could not be removed never gets its
// content deleted.
func removeAllOneFS(path string) error {
	var root syscall.Stat_t
	if err := syscall.Lstat(path, &root); err != nil {
		if errors.Is(err, syscall.ENOENT) {
			return nil
		}
		return fmt.Errorf("removing %s: %w", path, err)
	}
	var walk func(p string) error
	walk = func(p string) error {
		var st syscall.Stat_t
		if err := syscall.Lstat(p, &st); err != nil {
			if errors.Is(err, syscall.ENOENT) {
				return nil
			}
			return err
		}
		if st.Dev != root.Dev {
			return fmt.Errorf("%s is on another file system (a mount left behind); not removing it", p)
		}
		if st.Mode&syscall.S_IFMT == syscall.S_IFDIR {
			entries, err := os.ReadDir(p)
			if err != nil {
				return err
			}
			var errs []error
			for _, e := range entries {
				if err := walk(filepath.Join(p, e.Name())); err != nil {
					errs = append(errs, err)
				}
			}
			if len(errs) > 0 {
				return errors.Join(errs...)
			}
		}
		if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
			return err
		}
		return nil
	}
	if err := walk(path); err != nil {
		return fmt.Errorf("removing %s: %w", path, err)
	}
	return nil
}

// cleanRequestedDir removes what Up put in the requested directory, if it
// still points at this cluster, and the directory itself if Up created it
// and it is empty (an Up that failed before writing the pointer).
func cleanRequestedDir(l layout, spec *clusterSpec) {
	if spec == nil || spec.Dir == "" {
		return
	}
	if p, err := readPointer(spec.Dir); err == nil && p.State == l.state {
		removeDirEntries(spec.Dir)
	}
	if spec.CreatedDir {
		_ = os.Remove(spec.Dir) // only if empty
	}
}
