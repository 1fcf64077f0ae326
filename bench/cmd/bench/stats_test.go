package main

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestSummarize(t *testing.T) {
	tests := []struct {
		name   string
		values []float64
		want   summary
	}{
		{"empty", nil, summary{}},
		{"odd", []float64{3, 1, 2}, summary{N: 3, Median: 2, Min: 1, Max: 3, Values: []float64{3, 1, 2}}},
		{"even", []float64{4, 1, 3, 2}, summary{N: 4, Median: 2.5, Min: 1, Max: 4, Values: []float64{4, 1, 3, 2}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, summarize(tc.values)); diff != "" {
				t.Errorf("summarize (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFitSizes(t *testing.T) {
	const mib = 1 << 20
	tests := []struct {
		name            string
		rate            float64
		left            time.Duration
		wantOut, wantIn int64
	}{
		{"fast machine: as asked", 500, 10 * time.Minute, 1024 * mib, 256 * mib},
		// 14 transfers of out+in at 20 MiB/s in 300 s: 428 MiB each; stdin gets half.
		{"slow machine: scaled in steps of 64 MiB", 20, 300 * time.Second, 192 * mib, 192 * mib},
		// 700 MiB each: stdin keeps its 256 MiB.
		{"stdin kept", 20, 490 * time.Second, 384 * mib, 256 * mib},
		{"no time left: the probe's size", 20, 0, 64 * mib, 64 * mib},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, in := fitSizes(1024*mib, 256*mib, tc.rate, tc.left, 7, 0)
			if out != tc.wantOut || in != tc.wantIn {
				t.Errorf("fitSizes = %d MiB, %d MiB; want %d MiB, %d MiB", out/mib, in/mib, tc.wantOut/mib, tc.wantIn/mib)
			}
		})
	}
}

func TestParseInitTrace(t *testing.T) {
	stderr := "init internal/bytealg @0.008 ms, 0 ms clock, 0 bytes, 0 allocs\n" +
		"Usage: something\n" +
		"init github.com/kubectl-node-shell/kubectl-node-shell/pkg/cmd @124 ms, 74 ms clock, 4458144 bytes, 14331 allocs\n"
	want := []initLine{
		{pkg: "internal/bytealg", ms: 0, bytes: 0},
		{pkg: "github.com/kubectl-node-shell/kubectl-node-shell/pkg/cmd", ms: 74, bytes: 4458144},
	}
	if diff := cmp.Diff(want, parseInitTrace(stderr), cmp.AllowUnexported(initLine{})); diff != "" {
		t.Errorf("parseInitTrace (-want +got):\n%s", diff)
	}
}
