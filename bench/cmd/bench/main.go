// Command bench measures kubectl node-shell against the alternatives on a local real cluster
// (package integration/localcluster) and writes docs/benchmarks.md and bench/results.json.
// `make bench` runs it; it starts its own one-node cluster and stops it at the end.
//
//	bench -plugin bin/kubectl-node_shell -floor bin/bench-floor -rounds 7 \
//	      -markdown docs/benchmarks.md -json bench/results.json
//
// Cases: time to first output of a one-shot command, API requests per session (from the
// apiserver's audit log), stream throughput and peak RSS, and the plugin's start-up time.
// Every case runs its tools interleaved, round after round, each run on a node the previous
// run has finished tearing down. It times things; `go test` never runs it.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/kubectl-node-shell/kubectl-node-shell/integration/localcluster"
)

type options struct {
	plugin, floor, script string
	rounds, sessionRounds int
	helpRounds            int
	markdown, json        string
	// notes is a hand-written file appended to the report: one-off investigations that
	// make bench does not repeat.
	notes             string
	outBytes, inBytes int64
	// budget bounds the whole run: the stream sizes shrink to fit it.
	budget time.Duration
	// fleetNodes is the size of the fleet case's own cluster (0: no fleet case).
	fleetNodes, fleetRounds int
	// The data-moving cases: cp and port-forward against kubectl's, and streamed
	// transfers under CPU load.
	cpBytes, pfBytes, stressBytes       int64
	cpRounds, pfRounds, stressTransfers int
	// streamSPDY adds kubectl exec over SPDY, node-shell's protocol, to the stream case.
	streamSPDY bool
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "registry" {
		serveRegistry(os.Args[2:])
		return
	}
	var o options
	flag.StringVar(&o.plugin, "plugin", "bin/kubectl-node_shell", "the node-shell binary under test")
	flag.StringVar(&o.floor, "floor", "bin/bench-floor", "the floor program (go build ./bench/floor)")
	flag.StringVar(&o.script, "script", "bench/baseline/node-shell-script.sh", "the shell-script plugin's sequence")
	flag.IntVar(&o.rounds, "rounds", 7, "rounds of the stream case (after a warm-up transfer)")
	flag.IntVar(&o.sessionRounds, "session-rounds", 11, "rounds of the time-to-first-output case (after a warm-up round); the pod start's 1 s granularity needs more than the streams")
	flag.IntVar(&o.helpRounds, "help-rounds", 21, "rounds of the --help start-up case")
	flag.Int64Var(&o.outBytes, "out-bytes", 1<<30, "bytes streamed from the node to stdout")
	flag.Int64Var(&o.inBytes, "in-bytes", 256<<20, "bytes streamed from stdin to the node")
	flag.IntVar(&o.fleetNodes, "fleet-nodes", 10, "nodes of the fleet case's cluster, started after the 1-node cases (0 skips the case)")
	flag.IntVar(&o.fleetRounds, "fleet-rounds", 5, "rounds of the fleet case (after a warm-up round)")
	flag.BoolVar(&o.streamSPDY, "stream-spdy", true, "also stream with kubectl exec over SPDY ($"+strings.Split(spdyOnly, "=")[0]+"=false), node-shell's protocol")
	flag.Int64Var(&o.cpBytes, "cp-bytes", 128<<20, "size of the file the cp case copies each way")
	flag.IntVar(&o.cpRounds, "cp-rounds", 3, "rounds of the cp case (after a warm-up round)")
	flag.Int64Var(&o.pfBytes, "pf-bytes", 128<<20, "bytes the port-forward case moves each way per round")
	flag.IntVar(&o.pfRounds, "pf-rounds", 3, "rounds of the port-forward case (after a warm-up round)")
	flag.Int64Var(&o.stressBytes, "stress-bytes", 128<<20, "bytes of each streamed transfer under CPU load")
	flag.IntVar(&o.stressTransfers, "stress-transfers", 50, "streamed transfers under CPU load in each direction")
	only := flag.String("only", "", "run only these cases (comma-separated: "+strings.Join(onlyCases, ", ")+
		") into the results in -json (replacing those cases there) and rewrite -markdown")
	flag.DurationVar(&o.budget, "budget", 12*time.Minute, "time the whole run may take; streams move less on a slow machine to fit")
	flag.StringVar(&o.markdown, "markdown", "docs/benchmarks.md", "where to write the report")
	flag.StringVar(&o.notes, "notes", "bench/notes.md", "hand-written investigations appended to the report (skipped if missing)")
	flag.StringVar(&o.json, "json", "bench/results.json", "where to write the machine-readable results")
	rewrite := flag.Bool("rewrite", false, "only rewrite -markdown from the results in -json (no cluster, no runs)")
	onlyFleet := flag.Bool("only-fleet", false, "run only the fleet case, into the results in -json, and rewrite -markdown")
	onlyAgent := flag.Bool("only-agent", false, "run only the agent case (agent.go) on a cluster of its own and print it; the saved results are left alone")
	flag.Parse()
	if *rewrite {
		if err := rewriteMarkdown(o); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	runCases := run
	if *onlyFleet {
		runCases = runOnlyFleet
	}
	if *onlyAgent {
		runCases = runAgentBench
	}
	if *only != "" {
		sections := map[string]bool{}
		for _, c := range strings.Split(*only, ",") {
			if !slices.Contains(onlyCases, c) {
				fmt.Fprintf(os.Stderr, "bench: -only %s: no such case (%s)\n", c, strings.Join(onlyCases, ", "))
				os.Exit(2)
			}
			sections[c] = true
		}
		runCases = func(ctx context.Context, o options) error { return runOnly(ctx, o, sections) }
	}
	if err := runCases(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	for _, p := range []*string{&o.plugin, &o.floor, &o.script} {
		abs, err := filepath.Abs(*p)
		if err != nil {
			return err
		}
		if _, err := os.Stat(abs); err != nil {
			return fmt.Errorf("%w (make bench builds it)", err)
		}
		*p = abs
	}
	began := time.Now()
	res := &results{Date: began.UTC().Format(time.RFC3339), SessionRounds: o.sessionRounds, StreamRounds: o.rounds, HelpRounds: o.helpRounds}
	res.Machine = readMachine()
	res.Load = append(res.Load, loadSample("start"))

	dir, err := os.MkdirTemp("", "kns-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	defer removeSessionRecords()
	logf("starting a 1-node cluster in %s", dir)
	cluster, err := localcluster.Up(ctx, localcluster.Options{Nodes: 1, Dir: filepath.Join(dir, "cluster"), Log: os.Stderr})
	if err != nil {
		return fmt.Errorf("start the cluster: %w", err)
	}
	// The budget starts once the cluster is up: waiting for another process's cluster to be
	// torn down (only one runs at a time) is not the benchmark's time.
	upAt := time.Now()
	res.ClusterWaitS = upAt.Sub(began).Seconds()
	clusterUp := true
	stopCluster := func() {
		if !clusterUp {
			return
		}
		clusterUp = false
		logf("stopping the cluster")
		if err := cluster.Down(context.Background()); err != nil {
			fmt.Fprintln(os.Stderr, "bench: stopping the cluster:", err)
		}
	}
	defer stopCluster()
	e := &env{cluster: cluster, node: cluster.NodeNames()[0], kubectl: cluster.KubectlPath(),
		plugin: o.plugin, floor: o.floor, script: o.script, home: filepath.Join(dir, "home")}
	if err := os.MkdirAll(e.home, 0o700); err != nil {
		return err
	}
	if err := e.setup(ctx); err != nil {
		return err
	}
	res.Versions = readVersions(ctx, e)

	if err := runSessions(ctx, e, o, res); err != nil {
		return err
	}
	// Leave room for the start-up case and the teardown after the streams.
	if err := runStreams(ctx, e, o, res, upAt.Add(o.budget-time.Minute)); err != nil {
		return err
	}
	if err := runTransfers(ctx, e, o, res, map[string]bool{"cp": true, "port-forward": true, "stress": true}); err != nil {
		return err
	}
	if err := runColdStart(ctx, e, o, res); err != nil {
		return err
	}
	if o.fleetNodes > 0 {
		stopCluster()
		if err := runFleetCase(ctx, o, dir, res); err != nil {
			return err
		}
	}
	res.Load = append(res.Load, loadSample("end"))
	res.DurationS = time.Since(upAt).Seconds()
	res.Goals = judge(res)
	if err := writeJSON(o.json, res); err != nil {
		return err
	}
	if err := writeMarkdown(o.markdown, o.json, o.notes, res); err != nil {
		return err
	}
	logf("wrote %s and %s in %.0f s", o.markdown, o.json, res.DurationS)
	return nil
}

// runOnlyFleet runs the fleet case alone and puts it into the saved results (replacing
// the fleet case there), then rewrites the report: the other cases are left as measured.
func runOnlyFleet(ctx context.Context, o options) error {
	data, err := os.ReadFile(o.json)
	if err != nil {
		return err
	}
	var res results
	if err := json.Unmarshal(data, &res); err != nil {
		return fmt.Errorf("%s: %w", o.json, err)
	}
	if o.plugin, err = filepath.Abs(o.plugin); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "kns-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	defer removeSessionRecords()
	res.Failures = slices.DeleteFunc(res.Failures, func(f failure) bool { return f.Case == "fleet" })
	if err := runFleetCase(ctx, o, dir, &res); err != nil {
		return err
	}
	res.Goals = judge(&res)
	if err := writeJSON(o.json, &res); err != nil {
		return err
	}
	return writeMarkdown(o.markdown, o.json, o.notes, &res)
}

// rewriteMarkdown regenerates the report from saved results, for changes to the report's
// wording; the goals are judged again.
func rewriteMarkdown(o options) error {
	data, err := os.ReadFile(o.json)
	if err != nil {
		return err
	}
	var res results
	if err := json.Unmarshal(data, &res); err != nil {
		return fmt.Errorf("%s: %w", o.json, err)
	}
	res.Goals = judge(&res)
	return writeMarkdown(o.markdown, o.json, o.notes, &res)
}

// serveRegistry is the cluster's image registry: localcluster.Up starts it as a daemon by
// running this program again as `bench registry --addr ADDR --dir DIR`, as it does the
// localcluster command.
func serveRegistry(args []string) {
	fs := flag.NewFlagSet("registry", flag.ExitOnError)
	addr := fs.String("addr", localcluster.RegistryAddr, "listen address")
	dir := fs.String("dir", "", "blob directory")
	_ = fs.Parse(args)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := localcluster.ServeRegistry(ctx, *addr, *dir, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "bench registry:", err)
		os.Exit(1)
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}
