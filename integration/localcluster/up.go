package localcluster

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// Up builds what is missing (see Build), removes the leftovers of a cluster
// whose owner is gone, and starts a cluster. It returns once the apiserver
// is ready, every node is Ready and the default ServiceAccount exists (pods
// are rejected before that): 4-5 s for one to three nodes once built, on
// an otherwise idle 2-core machine.
//
// If anything fails it prints the tail of every log to opts.Log and tears
// the cluster down (unless KeepOnFailure). Only one cluster can run on a
// machine: if another process's cluster is running, Up waits for it to be
// torn down, or fails at once if it was started detached (the command's
// `up`).
func Up(ctx context.Context, opts Options) (*Cluster, error) {
	log := opts.Log
	if log == nil {
		log = io.Discard
	}
	if opts.Nodes == 0 {
		opts.Nodes = 1
	}
	if opts.Nodes < 1 || opts.Nodes > MaxNodes {
		return nil, fmt.Errorf("nodes must be 1 to %d, not %d", MaxNodes, opts.Nodes)
	}
	dir, err := absDir(opts.Dir)
	if err != nil {
		return nil, err
	}
	version, err := KubernetesVersion(opts.KubernetesVersion)
	if err != nil {
		return nil, err
	}
	if err := Build(ctx, version, log); err != nil {
		return nil, err
	}
	cache, err := cacheRoot()
	if err != nil {
		return nil, err
	}
	containerd, err := lookDaemonPath("containerd")
	if err != nil {
		return nil, err
	}
	runc, err := lookDaemonPath("runc")
	if err != nil {
		return nil, err
	}
	regExe, err := registryExecutable(ctx, log)
	if err != nil {
		return nil, err
	}

	lock, err := lockMachine(ctx, log)
	if err != nil {
		return nil, err
	}
	defer func() { lock.unlock() }()
	if err := clearLeftovers(ctx, &lock, log); err != nil {
		return nil, err
	}
	l := newLayout(dir)
	if err := checkCanStart(l, opts.Nodes); err != nil {
		return nil, err
	}

	start := time.Now()
	created, err := prepareDir(dir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(l.state, 0o700); err != nil {
		return nil, fmt.Errorf("creating %s: %w", l.state, err)
	}
	spec := clusterSpec{
		Dir: dir, State: l.state, Nodes: opts.Nodes,
		Kubernetes: version, Etcd: EtcdVersion, Binaries: binariesIn(cache, version),
		Containerd: containerd, Runc: runc, Registry: regExe,
		CreatedDir: created, Started: start,
	}
	if !opts.Detached {
		spec.Owner = selfID()
	}
	// The spec is the runtime directory's marker: written first, so any
	// teardown (below, Down, or the next Up after a crash) finds it.
	if err := writeSpec(l, spec); err != nil {
		return nil, err
	}
	c := &Cluster{spec: spec, l: l}
	if err := c.start(ctx, log); err != nil {
		fmt.Fprintf(log, "localcluster: up failed: %v\nlast log lines:\n", err)
		dumpLogs(l, log, 10)
		if opts.KeepOnFailure || os.Getenv("KNS_KEEP_ON_FAILURE") == "1" {
			fmt.Fprintf(log, "localcluster: keeping the cluster for debugging: %s (state in %s)\n", dir, l.state)
		} else {
			fmt.Fprintf(log, "localcluster: tearing down (set KNS_KEEP_ON_FAILURE=1 to keep it for debugging)\n")
			if derr := teardown(context.WithoutCancel(ctx), l, &spec, log); derr != nil {
				fmt.Fprintf(log, "localcluster: teardown: %v\n", derr)
			}
		}
		return nil, err
	}
	fmt.Fprintf(log, "localcluster: cluster up: Kubernetes %s, %d node(s) Ready in %.1f s; kubeconfig %s\n",
		version, opts.Nodes, time.Since(start).Seconds(), l.kubeconfig())
	return c, nil
}

// lookDaemonPath finds a program in the daemons' PATH.
func lookDaemonPath(name string) (string, error) {
	for _, d := range filepath.SplitList(daemonPath) {
		p := filepath.Join(d, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found in %s (Build installs it)", name, daemonPath)
}

// clearLeftovers looks at every runtime directory on the machine. A
// cluster whose processes are all gone, whose owner process is gone, or
// that this very process started and dropped, is torn down. A detached
// cluster that runs is an error; a cluster of another live process is
// waited for, with the lock released so that process can tear it down.
func clearLeftovers(ctx context.Context, lock **machineLock, log io.Writer) error {
	var lastMsg time.Time
	for {
		var waitOn *clusterSpec
		for _, state := range stateDirs() {
			spec, err := readSpec(state)
			l := layout{dir: spec.Dir, state: state}
			if err != nil {
				fmt.Fprintf(log, "localcluster: removing %s, an unfinished cluster directory (%v)\n", state, err)
				if err := teardown(ctx, l, nil, log); err != nil {
					return fmt.Errorf("removing leftovers in %s: %w", state, err)
				}
				continue
			}
			live := len(ourPIDs(state)) > 0
			var why string
			switch {
			case !live:
				why = "its processes are gone"
			case spec.Owner.PID == 0:
				return fmt.Errorf("a cluster started by `localcluster up --dir %s` is running; only one cluster can run at a time: stop it with `localcluster down --dir %s` (or make cluster-down)", spec.Dir, spec.Dir)
			case spec.Owner == selfID():
				why = "this process started it and never called Down"
			case spec.Owner.alive():
				if os.Getenv(childEnv) == state {
					return fmt.Errorf("Up called from a test while RunTests' shared cluster (%s) is running: use Shared()", spec.Dir)
				}
				waitOn = &spec
				continue
			default:
				why = fmt.Sprintf("its owner, process %d, is gone", spec.Owner.PID)
			}
			fmt.Fprintf(log, "localcluster: tearing down the cluster of %s: %s\n", spec.Dir, why)
			if err := teardown(ctx, l, &spec, log); err != nil {
				return fmt.Errorf("removing the leftovers of the cluster in %s: %w", spec.Dir, err)
			}
		}
		if waitOn == nil {
			return nil
		}
		if time.Since(lastMsg) > 30*time.Second {
			fmt.Fprintf(log, "localcluster: waiting for the cluster of process %d (%s) to be torn down: only one cluster can run at a time\n", waitOn.Owner.PID, waitOn.Dir)
			lastMsg = time.Now()
		}
		(*lock).unlock()
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for another cluster to stop: %w", ctx.Err())
		case <-time.After(time.Second):
		}
		var err error
		if *lock, err = lockMachine(ctx, log); err != nil {
			return err
		}
	}
}

// checkCanStart refuses what would make the cluster fail or clash with
// something of the user's.
func checkCanStart(l layout, nodes int) error {
	if len(l.state) > maxStateDirLen {
		return fmt.Errorf("runtime directory %s is too long for unix sockets", l.state)
	}
	if _, err := os.Lstat(l.state); err == nil {
		return fmt.Errorf("%s exists though no cluster runs there; remove it", l.state)
	}
	if bridgeExists() {
		return fmt.Errorf("network interface %s exists (another cluster running? run down)", podBridge)
	}
	if cgroupExists() {
		return fmt.Errorf("cgroup /%s exists (another cluster running? run down)", cgroupName)
	}
	return checkPortsFree(nodes)
}

// prepareDir makes sure dir exists and holds nothing but what a previous
// cluster left (a pointer whose runtime directory is gone, a kubeconfig, the
// state link), and reports whether it created dir.
func prepareDir(dir string) (created bool, err error) {
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return false, fmt.Errorf("creating %s: %w", dir, err)
		}
		return true, nil
	} else if err != nil {
		return false, fmt.Errorf("reading %s: %w", dir, err)
	}
	if len(entries) == 0 {
		return false, nil
	}
	if _, err := readPointer(dir); err != nil {
		return false, fmt.Errorf("%s is not empty and was not made by localcluster; use an empty or new directory", dir)
	}
	// A stale pointer: its cluster was torn down by clearLeftovers, or the
	// runtime directory vanished. Remove what Up puts there.
	created = removeDirEntries(dir)
	return created, nil
}

// dirEntries are what Up puts in the requested directory.
var dirEntries = []string{"kubeconfig", "state", markerName}

// removeDirEntries removes what Up put in dir, and dir itself if Up created
// it and nothing else is there. It reports whether the directory was
// created by Up.
func removeDirEntries(dir string) (created bool) {
	p, err := readPointer(dir)
	created = err == nil && p.CreatedDir
	for _, e := range dirEntries {
		_ = os.Remove(filepath.Join(dir, e))
	}
	if created {
		_ = os.Remove(dir) // only if empty
	}
	return created
}

// start runs every step of Up after the checks. The apiserver is the
// slowest to become ready (~3 s), so etcd and the apiserver start first and
// everything else is prepared while it boots.
func (c *Cluster) start(ctx context.Context, log io.Writer) error {
	l, spec := c.l, c.spec
	for _, d := range []string{"pids", "logs", "saved", "pki"} {
		if err := os.MkdirAll(l.path(d), 0o755); err != nil {
			return fmt.Errorf("creating %s: %w", l.path(d), err)
		}
	}
	if err := writePointer(l, spec.CreatedDir); err != nil {
		return err
	}
	if err := os.Symlink(l.state, l.stateLink()); err != nil {
		return fmt.Errorf("linking %s: %w", l.stateLink(), err)
	}
	if err := saveSysctls(l); err != nil {
		return err
	}
	if err := saveHostPaths(l); err != nil {
		return err
	}
	b := spec.Binaries
	if _, err := startDaemon(l, etcdName, etcdArgs(l, b)); err != nil {
		return err
	}
	if err := writePKI(l.path("pki"), spec.Nodes); err != nil {
		return err
	}
	if err := writeCommonConfigs(l); err != nil {
		return err
	}
	if _, err := startDaemon(l, apiServerName, apiServerArgs(l, b)); err != nil {
		return err
	}
	if err := os.MkdirAll(l.registryDir(), 0o755); err != nil {
		return err
	}
	if _, err := startDaemon(l, registryName, registryArgs(l, spec.Registry)); err != nil {
		return err
	}
	for _, kc := range []struct{ path, pki, user string }{
		{l.adminKubeconfig(), "admin", "localcluster-admin"},
		{l.kubeconfig(), "admin", "localcluster-admin"},
		{l.kcmKubeconfig(), "kube-controller-manager", "system:kube-controller-manager"},
	} {
		if err := writeKubeconfigFromPKI(kc.path, l.path("pki"), kc.pki, kc.user); err != nil {
			return err
		}
	}
	for k := 1; k <= spec.Nodes; k++ {
		if err := writeNodeConfigs(l, k, spec.Runc); err != nil {
			return err
		}
	}
	if err := makeCgroups(spec.Nodes); err != nil {
		return err
	}
	if err := createBridge(ctx, l); err != nil {
		return err
	}
	for k := 1; k <= spec.Nodes; k++ {
		if _, err := startDaemon(l, containerdName(k), containerdArgs(l, spec.Containerd, k)); err != nil {
			return err
		}
	}
	if err := waitRegistry(ctx, 10*time.Second); err != nil {
		return err
	}
	if err := pushBaseImages(ctx, b.Layer); err != nil {
		return err
	}
	cs, err := c.Clientset()
	if err != nil {
		return err
	}
	// The controller manager (system:masters) and kubelets (Node
	// authorizer) do not need the RBAC bootstrap that gates /readyz for
	// another ~1.5 s: they start as soon as the apiserver answers.
	if err := waitFor(ctx, l, 60*time.Second, "kube-apiserver to serve", apiServing(cs)); err != nil {
		return err
	}
	if _, err := startDaemon(l, kcmName, kcmArgs(l, b)); err != nil {
		return err
	}
	for k := 1; k <= spec.Nodes; k++ {
		if _, err := startDaemon(l, kubeletName(k), kubeletArgs(l, b, k)); err != nil {
			return err
		}
	}
	if err := waitFor(ctx, l, 60*time.Second, "kube-apiserver /readyz", apiReady(cs)); err != nil {
		return err
	}
	if err := waitFor(ctx, l, 120*time.Second, fmt.Sprintf("%d node(s) Ready", spec.Nodes), nodesReady(cs, c.NodeNames())); err != nil {
		return err
	}
	if err := waitFor(ctx, l, 60*time.Second, "the default ServiceAccount", defaultServiceAccount(cs)); err != nil {
		return err
	}
	// kubelet applied its sysctls once at start; put the machine's back.
	return restoreSysctls(l)
}
