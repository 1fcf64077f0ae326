package main

import (
	"fmt"
	"slices"
	"strings"
)

// writeTransfers is the cp, port-forward and stress cases.
func writeTransfers(w writer, r *results) {
	if len(r.Transfers) == 0 && len(r.Stress) == 0 {
		return
	}
	w("## 6. Moving data: cp, port-forward, and streams under load\n\n")
	if hasCase(r, "cp") {
		w("### cp\n\n")
		w("One file of random bytes (incompressible), copied from the node and back, %d rounds after a warm-up,\n", r.CpRounds)
		w("node-shell cp against `kubectl cp` into the benchmark's running pod of the same spec (privileged busybox\n")
		w("on the node, its / at /host). The rate is the file's size over the whole process: node-shell's includes\n")
		w("starting and deleting its pod, `kubectl cp`'s pod is already running. After every copy the benchmark\n")
		w("checks the file that arrived, size and sha256, against the original.\n\n")
		writeTransferTable(w, r, "cp", "kubectl-cp", false)
	}
	if hasCase(r, "port-forward") {
		w("### port-forward\n\n")
		w("A listener on the node's 127.0.0.1 (this machine's: the pods use the host network) sends the payload\n")
		w("down one connection and takes it up another, which it answers with the count and sha256 of what\n")
		w("it got; %d rounds after a warm-up, each starting the forwarder, waiting for its \"Forwarding from\" line,\n", r.PortForwardRounds)
		w("moving the data, and stopping it with SIGINT (Ctrl-C). The rate is the connection's (first byte to\n")
		w("last, the forwarder up); *ready* is start to listening (node-shell: its pod's start). node-shell forwards\n")
		w("the loopback through pods/portforward, as kubectl does, and `--to` through busybox nc over an exec stream.\n\n")
		writeTransferTable(w, r, "port-forward", "kubectl-port-forward", true)
	}
	if len(r.Stress) > 0 {
		w("### Streamed transfers under CPU load\n\n")
		s0 := r.Stress[0]
		w("%d transfers of %s each way through plain node-shell sessions (stdin and stdout, not cp: the\n", s0.Transfers, size(s0.Bytes))
		w("exec stream alone, without cp's own checksum), while %d busy loops (`sh -c 'while :; do :; done'`, one\n", s0.Spinners)
		w("per core, normal priority) keep both CPUs saturated: the conditions under which streams used to end\n")
		w("short with exit status 0. Out: `cat` of a random file on the node, hashed here as it arrives; in: random\n")
		w("bytes from here into a count and sha256 on the node. *verified*: exit 0 with the exact bytes (count and\n")
		w("sha256 on both ends); *detected*: a non-zero exit (node-shell's failure, said in one line); *silent*: exit\n")
		w("0 with other bytes, data lost without an error.\n\n")
		w("| direction | transfers | verified | detected (non-zero exit) | **silent truncations** | exit statuses | throughput (MiB/s) | wall | load (1 min) |\n")
		w("|---|---|---|---|---|---|---|---|---|\n")
		for _, s := range r.Stress {
			what := map[string]string{"out": "node → stdout", "in": "stdin → node"}[s.Direction]
			w("| %s %s | %d | %d | %d | **%d** | %s | %s | %s | %.1f (%.1f–%.1f) |\n", size(s.Bytes), what, s.Transfers, s.Verified, s.Detected, s.Silent,
				statuses(s.Statuses), rateRange(s.MiBPerS), msRange(s.WallMS), s.Load1.Median, s.Load1.Min, s.Load1.Max)
		}
		w("\nCommands: ")
		var hows []string
		for _, s := range r.Stress {
			hows = append(hows, "`"+s.How+"`")
		}
		w("%s.\n\n", strings.Join(hows, ", "))
	}
}

func hasCase(r *results, c string) bool {
	return slices.ContainsFunc(r.Transfers, func(t transferResult) bool { return t.Case == c })
}

func writeTransferTable(w writer, r *results, c, baseline string, ready bool) {
	w("| direction | tool | throughput (MiB/s) | vs %s | wall |", r.transfer(c, baseline, "download").Name)
	if ready {
		w(" ready |")
	}
	w(" failed |\n|---|---|---|---|---|%s---|\n", map[bool]string{true: "---|", false: ""}[ready])
	var hows []string
	for _, t := range r.Transfers {
		if t.Case != c {
			continue
		}
		what := map[string]string{"download": "node → here", "upload": "here → node"}[t.Direction]
		base := r.transfer(c, baseline, t.Direction)
		w("| %s %s | %s | %s | %s | %s |", size(t.Bytes), what, t.Name, rateRange1(t.MiBPerS), times(ratio(t.MiBPerS.Median, base.MiBPerS.Median)), msRange(t.WallMS))
		if ready {
			w(" %s |", msRange(t.ReadyMS))
		}
		failed := fmt.Sprint(t.Failed)
		if t.Silent > 0 {
			failed += fmt.Sprintf(" (**%d silent**)", t.Silent)
		}
		w(" %s |\n", failed)
		if t.Direction == "download" {
			hows = append(hows, "`"+t.How+"`")
		}
	}
	w("\nCommands (download; upload the other way round): %s.\n\n", strings.Join(hows, ", "))
}

func statuses(m map[string]int) string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s ×%d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

// judgeStress: every streamed transfer under load either arrives whole or fails loudly.
func judgeStress(r *results) []goal {
	if len(r.Stress) == 0 {
		return nil
	}
	var parts []string
	met := true
	for _, s := range r.Stress {
		parts = append(parts, fmt.Sprintf("%s: %d silent, %d detected, %d verified of %d", s.Direction, s.Silent, s.Detected, s.Verified, s.Transfers))
		met = met && s.Silent == 0 && s.Transfers >= r.StressTransfers && s.Transfers > 0
	}
	return []goal{{
		Goal:     fmt.Sprintf("streamed %s transfers under CPU load, each way", size(r.Stress[0].Bytes)),
		Target:   fmt.Sprintf("%d each way, 0 silent truncations", r.StressTransfers),
		Measured: strings.Join(parts, "; "),
		Met:      met,
	}}
}
