package main

import (
	"context"
	"fmt"
	"regexp"
	"time"

	"github.com/kubectl-node-shell/kubectl-node-shell/bench/nodepod"
)

// A sessionTool runs one command on the node the way a user of that tool would, from the
// first process it starts to the last one's exit.
type sessionTool struct {
	Key  string // short, stable: the JSON key
	Name string // what the report calls it
	// How is the command line(s) run, for the report.
	How string
	Run func(ctx context.Context, e *env, command []string) (session, error)
}

// session is one measured run of a tool.
type session struct {
	Start    time.Time
	FirstOut time.Time // the command's first byte on stdout; zero when it printed nothing
	// Done is when the user has the command's result: the exit of the process that showed
	// it. End is the exit of the tool's last process (kubectl debug: the delete after it).
	Done   time.Time
	End    time.Time
	Stdout string
	Status int
	MaxRSS int64  // KiB, the largest process of the run
	Steps  []step // one per process, for tools that need more than one
}

type step struct {
	Name     string  `json:"name"`
	WallMS   float64 `json:"wall_ms"`
	Status   int     `json:"status"`
	MaxRSSKB int64   `json:"max_rss_kib"`
}

func (s session) wall() time.Duration { return s.End.Sub(s.Start) }

// firstOutput is the time to the command's first byte of stdout, or, for a silent command,
// to the exit of the process that ran it.
func (s session) firstOutput() time.Duration {
	if s.FirstOut.IsZero() {
		return s.Done.Sub(s.Start)
	}
	return s.FirstOut.Sub(s.Start)
}

func sessionTools() []sessionTool {
	return []sessionTool{
		{
			Key: "node-shell", Name: "node-shell",
			How: "kubectl-node_shell -n bench NODE -- CMD",
			Run: func(ctx context.Context, e *env, command []string) (session, error) {
				return oneProcess(ctx, "kubectl-node_shell", procSpec{Path: e.plugin,
					Args: append([]string{"-n", benchNamespace, e.node, "--"}, command...), Env: e.procEnv()})
			},
		},
		{
			Key: "node-shell-nsenter", Name: "node-shell --nsenter",
			How: "kubectl-node_shell --nsenter -n bench NODE -- CMD",
			Run: func(ctx context.Context, e *env, command []string) (session, error) {
				return oneProcess(ctx, "kubectl-node_shell --nsenter", procSpec{Path: e.plugin,
					Args: append([]string{"--nsenter", "-n", benchNamespace, e.node, "--"}, command...), Env: e.procEnv()})
			},
		},
		{
			Key: "kubectl-debug", Name: "kubectl debug + delete",
			How: "kubectl debug node/NODE -n bench -i --profile=sysadmin --image=" + nodepod.Image + " -- chroot /host CMD; kubectl delete pod -n bench POD",
			Run: runKubectlDebug,
		},
		{
			Key: "shell-script", Name: "shell-script plugin sequence",
			How: "bench/baseline/node-shell-script.sh -n bench NODE -- CMD (kubectl config, get node, version, run -i, delete --wait=false)",
			Run: func(ctx context.Context, e *env, command []string) (session, error) {
				return oneProcess(ctx, "node-shell-script.sh", procSpec{Path: "/bin/bash",
					Args: append([]string{e.script, "-n", benchNamespace, e.node, "--"}, command...),
					Env:  e.procEnv("KUBECTL="+e.kubectl, "KUBECTL_NODE_SHELL_IMAGE="+nodepod.Image)})
			},
		},
		{
			Key: "floor", Name: "floor (minimal client-go)",
			How: "bench/floor: create pod, watch to Running, exec chroot /host CMD, delete; nothing else",
			Run: func(ctx context.Context, e *env, command []string) (session, error) {
				return oneProcess(ctx, "floor", procSpec{Path: e.floor,
					Args: append([]string{"-kubeconfig", e.cluster.Kubeconfig(), "-n", benchNamespace, e.node, "--"}, command...),
					Env:  e.procEnv()})
			},
		},
	}
}

func oneProcess(ctx context.Context, name string, spec procSpec) (session, error) {
	r, err := runProc(ctx, spec)
	s := session{Start: r.Start, FirstOut: r.FirstOut, Done: r.End, End: r.End, Stdout: r.Stdout, Status: r.Status, MaxRSS: r.MaxRSS,
		Steps: []step{{Name: name, WallMS: ms(r.Wall()), Status: r.Status, MaxRSSKB: r.MaxRSS}}}
	if err == nil && r.Status != 0 {
		err = fmt.Errorf("%s exited %d; stderr: %s", name, r.Status, r.Stderr)
	}
	return s, err
}

// kubectl debug announces its pod on stdout, before the command's output.
var debugPodName = regexp.MustCompile(`^Creating debugging pod (\S+) with container [^\n]*\n`)

// runKubectlDebug is what a user of kubectl debug does for one command: run it attached
// (-i, so kubectl waits and shows the output; it reads the logs when the container is
// already done), then delete the pod, which kubectl debug leaves behind.
func runKubectlDebug(ctx context.Context, e *env, command []string) (session, error) {
	args := append([]string{"debug", "node/" + e.node, "-n", benchNamespace, "-i", "--profile=sysadmin",
		"--image=" + nodepod.Image, "--", "chroot", nodepod.HostMount}, command...)
	debug, err := runProc(ctx, procSpec{Path: e.kubectl, Args: args, Env: e.procEnv()})
	s := session{Start: debug.Start, Done: debug.End, End: debug.End, Stdout: debug.Stdout, Status: debug.Status,
		MaxRSS: debug.MaxRSS, Steps: []step{{Name: "kubectl debug", WallMS: ms(debug.Wall()), Status: debug.Status, MaxRSSKB: debug.MaxRSS}}}
	m := debugPodName.FindStringSubmatch(debug.Stdout)
	if m == nil {
		if err == nil {
			err = fmt.Errorf("kubectl debug named no pod; status %d, stdout %q, stderr: %s", debug.Status, debug.Stdout, debug.Stderr)
		}
		return s, err
	}
	s.Stdout = debug.Stdout[len(m[0]):]
	s.FirstOut = debug.arrival(int64(len(m[0])))
	del, delErr := runProc(ctx, procSpec{Path: e.kubectl, Args: []string{"delete", "pod", "-n", benchNamespace, m[1]}, Env: e.procEnv()})
	s.End = del.End
	s.MaxRSS = max(s.MaxRSS, del.MaxRSS)
	s.Steps = append(s.Steps, step{Name: "kubectl delete pod", WallMS: ms(del.Wall()), Status: del.Status, MaxRSSKB: del.MaxRSS})
	switch {
	case err != nil:
		return s, err
	case debug.Status != 0:
		return s, fmt.Errorf("kubectl debug exited %d; stderr: %s", debug.Status, debug.Stderr)
	case delErr != nil:
		return s, delErr
	case del.Status != 0:
		return s, fmt.Errorf("kubectl delete exited %d; stderr: %s", del.Status, del.Stderr)
	}
	return s, nil
}
