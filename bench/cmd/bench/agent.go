package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"time"

	"github.com/kubectl-node-shell/kubectl-node-shell/integration/localcluster"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/agent"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/podspec"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/sessionlog"
)

// agentNodes is the agent case's cluster: enough nodes for a fleet to mean something.
const agentNodes = 3

// runAgentBench is the agent case (-only-agent): on a cluster of its own with the agent
// installed, time to first output of `-- echo x` on the agent, in a pod of its own
// (--agent=never) and through `kubectl exec` into the agent pod (the floor), interleaved
// round by round; then a fleet's wall time over every node on agents and in pods. It prints its table
// on stdout and leaves the saved results alone.
func runAgentBench(ctx context.Context, o options) error {
	plugin, err := filepath.Abs(o.plugin)
	if err != nil {
		return err
	}
	if _, err := os.Stat(plugin); err != nil {
		return fmt.Errorf("%w (make bench builds it)", err)
	}
	dir, err := os.MkdirTemp("", "kns-bench-agent-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	defer removeSessionRecords()
	logf("starting a %d-node cluster in %s", agentNodes, dir)
	cluster, err := localcluster.Up(ctx, localcluster.Options{Nodes: agentNodes, Dir: filepath.Join(dir, "cluster"), Log: os.Stderr})
	if err != nil {
		return fmt.Errorf("start the cluster: %w", err)
	}
	defer func() {
		logf("stopping the cluster")
		if err := cluster.Down(context.Background()); err != nil {
			fmt.Fprintln(os.Stderr, "bench: stopping the cluster:", err)
		}
	}()
	client, err := cluster.Clientset()
	if err != nil {
		return err
	}
	home := filepath.Join(dir, "home")
	if err := os.MkdirAll(home, 0o700); err != nil {
		return err
	}
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "KUBECONFIG=" + cluster.Kubeconfig()}
	run := func(args ...string) error {
		cmd := exec.CommandContext(ctx, plugin, args...)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%v: %w\n%s", args, err, out)
		}
		return nil
	}
	if err := run("setup", "--group", "node-admins"); err != nil {
		return err
	}
	bindCtx, stopBinding := context.WithCancel(ctx)
	defer stopBinding()
	_ = localcluster.BindDaemonSetPods(bindCtx, client, agent.Namespace, agent.Selector) // the local cluster has no scheduler
	if err := run("agent", "install"); err != nil {
		return err
	}
	node := cluster.NodeNames()[0]
	pod, err := agent.Find(ctx, client, node)
	if err != nil {
		return err
	}
	cases := []struct {
		name string
		argv []string
	}{
		{"kubectl exec into the agent (floor)", []string{cluster.KubectlPath(), "exec", "-n", agent.Namespace, pod.Name, "-c", podspec.ContainerName, "--", "echo", "x"}},
		{"node-shell on the agent", []string{plugin, "-q", node, "--", "echo", "x"}},
		{"node-shell in a pod (--agent=never)", []string{plugin, "-q", "--agent=never", node, "--", "echo", "x"}},
	}
	rounds := o.sessionRounds
	times := make([][]time.Duration, len(cases))
	for r := 0; r <= rounds; r++ { // round 0 warms up
		for i, c := range cases {
			d, err := firstOutput(ctx, env, c.argv)
			if err != nil {
				return fmt.Errorf("%s: %w", c.name, err)
			}
			if r > 0 {
				times[i] = append(times[i], d)
			}
		}
	}
	var fleetAgents, fleetPods []time.Duration
	for r := 0; r <= o.fleetRounds; r++ {
		for _, c := range []struct {
			into *[]time.Duration
			args []string
		}{{&fleetAgents, []string{"-q", "--all", "--", "true"}}, {&fleetPods, []string{"-q", "--agent=never", "--all", "--", "true"}}} {
			start := time.Now()
			if err := run(c.args...); err != nil {
				return err
			}
			if r > 0 {
				*c.into = append(*c.into, time.Since(start))
			}
		}
	}
	floor := medianOf(times[0])
	fmt.Printf("agent case: %d nodes, %d rounds (after a warm-up), median [min … max]\n", agentNodes, rounds)
	for i, c := range cases {
		fmt.Printf("  %-40s %7.0f ms [%.0f … %.0f]  %.2f× the floor\n", c.name, ms(medianOf(times[i])), ms(slices.Min(times[i])), ms(slices.Max(times[i])),
			float64(medianOf(times[i]))/float64(floor))
	}
	for _, f := range []struct {
		name string
		d    []time.Duration
	}{{"on agents", fleetAgents}, {"in pods (--agent=never)", fleetPods}} {
		fmt.Printf("  %-40s %7.0f ms [%.0f … %.0f]\n", fmt.Sprintf("fleet --all -- true, %d nodes, %s", agentNodes, f.name),
			ms(medianOf(f.d)), ms(slices.Min(f.d)), ms(slices.Max(f.d)))
	}
	return run("agent", "uninstall")
}

// firstOutput runs argv and returns how long its first byte of stdout took; it waits for
// the process to end and fails unless it exits 0.
func firstOutput(ctx context.Context, env []string, argv []string) (time.Duration, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = env
	out, err := cmd.StdoutPipe()
	if err != nil {
		return 0, err
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	var first time.Duration
	if _, err := bufio.NewReader(out).ReadByte(); err == nil {
		first = time.Since(start)
	}
	_, _ = io.Copy(io.Discard, out)
	if err := cmd.Wait(); err != nil {
		return 0, err
	}
	if first == 0 {
		return 0, fmt.Errorf("no output")
	}
	return first, nil
}

func medianOf(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

// removeSessionRecords removes the records the run's sessions left on their nodes, which are
// this machine (pkg/sessionlog), as the e2e suite does.
func removeSessionRecords() { _ = os.RemoveAll(filepath.Dir(sessionlog.Dir)) }
