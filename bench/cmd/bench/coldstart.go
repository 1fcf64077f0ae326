package main

import (
	"context"
	"fmt"
	"os"
	"strings"
)

// coldStart is the start-up case: how long `--help` takes and how big the binaries are.
type coldStart struct {
	Help []helpResult `json:"help"`
	// FirstHelpMS is the very first --help of the plugin binary in this run, before the
	// rounds (its pages may still have been in the page cache from the build).
	FirstHelpMS float64          `json:"first_help_ms"`
	SizeBytes   map[string]int64 `json:"size_bytes"`
}

type helpResult struct {
	Name      string  `json:"name"`
	Command   string  `json:"command"`
	WallMS    summary `json:"wall_ms"`
	MaxRSSKiB summary `json:"max_rss_kib"`
}

// runColdStart times --help of the plugin run directly, through kubectl's plugin dispatch
// (what a user types), and kubectl's own debug --help for scale, interleaved.
func runColdStart(ctx context.Context, e *env, o options, res *results) error {
	cases := []struct {
		name, path string
		args       []string
	}{
		{"kubectl-node_shell --help", e.plugin, []string{"--help"}},
		{"kubectl node-shell --help", e.kubectl, []string{"node-shell", "--help"}},
		{"kubectl debug --help", e.kubectl, []string{"debug", "--help"}},
	}
	cs := &res.ColdStart
	first, err := runProc(ctx, procSpec{Path: e.plugin, Args: []string{"--help"}, Env: e.procEnv()})
	if err != nil {
		return err
	}
	cs.FirstHelpMS = ms(first.Wall())
	wall := make([][]float64, len(cases))
	rss := make([][]float64, len(cases))
	for round := 0; round < o.helpRounds; round++ {
		for i := range cases {
			c := cases[(i+round)%len(cases)]
			r, err := runProc(ctx, procSpec{Path: c.path, Args: c.args, Env: e.procEnv()})
			if err == nil && (r.Status != 0 || !strings.Contains(r.Stdout, "Usage")) {
				err = fmt.Errorf("%s: status %d, stdout %.200q, stderr %.200q", c.name, r.Status, r.Stdout, r.Stderr)
			}
			if err != nil {
				return err
			}
			k := (i + round) % len(cases)
			wall[k] = append(wall[k], ms(r.Wall()))
			rss[k] = append(rss[k], float64(r.MaxRSS))
		}
	}
	for i, c := range cases {
		cs.Help = append(cs.Help, helpResult{Name: c.name, Command: c.name, WallMS: summarize(wall[i]), MaxRSSKiB: summarize(rss[i])})
		logf("%-28s median %5.1f ms (min %5.1f, max %5.1f)", c.name, cs.Help[i].WallMS.Median, cs.Help[i].WallMS.Min, cs.Help[i].WallMS.Max)
	}
	cs.SizeBytes = map[string]int64{}
	for name, path := range map[string]string{"kubectl-node_shell": e.plugin, "kubectl": e.kubectl, "floor": e.floor} {
		if fi, err := os.Stat(path); err == nil {
			cs.SizeBytes[name] = fi.Size()
		}
	}
	return nil
}
