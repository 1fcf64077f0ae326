package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kubectl-node-shell/kubectl-node-shell/bench/nodepod"
)

// streamResult is the throughput case for one tool and direction.
type streamResult struct {
	Tool      string  `json:"tool"`
	Name      string  `json:"name"`
	Direction string  `json:"direction"` // "out": node to stdout; "in": stdin to node
	Bytes     int64   `json:"bytes"`
	How       string  `json:"how"`
	MiBPerS   summary `json:"mib_per_s"`
	// SecondHalfMiBPerS is the rate over the second half of the bytes: the steady state,
	// without whatever the start of the stream competes with (a pod that just started).
	SecondHalfMiBPerS summary `json:"second_half_mib_per_s"`
	WallMS            summary `json:"wall_ms"`
	MaxRSSKiB         summary `json:"max_rss_kib"`
	// CPUMS is the tool's own CPU time (user + system); ClusterCPUMS the cluster processes'
	// during the run, by process name.
	CPUMS        summary            `json:"cpu_ms"`
	ClusterCPUMS map[string]summary `json:"cluster_cpu_ms"`
	Failed       int                `json:"failed"`
}

// streamSizes are the bytes each stream moves, and why they may be less than asked for.
type streamSizes struct {
	RequestedOut int64   `json:"requested_out"`
	RequestedIn  int64   `json:"requested_in"`
	Out          int64   `json:"out"`
	In           int64   `json:"in"`
	ProbeMiBPerS float64 `json:"probe_mib_per_s"`
	Reduced      bool    `json:"reduced"`
}

// streamTool runs one transfer: the plugin with its own pod, or kubectl exec into the
// benchmark's pod.
type streamTool struct {
	key, name string
	argv      func(e *env, pod string, command []string) []string
	path      func(e *env) string
	env       []string
}

// spdyOnly is kubectl's (and node-shell's) switch from the WebSocket executor to SPDY.
const spdyOnly = "KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false"

// withEnv is t under another key and name, run with env added: the same tool over the
// other exec protocol.
func withEnv(t streamTool, key, name string, env ...string) streamTool {
	t.key, t.name, t.env = key, name, env
	return t
}

var streamTools = []streamTool{
	{
		key: "node-shell", name: "node-shell",
		path: func(e *env) string { return e.plugin },
		argv: func(e *env, _ string, command []string) []string {
			return append([]string{"-n", benchNamespace, e.node, "--"}, command...)
		},
	},
	{
		key: "kubectl-exec", name: "kubectl exec (running pod)",
		path: func(e *env) string { return e.kubectl },
		argv: func(e *env, pod string, command []string) []string {
			args := []string{"exec", "-n", benchNamespace, pod, "-c", nodepod.Container}
			if command[0] == "wc" {
				args = append(args, "-i")
			}
			return append(append(args, "--", "chroot", nodepod.HostMount), command...)
		},
	},
}

// probeBytes is what the warm-up transfer moves, to measure the machine's rate.
const probeBytes = 64 << 20

// runStreams is the throughput case: bytes from the node's /dev/zero to stdout, and from
// stdin to `wc -c` on the node, node-shell against kubectl exec into a pod that is already
// running (the same pod spec). Throughput counts the stream only, from its first byte to
// its last, so node-shell's pod start and delete are not in it. A warm-up round with
// probeBytes measures the rate first; if the requested sizes could not finish within the
// time left of the budget, they are scaled down (and the report says so).
func runStreams(ctx context.Context, e *env, o options, res *results, deadline time.Time) error {
	streamTools := slices.Clone(streamTools)
	if o.streamSPDY {
		// node-shell goes over SPDY already (pkg/stream's newExecutor); kubectl over SPDY is
		// the comparison on equal terms.
		streamTools = append(streamTools, withEnv(streamTools[1], "kubectl-exec-spdy", "kubectl exec (running pod), SPDY", spdyOnly))
	}
	target, err := e.startExecTarget(ctx)
	if err != nil {
		return fmt.Errorf("start the kubectl exec pod: %w", err)
	}
	defer e.deletePod(target)

	sizes := streamSizes{RequestedOut: o.outBytes, RequestedIn: o.inBytes}
	var slowest float64
	probeStart := time.Now()
	for _, t := range streamTools {
		if err := e.settle(ctx, target.UID); err != nil {
			return err
		}
		r, rate, _, _, err := runStream(ctx, e, t, target.Name, "out", probeBytes)
		logf("warm-up: %-26s out %7.1f MiB/s, wall %6.0f ms%s", t.name, rate, ms(r.Wall()), errSuffix(err))
		if err != nil {
			return fmt.Errorf("stream warm-up: %w", err)
		}
		if slowest == 0 || rate < slowest {
			slowest = rate
		}
	}
	sizes.ProbeMiBPerS = slowest
	perRoundOverhead := time.Since(probeStart) - time.Duration(float64(len(streamTools))*float64(probeBytes)/(1<<20)/slowest*float64(time.Second))
	sizes.Out, sizes.In = fitSizes(o.outBytes, o.inBytes, slowest, time.Until(deadline), o.rounds*len(streamTools)/2, perRoundOverhead)
	sizes.Reduced = sizes.Out < o.outBytes || sizes.In < o.inBytes
	res.StreamSizes = sizes
	if sizes.Reduced {
		logf("streams: %.0f MiB/s measured; moving %s out and %s in instead of %s and %s to finish by %s",
			slowest, size(sizes.Out), size(sizes.In), size(o.outBytes), size(o.inBytes), deadline.Format(time.TimeOnly))
	}

	type key struct{ tool, dir string }
	type acc struct {
		rate, half, wall, rss, cpu []float64
		cluster                    map[string][]float64
	}
	results := map[key]*streamResult{}
	accs := map[key]*acc{}
	directions := []string{"out", "in"}
	for round := 0; round < o.rounds; round++ {
		res.Load = append(res.Load, loadSample(fmt.Sprintf("streams round %d", round+1)))
		for i := range streamTools {
			t := streamTools[(i+round)%len(streamTools)]
			for _, dir := range directions {
				if err := e.settle(ctx, target.UID); err != nil {
					return err
				}
				k := key{t.key, dir}
				if results[k] == nil {
					results[k] = &streamResult{Tool: t.key, Name: t.name, Direction: dir, Bytes: map[string]int64{"out": sizes.Out, "in": sizes.In}[dir]}
					accs[k] = &acc{cluster: map[string][]float64{}}
				}
				sr, a := results[k], accs[k]
				before := clusterCPU()
				r, rate, half, how, err := runStream(ctx, e, t, target.Name, dir, sr.Bytes)
				after := clusterCPU()
				sr.How = how
				if ctx.Err() != nil {
					return ctx.Err()
				}
				logf("round %d: %-26s %-3s %7.1f MiB/s, wall %6.0f ms, max RSS %6.1f MiB%s", round+1, t.name, dir, rate,
					ms(r.Wall()), float64(r.MaxRSS)/1024, errSuffix(err))
				if err != nil {
					sr.Failed++
					res.Failures = append(res.Failures, failure{Case: "stream", Tool: t.name, What: dir, Round: round + 1,
						Silent: r.Status == 0 && errors.Is(err, errWrongOutput), Error: err.Error()})
					if err := e.cleanUp(ctx, target.UID); err != nil {
						return err
					}
					continue
				}
				a.rate = append(a.rate, rate)
				a.half = append(a.half, half)
				a.wall = append(a.wall, ms(r.Wall()))
				a.rss = append(a.rss, float64(r.MaxRSS))
				a.cpu = append(a.cpu, ms(r.CPU))
				used := after.cpuSince(before)
				for _, name := range clusterProcesses {
					a.cluster[name] = append(a.cluster[name], ms(used[name]))
				}
			}
		}
	}
	for _, dir := range directions {
		for _, t := range streamTools {
			k := key{t.key, dir}
			sr, a := results[k], accs[k]
			if sr == nil {
				continue
			}
			sr.MiBPerS, sr.WallMS, sr.MaxRSSKiB, sr.CPUMS = summarize(a.rate), summarize(a.wall), summarize(a.rss), summarize(a.cpu)
			sr.SecondHalfMiBPerS = summarize(a.half)
			sr.ClusterCPUMS = map[string]summary{}
			for name, v := range a.cluster {
				sr.ClusterCPUMS[name] = summarize(v)
			}
			res.Streams = append(res.Streams, *sr)
		}
	}
	return nil
}

// fitSizes scales the requested sizes down, in steps of 64 MiB, so that rounds of both
// tools moving out and then in at rate MiB/s, plus overhead per pair of transfers, fit in
// left. The stdin stream keeps its size as long as it takes at most half the time.
func fitSizes(out, in int64, rate float64, left time.Duration, rounds int, overhead time.Duration) (int64, int64) {
	transfers := float64(2 * rounds) // two tools per round
	budget := left.Seconds() - transfers*max(overhead.Seconds(), 0)
	if rate <= 0 || budget <= 0 {
		return probeBytes, probeBytes
	}
	fits := int64(budget / transfers * rate * (1 << 20)) // out + in, per tool and round
	if out+in <= fits {
		return out, in
	}
	step := func(n int64) int64 { return max(n/probeBytes*probeBytes, probeBytes) }
	newIn := in
	if in > fits/2 {
		newIn = step(fits / 2)
	}
	return min(out, step(fits-newIn)), newIn
}

// runStream runs one transfer of n bytes and returns its throughput in MiB/s, over the
// whole stream and over its second half.
func runStream(ctx context.Context, e *env, t streamTool, pod, dir string, n int64) (r procResult, rate, half float64, how string, err error) {
	if dir == "out" {
		command := []string{"head", "-c", strconv.FormatInt(n, 10), "/dev/zero"}
		args := t.argv(e, pod, command)
		how = commandLine(e, t, pod, args)
		r, err = runProc(ctx, procSpec{Path: t.path(e), Args: args, Env: e.procEnv(t.env...), MarkOut: n / 2})
		if err == nil && (r.Status != 0 || r.OutBytes != n) {
			err = fmt.Errorf("%w: status %d, %d bytes on stdout, want %d; stderr: %s", errWrongOutput, r.Status, r.OutBytes, n, r.Stderr)
		}
		if err != nil {
			return r, 0, 0, how, err
		}
		return r, mibPerS(r.OutBytes, r.OutEOF.Sub(r.FirstOut)), mibPerS(n-n/2, r.OutEOF.Sub(r.OutMark)), how, nil
	}

	command := []string{"wc", "-c"}
	args := t.argv(e, pod, command)
	how = commandLine(e, t, pod, args)
	pr, pw, err := os.Pipe()
	if err != nil {
		return procResult{}, 0, 0, how, err
	}
	const chunk = 1 << 20
	var firstChunk, halfway time.Time
	writeErr := make(chan error, 1)
	go func() {
		defer pw.Close()
		buf := make([]byte, chunk)
		for sent := int64(0); sent < n; {
			m, err := pw.Write(buf[:min(chunk, n-sent)])
			sent += int64(m)
			if err != nil {
				writeErr <- err
				return
			}
			// A pipe holds 64 KiB: a 1 MiB write returns once the tool has read most of it.
			if firstChunk.IsZero() {
				firstChunk = time.Now()
			}
			if halfway.IsZero() && sent >= n/2 {
				halfway = time.Now()
			}
		}
		writeErr <- nil
	}()
	r, err = runProc(ctx, procSpec{Path: t.path(e), Args: args, Env: e.procEnv(t.env...), Stdin: pr})
	pr.Close()
	if werr := <-writeErr; err == nil && werr != nil {
		err = fmt.Errorf("writing stdin: %w", werr)
	}
	if err == nil && (r.Status != 0 || strings.TrimSpace(r.Stdout) != strconv.FormatInt(n, 10)) {
		err = fmt.Errorf("%w: status %d, stdout %q, want %d; stderr: %s", errWrongOutput, r.Status, r.Stdout, n, r.Stderr)
	}
	if err != nil {
		return r, 0, 0, how, err
	}
	// The count arrives once wc has read everything: the end of the stream.
	return r, mibPerS(n-chunk, r.FirstOut.Sub(firstChunk)), mibPerS(n-n/2, r.FirstOut.Sub(halfway)), how, nil
}

// commandLine is args as the report shows them, with the node and pod names generic.
func commandLine(e *env, t streamTool, pod string, args []string) string {
	name := "kubectl-node_shell"
	if !strings.HasPrefix(t.key, "node-shell") {
		name = "kubectl"
	}
	line := strings.Join(append(slices.Clone(t.env), name), " ") + " " + strings.Join(args, " ")
	return strings.NewReplacer(e.node, "NODE", pod, "POD").Replace(line)
}

func mibPerS(bytes int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(bytes) / (1 << 20) / d.Seconds()
}
