package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// oneShotCommands are the commands the time-to-first-output case runs on the node.
var oneShotCommands = [][]string{{"true"}, {"cat", "/etc/hostname"}}

// sessionRun is one run of a tool, kept until the audit log is read.
type sessionRun struct {
	tool    int
	command string
	round   int // -1: warm-up
	s       session
	err     error
}

// runSessions is the time-to-first-output case and, from the same runs, the API-request
// case: every tool runs every command once per round, in an order that rotates by round.
func runSessions(ctx context.Context, e *env, o options, res *results) error {
	tools := sessionTools()
	var runs []sessionRun
	for round := -1; round < o.sessionRounds; round++ {
		if round >= 0 {
			res.Load = append(res.Load, loadSample(fmt.Sprintf("sessions round %d", round+1)))
		}
		for i := range tools {
			t := (i + max(round, 0)) % len(tools)
			for j := range oneShotCommands {
				command := oneShotCommands[(j+max(round, 0))%len(oneShotCommands)]
				if err := e.settle(ctx); err != nil {
					return fmt.Errorf("before %s: %w", tools[t].Name, err)
				}
				s, err := tools[t].Run(ctx, e, command)
				if err == nil {
					err = checkOutput(e, command, s.Stdout)
				}
				if ctx.Err() != nil {
					return ctx.Err()
				}
				name := strings.Join(command, " ")
				logf("round %d: %-30s -- %-17s first output %6.0f ms, wall %6.0f ms%s", round+1, tools[t].Name, name,
					ms(s.firstOutput()), ms(s.wall()), errSuffix(err))
				runs = append(runs, sessionRun{tool: t, command: name, round: round, s: s, err: err})
				if err != nil {
					if err := e.cleanUp(ctx); err != nil {
						return err
					}
				}
			}
		}
	}
	if err := e.settle(ctx); err != nil {
		return err
	}
	time.Sleep(200 * time.Millisecond) // let the last audit events reach the log
	events, err := readAudit(e.cluster.AuditLogPath(), adminUser)
	if err != nil {
		return err
	}
	for t, tool := range tools {
		for _, command := range oneShotCommands {
			res.Sessions = append(res.Sessions, summarizeSessions(tool, strings.Join(command, " "), runs, t, res))
		}
		res.Requests = append(res.Requests, summarizeRequests(tool, runs, t, events))
	}
	return nil
}

// errWrongOutput marks a run whose command's output was not what the node holds.
var errWrongOutput = errors.New("wrong output")

func checkOutput(e *env, command []string, stdout string) error {
	want := ""
	if command[0] == "cat" {
		want = e.hostname
	}
	if stdout != want {
		return fmt.Errorf("%w: stdout %q, want %q", errWrongOutput, stdout, want)
	}
	return nil
}

func errSuffix(err error) string {
	if err == nil {
		return ""
	}
	return "  FAILED: " + firstLine(err.Error())
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " …"
	}
	return s
}

// sessionResult is the time-to-first-output case for one tool and command.
type sessionResult struct {
	Tool          string             `json:"tool"`
	Name          string             `json:"name"`
	How           string             `json:"how"`
	Command       string             `json:"command"`
	FirstOutputMS summary            `json:"first_output_ms"`
	WallMS        summary            `json:"wall_ms"`
	StepsMS       map[string]summary `json:"steps_ms,omitempty"`
	MaxRSSKiB     summary            `json:"max_rss_kib"`
	Failed        int                `json:"failed"`
}

func summarizeSessions(tool sessionTool, command string, runs []sessionRun, t int, res *results) sessionResult {
	out := sessionResult{Tool: tool.Key, Name: tool.Name, How: tool.How, Command: command}
	var first, wall, rss []float64
	steps := map[string][]float64{}
	var stepOrder []string
	for _, r := range runs {
		if r.tool != t || r.command != command || r.round < 0 {
			continue
		}
		if r.err != nil {
			out.Failed++
			res.Failures = append(res.Failures, failure{Case: "session", Tool: tool.Name, What: "-- " + command, Round: r.round + 1,
				Silent: r.s.Status == 0 && errors.Is(r.err, errWrongOutput), Error: r.err.Error()})
			continue
		}
		first = append(first, ms(r.s.firstOutput()))
		wall = append(wall, ms(r.s.wall()))
		rss = append(rss, float64(r.s.MaxRSS))
		if len(r.s.Steps) > 1 {
			for _, st := range r.s.Steps {
				if _, ok := steps[st.Name]; !ok {
					stepOrder = append(stepOrder, st.Name)
				}
				steps[st.Name] = append(steps[st.Name], st.WallMS)
			}
		}
	}
	out.FirstOutputMS, out.WallMS, out.MaxRSSKiB = summarize(first), summarize(wall), summarize(rss)
	if len(steps) > 0 {
		out.StepsMS = map[string]summary{}
		for _, name := range stepOrder {
			out.StepsMS[name] = summarize(steps[name])
		}
	}
	return out
}

// requestResult is the API-request case for one tool: what one session asks of the
// apiserver, counted from the audit log over every measured run of both commands.
type requestResult struct {
	Tool       string       `json:"tool"`
	Name       string       `json:"name"`
	PerSession summary      `json:"per_session"`
	Sequential summary      `json:"sequential_round_trips"`
	ByLabel    []labelCount `json:"by_verb_resource"`
	// Consistent is set when every run made the same requests (by verb and resource).
	Consistent bool `json:"consistent"`
	// Timeline is a typical `-- true` run, request by request: of the runs with the median
	// number of sequential round trips, the one with the median wall time.
	Timeline []request `json:"timeline"`
	// BeforeFirstMS is from the tool's first process start to its first request;
	// AfterLastMS from the last request's end to the last process's exit.
	BeforeFirstMS summary  `json:"before_first_request_ms"`
	AfterLastMS   summary  `json:"after_last_request_ms"`
	UserAgents    []string `json:"user_agents"`
	// PhasesMS splits `-- true` runs of create-watch-exec tools at their requests (see
	// phaseNames); OwnMS is their wall time minus the pod start: the tool's own time.
	PhasesMS map[string]summary `json:"phases_ms,omitempty"`
	OwnMS    summary            `json:"own_ms"`
}

func summarizeRequests(tool sessionTool, runs []sessionRun, t int, events []auditEvent) requestResult {
	out := requestResult{Tool: tool.Key, Name: tool.Name, Consistent: true}
	var counts, rounds, before, after, own []float64
	phases := map[string][]float64{}
	var firstLabels []labelCount
	type trueRun struct {
		wall   time.Duration
		rounds int
		reqs   []request
	}
	var trueRuns []trueRun
	for _, r := range runs {
		if r.tool != t || r.round < 0 || r.err != nil {
			continue
		}
		reqs := requestsIn(events, r.s.Start, r.s.End)
		if len(reqs) == 0 {
			continue
		}
		labels := countLabels(reqs)
		if firstLabels == nil {
			firstLabels = labels
		} else if !sameLabels(firstLabels, labels) {
			out.Consistent = false
		}
		counts = append(counts, float64(len(reqs)))
		rounds = append(rounds, float64(sequentialRounds(reqs)))
		before = append(before, ms(reqs[0].Received.Sub(r.s.Start)))
		last := reqs[0].Completed
		for _, q := range reqs {
			if q.Completed.After(last) {
				last = q.Completed
			}
			if !slices.Contains(out.UserAgents, q.UserAgent) {
				out.UserAgents = append(out.UserAgents, q.UserAgent)
			}
		}
		after = append(after, ms(r.s.End.Sub(last)))
		if r.command == "true" {
			trueRuns = append(trueRuns, trueRun{r.s.wall(), sequentialRounds(reqs), reqs})
			if p, ok := phasesOf(reqs, r.s); ok {
				for name, v := range p {
					phases[name] = append(phases[name], v)
				}
				own = append(own, ms(r.s.wall())-p["pod start"])
			}
		}
	}
	out.PerSession, out.Sequential = summarize(counts), summarize(rounds)
	out.BeforeFirstMS, out.AfterLastMS = summarize(before), summarize(after)
	out.ByLabel = firstLabels
	if len(phases) > 0 {
		out.PhasesMS = map[string]summary{}
		for name, v := range phases {
			out.PhasesMS[name] = summarize(v)
		}
		out.OwnMS = summarize(own)
	}
	if len(trueRuns) > 0 {
		slices.SortFunc(trueRuns, func(a, b trueRun) int { return a.rounds - b.rounds })
		typical := trueRuns[len(trueRuns)/2].rounds
		trueRuns = slices.DeleteFunc(trueRuns, func(t trueRun) bool { return t.rounds != typical })
		slices.SortFunc(trueRuns, func(a, b trueRun) int { return int(a.wall - b.wall) })
		out.Timeline = trueRuns[len(trueRuns)/2].reqs
	}
	return out
}

func sameLabels(a, b []labelCount) bool {
	count := func(ls []labelCount) map[string]int {
		m := map[string]int{}
		for _, l := range ls {
			m[l.Label] += l.Count
		}
		return m
	}
	ma, mb := count(a), count(b)
	if len(ma) != len(mb) {
		return false
	}
	for k, v := range ma {
		if mb[k] != v {
			return false
		}
	}
	return true
}
