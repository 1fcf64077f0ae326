package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

// results is everything one benchmark run measured; bench/results.json is this, as JSON.
type results struct {
	Date string `json:"date"`
	// DurationS is from the cluster being up to the report; ClusterWaitS what starting the
	// cluster took, including waiting for the machine's one cluster slot.
	DurationS     float64         `json:"duration_s"`
	ClusterWaitS  float64         `json:"cluster_start_s"`
	SessionRounds int             `json:"session_rounds"`
	StreamRounds  int             `json:"stream_rounds"`
	HelpRounds    int             `json:"help_rounds"`
	Machine       machine         `json:"machine"`
	Versions      versions        `json:"versions"`
	Load          []load          `json:"load"`
	Sessions      []sessionResult `json:"time_to_first_output"`
	Requests      []requestResult `json:"api_requests"`
	Streams       []streamResult  `json:"streams"`
	// StreamSizes says what the streams moved, and whether less than asked (a slow machine).
	StreamSizes streamSizes `json:"stream_sizes"`
	// Transfers are the cp and port-forward cases; Stress the streamed transfers under CPU load.
	Transfers         []transferResult `json:"transfers"`
	CpRounds          int              `json:"cp_rounds"`
	PortForwardRounds int              `json:"port_forward_rounds"`
	Stress            []stressResult   `json:"stress"`
	StressTransfers   int              `json:"stress_transfers"`
	// Partial lists the cases run alone (bench -only) since the full run, merged in.
	Partial   []partialRun `json:"partial_runs,omitempty"`
	ColdStart coldStart    `json:"cold_start"`
	Fleet     *fleetResult `json:"fleet,omitempty"`
	Goals     []goal       `json:"goals"`
	Failures  []failure    `json:"failures"`
}

// failure is a run left out of the numbers: the tool failed, or worse, exited 0 with the
// wrong output.
type failure struct {
	Case  string `json:"case"` // "session", "stream", "cp", "port-forward", "stress" or "fleet"
	Tool  string `json:"tool"`
	What  string `json:"what"` // the command or the direction
	Round int    `json:"round"`
	// Silent is set when the tool exited 0 but its output was wrong or short: data lost
	// without an error, the worst kind of failure.
	Silent bool   `json:"silent"`
	Error  string `json:"error"`
}

// goal is one of the targets and whether this run met it.
type goal struct {
	Goal     string `json:"goal"`
	Target   string `json:"target"`
	Measured string `json:"measured"`
	Met      bool   `json:"met"`
	// Why explains a miss (or a caveat) in terms of what was measured.
	Why string `json:"why,omitempty"`
}

func (r *results) session(tool, command string) sessionResult {
	for _, s := range r.Sessions {
		if s.Tool == tool && s.Command == command {
			return s
		}
	}
	return sessionResult{}
}

func (r *results) requests(tool string) requestResult {
	for _, q := range r.Requests {
		if q.Tool == tool {
			return q
		}
	}
	return requestResult{}
}

func (r *results) stream(tool, dir string) streamResult {
	for _, s := range r.Streams {
		if s.Tool == tool && s.Direction == dir {
			return s
		}
	}
	return streamResult{}
}

func writeJSON(path string, r *results) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}

// judge compares the run with the goals.
func judge(r *results) []goal {
	var goals []goal
	floorReq := r.requests("floor")
	for _, mode := range []struct{ tool, name string }{{"node-shell", "node-shell"}, {"node-shell-nsenter", "node-shell --nsenter"}} {
		for _, command := range []string{"true", "cat /etc/hostname"} {
			ns, fl := r.session(mode.tool, command).FirstOutputMS.Median, r.session("floor", command).FirstOutputMS.Median
			g := goal{
				Goal:     fmt.Sprintf("time to first output, %s `-- %s`, vs the floor", mode.name, command),
				Target:   "≤ floor + 150 ms",
				Measured: fmt.Sprintf("%.0f ms vs %.0f ms (%+.0f ms)", ns, fl, ns-fl),
				Met:      ns > 0 && fl > 0 && ns <= fl+150,
			}
			if ns == 0 || fl == 0 {
				g.Measured = noData
			} else if !g.Met {
				g.Why = phaseDiff(r.requests(mode.tool), floorReq)
			}
			goals = append(goals, g)
		}
		// The pod's start (the kubelet's 1 s relist) dominates and scatters the totals; the
		// tool's own time is the rest, and is what the tool can change.
		req := r.requests(mode.tool)
		g := goal{
			Goal:   fmt.Sprintf("%s's own time (`-- true` without the pod start), vs the floor's", mode.name),
			Target: "≤ floor + 150 ms",
			Measured: fmt.Sprintf("%.0f ms vs %.0f ms (%+.0f ms)", req.OwnMS.Median, floorReq.OwnMS.Median,
				req.OwnMS.Median-floorReq.OwnMS.Median),
			Met: req.OwnMS.N > 0 && floorReq.OwnMS.N > 0 && req.OwnMS.Median <= floorReq.OwnMS.Median+150,
		}
		if req.OwnMS.N == 0 || floorReq.OwnMS.N == 0 {
			g.Measured = noData
		}
		g.Why = phaseDiff(req, floorReq)
		goals = append(goals, g)
	}
	for _, command := range []string{"true", "cat /etc/hostname"} {
		ns, sh := r.session("node-shell", command).FirstOutputMS.Median, r.session("shell-script", command).FirstOutputMS.Median
		g := goal{
			Goal:     fmt.Sprintf("time to first output, `-- %s`, vs the shell-script plugin", command),
			Target:   "≤ 0.5 × shell-script",
			Measured: fmt.Sprintf("%.0f ms vs %.0f ms (%.3f×)", ns, sh, ratio(ns, sh)),
			Met:      ns > 0 && sh > 0 && ns <= 0.5*sh,
		}
		if ns == 0 || sh == 0 {
			g.Measured = noData
		} else if !g.Met {
			g.Why = scriptGap(r, command, ns, sh)
		}
		goals = append(goals, g)
	}
	goals = append(goals, judgeRequests(r))
	for _, dir := range []string{"out", "in"} {
		ns, ke := r.stream("node-shell", dir).MiBPerS.Median, r.stream("kubectl-exec", dir).MiBPerS.Median
		what := map[string]string{"out": "node → stdout", "in": "stdin → node"}[dir]
		// The bar for stdin is 0.95× ("Done when"); stdout had already met 1.0×.
		want := map[string]float64{"out": 1.0, "in": 0.95}[dir]
		g := goal{
			Goal:     "stream throughput, " + what,
			Target:   fmt.Sprintf("≥ %.2g × kubectl exec", want),
			Measured: fmt.Sprintf("%.0f vs %.0f MiB/s (%.2f×)", ns, ke, ratio(ns, ke)),
			Met:      ns > 0 && ke > 0 && ns >= want*ke,
		}
		if ns == 0 || ke == 0 {
			g.Measured = noData
		} else if !g.Met {
			nsr, ker := r.stream("node-shell", dir), r.stream("kubectl-exec", dir)
			var why []string
			if nsr.SecondHalfMiBPerS.N > 0 && ker.SecondHalfMiBPerS.N > 0 {
				why = append(why, fmt.Sprintf("over the second half of the bytes (the steady state) %.0f vs %.0f MiB/s (%.2f×)",
					nsr.SecondHalfMiBPerS.Median, ker.SecondHalfMiBPerS.Median, ratio(nsr.SecondHalfMiBPerS.Median, ker.SecondHalfMiBPerS.Median)))
			}
			overlap := "overlap"
			if nsr.MiBPerS.Max < ker.MiBPerS.Min {
				overlap = "do not overlap"
			}
			why = append(why, fmt.Sprintf("the runs' ranges %s (node-shell %.0f–%.0f, kubectl exec %.0f–%.0f MiB/s)",
				overlap, nsr.MiBPerS.Min, nsr.MiBPerS.Max, ker.MiBPerS.Min, ker.MiBPerS.Max))
			if spdy := r.stream("kubectl-exec-spdy", dir); spdy.MiBPerS.N > 0 {
				why = append(why, fmt.Sprintf("on equal terms, kubectl exec over SPDY as node-shell goes: %.0f MiB/s (node-shell %.2f× it)",
					spdy.MiBPerS.Median, ratio(ns, spdy.MiBPerS.Median)))
			}
			why = append(why, fmt.Sprintf("both go through the same apiserver, kubelet and containerd, and the "+
				"stream is CPU-bound: about %.0f CPU-seconds per GiB over the client and the cluster's processes, on %d cores",
				cpuPerGiB(ker), r.Machine.Cores))
			g.Why = strings.Join(why, "; ")
		}
		goals = append(goals, g)
	}
	goals = append(goals, judgeRSS(r))
	goals = append(goals, judgeStress(r)...)
	if len(r.ColdStart.Help) > 0 {
		h := r.ColdStart.Help[0]
		goals = append(goals, goal{
			Goal:     "`kubectl-node_shell --help` start-up",
			Target:   "≤ 50 ms",
			Measured: fmt.Sprintf("%.1f ms", h.WallMS.Median),
			Met:      h.WallMS.N > 0 && h.WallMS.Median <= 50,
		})
	}
	goals = append(goals, judgeFleet(r)...)
	return goals
}

// phaseDiff says where a tool's `-- true` run spends more (or less) than the floor's.
func phaseDiff(tool, floor requestResult) string {
	if len(tool.PhasesMS) == 0 || len(floor.PhasesMS) == 0 {
		return ""
	}
	var parts []string
	for _, name := range phaseNames {
		parts = append(parts, fmt.Sprintf("%s %+.0f ms", name, tool.PhasesMS[name].Median-floor.PhasesMS[name].Median))
	}
	return fmt.Sprintf("%s vs the floor, medians by phase: %s (see *Where the time goes*)", tool.Name, strings.Join(parts, ", "))
}

// scriptGap explains a miss against the shell-script plugin: both wait for the same pod
// start, which no client can shorten, so the ratio is bounded by it.
func scriptGap(r *results, command string, ns, sh float64) string {
	podStart := r.requests("floor").PhasesMS["pod start"].Median
	own := r.requests("node-shell").OwnMS.Median
	if podStart == 0 || own == 0 {
		return ""
	}
	return fmt.Sprintf("both wait for the kubelet to start a pod (the floor's median pod start: %.0f ms; it moves in steps of the "+
		"kubelet's 1 s relist, so single medians scatter). Less that, the shell-script sequence spends about %.0f ms of its own "+
		"(five kubectl processes; `kubectl run` watches, then attaches or reads the logs) and node-shell %.0f ms; at the same pod "+
		"start node-shell takes %.2f× the script's time; 0.5× needs a pod start under %.0f ms",
		podStart, sh-podStart, own, (own+podStart)/sh, sh-podStart-2*own)
}

// noData is the measurement of a goal whose runs all failed.
const noData = "no data: every run failed (see Failed runs)"

// judgeRequests checks node-shell's requests: none for discovery, none repeated to poll.
func judgeRequests(r *results) goal {
	req, fl := r.requests("node-shell"), r.requests("floor")
	var discovery, polling, extra []string
	floorLabels := map[string]int{}
	for _, l := range fl.ByLabel {
		floorLabels[l.Label] = l.Count
	}
	for _, l := range req.ByLabel {
		verb, what, _ := strings.Cut(l.Label, " ")
		if strings.HasPrefix(what, "/") {
			discovery = append(discovery, l.Label)
		}
		if (verb == "get" || verb == "list") && !strings.Contains(what, "/") && l.Count > 1 {
			polling = append(polling, fmt.Sprintf("%s ×%d", l.Label, l.Count))
		}
		if n := l.Count - floorLabels[l.Label]; n > 0 {
			extra = append(extra, fmt.Sprintf("%s ×%d", l.Label, n))
		}
	}
	g := goal{
		Goal:   "API requests per session (node-shell)",
		Target: "no discovery, no polling; every request justified",
		Measured: fmt.Sprintf("%.0f per session (%.0f sequential round trips); floor %.0f (%.0f)",
			req.PerSession.Median, req.Sequential.Median, fl.PerSession.Median, fl.Sequential.Median),
		Met: req.PerSession.N > 0 && len(discovery) == 0 && len(polling) == 0,
	}
	var why []string
	if len(discovery) > 0 {
		why = append(why, "discovery: "+strings.Join(discovery, ", "))
	}
	if len(polling) > 0 {
		why = append(why, "repeated reads: "+strings.Join(polling, ", "))
	}
	if len(extra) > 0 {
		why = append(why, "beyond the floor: "+strings.Join(extra, ", "))
	}
	if !req.Consistent {
		why = append(why, "the requests differed between runs")
	}
	g.Why = strings.Join(why, "; ")
	return g
}

// judgeRSS calls memory bounded when moving 1 GiB takes at most twice the memory of a
// session that moves nothing.
func judgeRSS(r *results) goal {
	idle := r.session("node-shell", "true").MaxRSSKiB.Median
	peak := max(r.stream("node-shell", "out").MaxRSSKiB.Max, r.stream("node-shell", "in").MaxRSSKiB.Max)
	kubectl := max(r.stream("kubectl-exec", "out").MaxRSSKiB.Max, r.stream("kubectl-exec", "in").MaxRSSKiB.Max)
	return goal{
		Goal:     "node-shell peak RSS while streaming",
		Target:   "bounded: ≤ 2 × a `-- true` session's",
		Measured: fmt.Sprintf("%.1f MiB streaming vs %.1f MiB for `-- true` (kubectl exec: %.1f MiB)", peak/1024, idle/1024, kubectl/1024),
		Met:      idle > 0 && peak > 0 && peak <= 2*idle,
	}
}

// cpuPerGiB is the CPU-seconds a GiB costs the tool and the cluster's processes together.
func cpuPerGiB(s streamResult) float64 {
	gib := float64(s.Bytes) / (1 << 30)
	if gib == 0 {
		return 0
	}
	total := s.CPUMS.Median
	for _, c := range s.ClusterCPUMS {
		total += c.Median
	}
	return total / 1000 / gib
}
