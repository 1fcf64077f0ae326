package localcluster

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ProcessStatus is one process of a cluster.
type ProcessStatus struct {
	Name string // daemon name, or the executable's for shims and containers
	PID  int
	// PSSKB is the proportional set size in kB: shared pages (the same
	// binary mapped by three kubelets) are split between the processes
	// sharing them, so the sum is the cluster's real footprint.
	PSSKB int64
}

// Status is what `localcluster status` prints.
type Status struct {
	Processes  []ProcessStatus
	TotalPSSKB int64
	Nodes      []string // "NAME READY" lines; empty if the apiserver is down
}

// Status lists the cluster's processes (daemons, shims, containers) with
// their memory, and its nodes.
func (c *Cluster) Status(ctx context.Context) (Status, error) {
	names := map[int]string{}
	for _, n := range recordedDaemons(c.l) {
		if pid, ok := daemonPID(c.l, n); ok {
			names[pid] = n
		}
	}
	seen := map[int]bool{}
	var st Status
	for _, pid := range append(ourPIDs(c.l.state), cgroupPIDs()...) {
		if seen[pid] {
			continue
		}
		seen[pid] = true
		name := names[pid]
		if name == "" {
			name = procExe(pid)
		}
		p := ProcessStatus{Name: name, PID: pid, PSSKB: pss(pid)}
		st.Processes = append(st.Processes, p)
		st.TotalPSSKB += p.PSSKB
	}
	sort.Slice(st.Processes, func(i, j int) bool { return st.Processes[i].PID < st.Processes[j].PID })
	cs, err := c.Clientset()
	if err != nil {
		return st, err
	}
	list, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return st, fmt.Errorf("listing nodes: %w", err)
	}
	for _, n := range list.Items {
		ready := "NotReady"
		if isReady(&n) {
			ready = "Ready"
		}
		st.Nodes = append(st.Nodes, n.Name+" "+ready)
	}
	return st, nil
}

// pss reads a process's proportional set size from smaps_rollup.
func pss(pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "Pss:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb
		}
	}
	return 0
}

// Print writes the status as a table.
func (st Status) Print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PROCESS\tPID\tPSS (kB)")
	for _, p := range st.Processes {
		fmt.Fprintf(tw, "%s\t%d\t%d\n", p.Name, p.PID, p.PSSKB)
	}
	fmt.Fprintf(tw, "TOTAL\t\t%d\n", st.TotalPSSKB)
	tw.Flush()
	if len(st.Nodes) > 0 {
		fmt.Fprintln(w, "\nNODES")
		for _, n := range st.Nodes {
			fmt.Fprintln(w, n)
		}
	}
}
