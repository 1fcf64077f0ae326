package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/kubectl-node-shell/kubectl-node-shell/integration/localcluster"
)

// onlyCases are the cases -only can run alone, on a 1-node cluster of their own.
var onlyCases = []string{"streams", "cp", "port-forward", "stress"}

// partialRun records a run of some cases alone, merged into results measured earlier.
type partialRun struct {
	Date   string   `json:"date"`
	Cases  []string `json:"cases"`
	Commit string   `json:"commit"`
}

// runOnly runs the chosen cases on a cluster of their own and puts them into the saved
// results (replacing those cases there; a missing -json starts empty), then rewrites the
// report: the other cases are left as measured.
func runOnly(ctx context.Context, o options, sections map[string]bool) error {
	var res results
	data, err := os.ReadFile(o.json)
	switch {
	case err == nil:
		if err := json.Unmarshal(data, &res); err != nil {
			return fmt.Errorf("%s: %w", o.json, err)
		}
	case errors.Is(err, fs.ErrNotExist):
		res.Date = time.Now().UTC().Format(time.RFC3339)
		res.Machine = readMachine()
	default:
		return err
	}
	for _, p := range []*string{&o.plugin, &o.floor, &o.script} {
		if *p, err = filepath.Abs(*p); err != nil {
			return err
		}
	}
	if _, err := os.Stat(o.plugin); err != nil {
		return fmt.Errorf("%w (make bench builds it)", err)
	}
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
	defer func() {
		logf("stopping the cluster")
		if err := cluster.Down(context.Background()); err != nil {
			fmt.Fprintln(os.Stderr, "bench: stopping the cluster:", err)
		}
	}()
	upAt := time.Now()
	e := &env{cluster: cluster, node: cluster.NodeNames()[0], kubectl: cluster.KubectlPath(),
		plugin: o.plugin, floor: o.floor, script: o.script, home: filepath.Join(dir, "home")}
	if err := os.MkdirAll(e.home, 0o700); err != nil {
		return err
	}
	if err := e.setup(ctx); err != nil {
		return err
	}
	versions := readVersions(ctx, e)
	if res.Versions.Kubernetes == "" {
		res.Versions = versions
	}
	var cases []string
	for _, c := range onlyCases {
		if sections[c] {
			cases = append(cases, c)
		}
	}
	dropFailures := func(c string) {
		res.Failures = slices.DeleteFunc(res.Failures, func(f failure) bool { return f.Case == c })
	}
	if sections["streams"] {
		res.Streams, res.StreamRounds = nil, o.rounds
		dropFailures("stream")
		if err := runStreams(ctx, e, o, &res, upAt.Add(o.budget)); err != nil {
			return err
		}
	}
	for _, c := range []string{"cp", "port-forward"} {
		if sections[c] {
			res.Transfers = slices.DeleteFunc(res.Transfers, func(t transferResult) bool { return t.Case == c })
			dropFailures(c)
		}
	}
	if sections["stress"] {
		res.Stress = nil
		dropFailures("stress")
	}
	if err := runTransfers(ctx, e, o, &res, sections); err != nil {
		return err
	}
	res.Partial = append(res.Partial, partialRun{Date: time.Now().UTC().Format(time.RFC3339), Cases: cases, Commit: versions.Commit})
	logf("ran %s in %.0f s", strings.Join(cases, ", "), time.Since(upAt).Seconds())
	res.Goals = judge(&res)
	if err := writeJSON(o.json, &res); err != nil {
		return err
	}
	return writeMarkdown(o.markdown, o.json, o.notes, &res)
}
