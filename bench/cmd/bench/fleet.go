package main

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/kubectl-node-shell/kubectl-node-shell/integration/localcluster"
)

// node-shell's default --parallel (pkg/fleet.DefaultParallel) and its client rate limit per
// parallel session (pkg/cmd fleetQPSPerSession), for the model.
const (
	fleetParallel      = 16
	fleetQPSPerSession = 10
)

// fleetPoint is one fleet size of the fleet case: `-- true` on that many nodes at once.
type fleetPoint struct {
	Nodes  int     `json:"nodes"`
	How    string  `json:"how"`
	WallMS summary `json:"wall_ms"`
	// RequestsPerNode is the run's API requests (audit log) divided by its nodes; Fixed is
	// what a fleet makes once whatever its size (preflight, sweep, the user's review).
	RequestsPerNode summary      `json:"requests_per_node"`
	ByLabel         []labelCount `json:"by_verb_resource"`
	Failed          int          `json:"failed"`
}

// fleetResult is the fleet case: fleets of several sizes against one plain session, round
// after round on one multi-node cluster.
type fleetResult struct {
	ClusterNodes int `json:"cluster_nodes"`
	Rounds       int `json:"rounds"`
	// NodeRSSMiB is what one node of the local cluster holds in memory: the resident set of
	// its kubelet and containerd (/proc/PID/status VmRSS), idle, summed over the cluster's
	// nodes and divided by them. ControlPlaneRSSMiB is the rest of the cluster's processes.
	NodeRSSMiB         float64      `json:"node_rss_mib"`
	ControlPlaneRSSMiB float64      `json:"control_plane_rss_mib"`
	Single             fleetPoint   `json:"single_session"`
	Fleets             []fleetPoint `json:"fleets"`
}

// clusterRSSKiB sums the resident sets of the processes whose command line names dir (the
// cluster's runtime directory): those of the nodes' kubelets and containerds, and the rest.
func clusterRSSKiB(dir string) (nodes, rest int64) {
	entries, _ := os.ReadDir("/proc")
	for _, en := range entries {
		pid := en.Name()
		if _, err := strconv.Atoi(pid); err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", pid, "cmdline"))
		if err != nil || !strings.Contains(string(cmdline), dir) {
			continue
		}
		rss := vmRSSKiB(filepath.Join("/proc", pid, "status"))
		switch filepath.Base(strings.SplitN(string(cmdline), "\x00", 2)[0]) {
		case "kubelet", "containerd":
			nodes += rss
		default:
			rest += rss
		}
	}
	return nodes, rest
}

// vmRSSKiB is the VmRSS line of a /proc/PID/status file, in KiB.
func vmRSSKiB(path string) int64 {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) >= 2 && f[0] == "VmRSS:" {
			v, _ := strconv.ParseInt(f[1], 10, 64)
			return v
		}
	}
	return 0
}

// fleetRun is one measured run of the fleet case.
type fleetRun struct {
	point      int // index into the sizes; -1 for the single session
	start, end time.Time
	err        error
}

// runFleetCase starts its own cluster of o.fleetNodes nodes (the 1-node cluster is down by
// then: one cluster at a time) and runs, interleaved round by round, one plain session and
// fleets of 1, 3 and every node, each after the previous one's pods are gone everywhere.
func runFleetCase(ctx context.Context, o options, dir string, res *results) error {
	logf("starting a %d-node cluster for the fleet case", o.fleetNodes)
	cluster, err := localcluster.Up(ctx, localcluster.Options{Nodes: o.fleetNodes, Dir: filepath.Join(dir, "fleet-cluster"), Log: os.Stderr})
	if err != nil {
		return fmt.Errorf("start the %d-node cluster: %w", o.fleetNodes, err)
	}
	defer func() {
		logf("stopping the %d-node cluster", o.fleetNodes)
		if err := cluster.Down(context.Background()); err != nil {
			fmt.Fprintln(os.Stderr, "bench: stopping the cluster:", err)
		}
	}()
	nodes := cluster.NodeNames()
	e := &env{cluster: cluster, node: nodes[0], kubectl: cluster.KubectlPath(), plugin: o.plugin, home: filepath.Join(dir, "fleet-home")}
	if err := os.MkdirAll(e.home, 0o700); err != nil {
		return err
	}
	if err := e.setup(ctx); err != nil {
		return err
	}
	fr := &fleetResult{ClusterNodes: len(nodes), Rounds: o.fleetRounds}
	nodeRSS, restRSS := clusterRSSKiB(cluster.StateDir())
	fr.NodeRSSMiB, fr.ControlPlaneRSSMiB = float64(nodeRSS)/1024/float64(len(nodes)), float64(restRSS)/1024
	var sizes []int
	for _, n := range []int{1, 3, len(nodes)} {
		if n <= len(nodes) && (len(sizes) == 0 || sizes[len(sizes)-1] < n) {
			sizes = append(sizes, n)
		}
	}
	args := func(point int) []string {
		a := []string{"-n", benchNamespace}
		switch {
		case point < 0:
			return append(a, nodes[0], "--", "true")
		case sizes[point] == len(nodes):
			return append(a, "--all", "--", "true")
		case sizes[point] == 1:
			return append(a, "--output-dir", filepath.Join(dir, "fleet-out"), nodes[0], "--", "true")
		}
		return append(append(a, nodes[:sizes[point]]...), "--", "true")
	}
	how := func(point int) string {
		return "kubectl-node_shell " + strings.ReplaceAll(strings.Join(args(point), " "), filepath.Join(dir, "fleet-out"), "DIR")
	}
	fr.Single = fleetPoint{Nodes: 1, How: how(-1)}
	for i, n := range sizes {
		fr.Fleets = append(fr.Fleets, fleetPoint{Nodes: n, How: how(i)})
	}
	settleAll := func() error {
		for _, n := range nodes {
			e.node = n
			if err := e.settle(ctx); err != nil {
				return err
			}
		}
		e.node = nodes[0]
		return nil
	}
	var runs []fleetRun
	order := append([]int{-1}, func() []int {
		var idx []int
		for i := range sizes {
			idx = append(idx, i)
		}
		return idx
	}()...)
	for round := -1; round < o.fleetRounds; round++ {
		for k := range order {
			point := order[(k+max(round, 0))%len(order)]
			if err := settleAll(); err != nil {
				return err
			}
			r, err := runProc(ctx, procSpec{Path: e.plugin, Args: args(point), Env: e.procEnv(), Timeout: 3 * time.Minute})
			if err == nil && r.Status != 0 {
				err = fmt.Errorf("status %d: %s", r.Status, firstLine(r.Stderr))
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			n := 1
			if point >= 0 {
				n = sizes[point]
			}
			logf("fleet round %d: %2d node(s)%s wall %6.0f ms%s", round+1, n, map[bool]string{true: " (plain)", false: ""}[point < 0],
				ms(r.Wall()), errSuffix(err))
			if round >= 0 {
				runs = append(runs, fleetRun{point: point, start: r.Start, end: r.End, err: err})
			}
		}
	}
	if err := settleAll(); err != nil {
		return err
	}
	time.Sleep(200 * time.Millisecond) // let the last audit events reach the log
	events, err := readAudit(cluster.AuditLogPath(), adminUser)
	if err != nil {
		return err
	}
	summarizePoint := func(p *fleetPoint, point int) {
		var walls, perNode []float64
		for _, r := range runs {
			if r.point != point {
				continue
			}
			if r.err != nil {
				p.Failed++
				res.Failures = append(res.Failures, failure{Case: "fleet", Tool: "node-shell", What: fmt.Sprintf("%d nodes", p.Nodes), Error: r.err.Error()})
				continue
			}
			walls = append(walls, ms(r.end.Sub(r.start)))
			reqs := requestsIn(events, r.start, r.end)
			perNode = append(perNode, float64(len(reqs))/float64(p.Nodes))
			if p.ByLabel == nil {
				p.ByLabel = countLabels(reqs)
			}
		}
		p.WallMS, p.RequestsPerNode = summarize(walls), summarize(perNode)
	}
	summarizePoint(&fr.Single, -1)
	for i := range fr.Fleets {
		summarizePoint(&fr.Fleets[i], i)
	}
	res.Fleet = fr
	return nil
}

// judgeFleet is the fleet target: the largest fleet within twice one session.
func judgeFleet(r *results) []goal {
	f := r.Fleet
	if f == nil || len(f.Fleets) == 0 {
		return nil
	}
	big := f.Fleets[len(f.Fleets)-1]
	one, n, fleetOfOne := f.Single.WallMS.Median, big.WallMS.Median, f.Fleets[0].WallMS.Median
	g := goal{
		Goal:   fmt.Sprintf("fleet of %d nodes (`--all -- true`), vs one session", big.Nodes),
		Target: "≤ 2× one node",
		Measured: fmt.Sprintf("%.0f ms vs %.0f ms (%.2f×; %.2f× a fleet of one, %.0f ms)", n, one, n/one,
			n/fleetOfOne, fleetOfOne),
		Met: one > 0 && n > 0 && n <= 2*one,
	}
	if one == 0 || n == 0 {
		g.Measured = noData
	} else if !g.Met {
		g.Why = fmt.Sprintf("%d pods start at once on one %d-core machine that runs all %d kubelets and containerds", big.Nodes, r.Machine.Cores, f.ClusterNodes)
	}
	return []goal{g}
}

// writeFleet is the fleet section, with the 1,000-node model drawn from its numbers.
func writeFleet(w writer, r *results) {
	f := r.Fleet
	if f == nil {
		return
	}
	w("## 5. Many nodes\n\n")
	w("`-- true` on a local cluster of %d real kubelets, all on this machine and sharing its %d CPUs (a node,\n", f.ClusterNodes, r.Machine.Cores)
	w("its kubelet and containerd idle, holds %.0f MiB resident; the control plane %.0f MiB), %d rounds interleaved\n", f.NodeRSSMiB, f.ControlPlaneRSSMiB, f.Rounds)
	w("after a warm-up, each run once every pod of the one before is gone. Requests are the apiserver's audit\n")
	w("log for the run, over its nodes.\n\n")
	w("| run | nodes | wall | requests per node |\n|---|---|---|---|\n")
	row := func(name string, p fleetPoint) {
		w("| `%s` | %d | %s | %s |\n", name, p.Nodes, msRange(p.WallMS), rateRange1(p.RequestsPerNode))
	}
	row(f.Single.How, f.Single)
	for _, p := range f.Fleets {
		row(p.How, p)
	}
	w("\n")
	if len(f.Fleets) > 0 {
		big := f.Fleets[len(f.Fleets)-1]
		var labels []string
		for _, l := range big.ByLabel {
			labels = append(labels, fmt.Sprintf("%s ×%d", l.Label, l.Count))
		}
		w("Requests of one %d-node run: %s.\n\n", big.Nodes, strings.Join(labels, ", "))
		writeFleetModel(w, f, big)
	}
}

// writeFleetModel scales the measured points to 1,000 nodes at the default parallelism.
func writeFleetModel(w writer, f *fleetResult, big fleetPoint) {
	const nodes = 1000
	one := f.Fleets[0]
	if one.WallMS.N == 0 || big.WallMS.N == 0 || big.Nodes < 2 {
		return
	}
	// Requests made once per fleet (preflight, the node list, the sweep, the user's review)
	// are the labels of the largest run seen fewer times than it has nodes; the rest are
	// its sessions'.
	var total, fixedReq float64
	for _, l := range big.ByLabel {
		total += float64(l.Count)
		if l.Count < big.Nodes {
			fixedReq += float64(l.Count)
		}
	}
	perNode := (total - fixedReq) / float64(big.Nodes)
	session := one.WallMS.Median
	batches := math.Ceil(float64(nodes) / fleetParallel)
	wall := batches * session
	w("**1,000 nodes, modelled** (default `--parallel %d`; the local cluster cannot hold 1,000 kubelets). A slot runs\n", fleetParallel)
	w("one session after another, so the fleet takes about ⌈1000/%d⌉ = %.0f session times. With one session's\n", fleetParallel, batches)
	w("time as measured here (%.0f ms, the 1-node fleet), that is **%.0f s**; on a cluster whose nodes each start\n", session, wall/1000)
	w("their pod alone (real nodes do not share CPUs), the session time is what one node takes, not what %d\n", big.Nodes)
	rate := perNode * fleetParallel / (session / 1000)
	limit := fleetQPSPerSession * fleetParallel
	verdict := "within"
	if rate > float64(limit) {
		verdict = "above, so the limiter spreads them a little,"
	}
	longRunning := 0
	for _, l := range big.ByLabel {
		if strings.HasPrefix(l.Label, "watch ") || strings.HasSuffix(l.Label, "/exec") {
			longRunning += l.Count
		}
	}
	w("crowded kubelets take. Requests: about **%.1f per node** (%.0f in all; %.0f for a pod that runs within a\n", perNode, perNode*nodes, one.RequestsPerNode.Median*float64(one.Nodes)-fixedReq)
	w("second, as in the 1-node runs), plus %.0f once per fleet; at %d\n", fixedReq, fleetParallel)
	w("sessions in flight that is about **%.0f requests/s** at the apiserver, %s the client's own limit\n", rate, verdict)
	w("(%d QPS per parallel session, %d QPS) and far below what an apiserver serves. Long-running requests\n", fleetQPSPerSession, limit)
	w("(the pod's watch and the exec, and the node-health watches of a pod slow to start: %.0f per node here)\n", float64(longRunning)/float64(big.Nodes))
	w("stay at most %.0f at a time.\n", math.Ceil(float64(longRunning)/float64(big.Nodes))*fleetParallel)
	w("A command that runs longer adds one heartbeat patch per node every 11 s (a quarter of the 45 s\n")
	w("timeout): %d in flight, under 1.5 requests/s.\n\n", fleetParallel)
}

func rateRange1(s summary) string {
	if s.N == 0 {
		return "–"
	}
	return fmt.Sprintf("%.1f (%.1f–%.1f)", s.Median, s.Min, s.Max)
}
