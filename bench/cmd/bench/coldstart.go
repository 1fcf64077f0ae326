package main

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
)

// coldStart is the start-up case: how long `--help` takes and how big the binaries are.
type coldStart struct {
	Help []helpResult `json:"help"`
	// FirstHelpMS is the very first --help of the plugin binary in this run, before the
	// rounds (its pages may still have been in the page cache from the build).
	FirstHelpMS float64          `json:"first_help_ms"`
	SizeBytes   map[string]int64 `json:"size_bytes"`
	// InitMS is the plugin's package initialization (GODEBUG=inittrace=1), before main runs:
	// the total and the packages that take longest, medians over the rounds.
	InitMS       summary       `json:"init_ms"`
	InitPackages []packageInit `json:"init_packages"`
	FloorInitMS  summary       `json:"floor_init_ms"`
}

type packageInit struct {
	Package string  `json:"package"`
	MS      summary `json:"ms"`
	Bytes   int64   `json:"bytes"`
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
	if err := measureInit(ctx, e, cs); err != nil {
		return err
	}
	cs.SizeBytes = map[string]int64{}
	for name, path := range map[string]string{"kubectl-node_shell": e.plugin, "kubectl": e.kubectl, "floor": e.floor} {
		if fi, err := os.Stat(path); err == nil {
			cs.SizeBytes[name] = fi.Size()
		}
	}
	return nil
}

// initRounds is how many times package initialization is traced.
const initRounds = 7

// measureInit traces the package initialization of the plugin (--help) and of the floor.
func measureInit(ctx context.Context, e *env, cs *coldStart) error {
	var totals, floorTotals []float64
	perPkg := map[string][]float64{}
	bytes := map[string]int64{}
	for i := 0; i < initRounds; i++ {
		r, err := runProc(ctx, procSpec{Path: e.plugin, Args: []string{"--help"}, Env: e.procEnv("GODEBUG=inittrace=1")})
		if err != nil {
			return err
		}
		inits := parseInitTrace(r.Stderr)
		var total float64
		for _, in := range inits {
			total += in.ms
			perPkg[in.pkg] = append(perPkg[in.pkg], in.ms)
			bytes[in.pkg] = in.bytes
		}
		totals = append(totals, total)
		f, err := runProc(ctx, procSpec{Path: e.floor, Args: []string{"-h"}, Env: e.procEnv("GODEBUG=inittrace=1")})
		if err != nil {
			return err
		}
		total = 0
		for _, in := range parseInitTrace(f.Stderr) {
			total += in.ms
		}
		floorTotals = append(floorTotals, total)
	}
	cs.InitMS, cs.FloorInitMS = summarize(totals), summarize(floorTotals)
	for pkg, v := range perPkg {
		cs.InitPackages = append(cs.InitPackages, packageInit{Package: pkg, MS: summarize(v), Bytes: bytes[pkg]})
	}
	slices.SortFunc(cs.InitPackages, func(a, b packageInit) int { return cmp.Compare(b.MS.Median, a.MS.Median) })
	cs.InitPackages = cs.InitPackages[:min(5, len(cs.InitPackages))]
	return nil
}

type initLine struct {
	pkg   string
	ms    float64
	bytes int64
}

// parseInitTrace reads the runtime's lines "init PKG @T ms, D ms clock, B bytes, N allocs".
func parseInitTrace(stderr string) []initLine {
	var out []initLine
	for _, line := range strings.Split(stderr, "\n") {
		f := strings.Fields(line)
		if len(f) < 9 || f[0] != "init" || f[5] != "ms" || f[8] != "bytes," {
			continue
		}
		d, err1 := strconv.ParseFloat(f[4], 64)
		b, err2 := strconv.ParseInt(f[7], 10, 64)
		if err1 == nil && err2 == nil {
			out = append(out, initLine{pkg: f[1], ms: d, bytes: b})
		}
	}
	return out
}
