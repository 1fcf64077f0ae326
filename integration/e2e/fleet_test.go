package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// fleetReport is node-shell's -o json document (pkg/fleet.Report), read as a user would.
type fleetReport struct {
	ExitStatus int `json:"exitStatus"`
	Nodes      []struct {
		Node       string  `json:"node"`
		Pod        string  `json:"pod"`
		Outcome    string  `json:"outcome"`
		ExitStatus int     `json:"exitStatus"`
		Error      string  `json:"error"`
		Seconds    float64 `json:"durationSeconds"`
		Stdout     *string `json:"stdout"`
		Stderr     *string `json:"stderr"`
	} `json:"nodes"`
}

func parseReport(t *testing.T, stdout []byte) fleetReport {
	t.Helper()
	var r fleetReport
	if err := json.Unmarshal(stdout, &r); err != nil {
		t.Fatalf("-o json output is not the report: %v\n%s", err, stdout)
	}
	return r
}

// summaryLine is one row of the summary a fleet prints on stderr.
type summaryLine struct{ node, status, cause string }

// parseSummary reads the summary table (NODE STATUS DURATION CAUSE) off stderr.
func parseSummary(t *testing.T, stderr []byte) map[string]summaryLine {
	t.Helper()
	lines := strings.Split(string(stderr), "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "NODE ") && strings.Contains(l, "STATUS") {
			out := map[string]summaryLine{}
			for _, row := range lines[i+1:] {
				f := strings.Fields(row)
				if len(f) < 3 {
					continue
				}
				out[f[0]] = summaryLine{node: f[0], status: f[1], cause: strings.Join(f[3:], " ")}
			}
			return out
		}
	}
	t.Fatalf("no summary on stderr:\n%s", stderr)
	return nil
}

// labelNodes sets key=value on nodes; cleanup removes the label again.
func (e *E2E) labelNodes(key, value string, nodes ...string) {
	e.t.Helper()
	patch := func(node string, v any) error {
		b, _ := json.Marshal(map[string]any{"metadata": map[string]any{"labels": map[string]any{key: v}}})
		_, err := e.client.CoreV1().Nodes().Patch(context.Background(), node, types.MergePatchType, b, metav1.PatchOptions{})
		return err
	}
	for _, n := range nodes {
		if err := patch(n, value); err != nil {
			e.t.Fatalf("label node %s: %v", n, err)
		}
		e.t.Cleanup(func() {
			if err := patch(n, nil); err != nil {
				e.t.Errorf("remove label %s from node %s: %v", key, n, err)
			}
		})
	}
}

// assertOnePodPerNode fails t unless the run made exactly one session pod per node of
// nodes, each bound to, annotated with and run by the kubelet of that node, and returns the
// pods by name.
func assertOnePodPerNode(t *testing.T, sessions []SessionPod, nodes []string) map[string]SessionPod {
	t.Helper()
	byName := map[string]SessionPod{}
	perNode := map[string]int{}
	for _, p := range sessions {
		byName[p.Name] = p
		perNode[p.NodeName]++
		if p.NodeAnnotation != p.NodeName || (p.HostIP != "" && p.Kubelet != p.NodeName) {
			t.Errorf("session pod %s is not where it says: %s", p.Name, p)
		}
	}
	for _, n := range nodes {
		if perNode[n] != 1 {
			t.Errorf("%d session pods on node %s, want 1; pods: %v", perNode[n], n, sessions)
		}
	}
	if len(sessions) != len(nodes) {
		t.Errorf("%d session pods, want one on each of %v: %v", len(sessions), nodes, sessions)
	}
	return byName
}

// TestFleetSelectsLabelledNodes: -l runs on exactly the labelled nodes. Each node's many
// long lines arrive prefixed and whole, in the node's order; the pod that ran for a node
// is pinned to that node; the summary and -o json say the same as what ran.
func TestFleetSelectsLabelledNodes(t *testing.T) {
	e := newE2E(t)
	all := e.Nodes()
	picked := []string{all[0], all[2]}
	key := "kubectl-node-shell.io/e2e-fleet"
	e.labelNodes(key, e.namespace, picked...)
	selector := key + "=" + e.namespace
	const lines = 2000
	pad := strings.Repeat("x", 200)
	script := fmt.Sprintf(`i=0; while [ $i -lt %d ]; do echo "line-$i-%s"; i=$((i+1)); done; echo "to-stderr" >&2; exit 3`, lines, pad)
	r := e.NodeShell("-l", selector, "--", "sh", "-c", script).Run()
	assertOnePodPerNode(t, r.Sessions, picked)
	if r.Status != 3 {
		t.Errorf("status %d, want 3 (the highest remote status); stderr:\n%s", r.Status, r.Stderr)
	}
	next := map[string]int{}
	re := regexp.MustCompile(`^([0-9.]+): line-(\d+)-` + pad + `$`)
	for _, line := range strings.Split(strings.TrimSuffix(string(r.Stdout), "\n"), "\n") {
		m := re.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("stdout line %q is not one whole prefixed line", line)
		}
		if i, _ := strconv.Atoi(m[2]); i != next[m[1]] {
			t.Fatalf("node %s: line %d came when %d was due", m[1], i, next[m[1]])
		}
		next[m[1]]++
	}
	for _, n := range all {
		want := 0
		if n != all[1] {
			want = lines
		}
		if next[n] != want {
			t.Errorf("node %s printed %d lines, want %d", n, next[n], want)
		}
	}
	for _, n := range picked {
		if !bytes.Contains(r.Stderr, []byte(n+": to-stderr\n")) {
			t.Errorf("stderr lacks %q:\n%s", n+": to-stderr", r.Stderr)
		}
	}
	summary := parseSummary(t, r.Stderr)
	if len(summary) != 2 || summary[picked[0]].status != "3" || summary[picked[1]].status != "3" {
		t.Errorf("summary = %+v, want the two labelled nodes with status 3", summary)
	}

	r = e.NodeShell("-l", selector, "-o", "json", "--", "sh", "-c", "echo on-node; exit 0").Run()
	report := parseReport(t, r.Stdout)
	summary = parseSummary(t, r.Stderr)
	recorded := assertOnePodPerNode(t, r.Sessions, picked)
	var reported []string
	for _, n := range report.Nodes {
		reported = append(reported, n.Node)
		if n.Outcome != "exited" || n.ExitStatus != 0 || n.Stdout == nil || *n.Stdout != "on-node\n" {
			t.Errorf("node %s: %+v, want exited 0 with its output", n.Node, n)
		}
		if got := recorded[n.Pod]; got.NodeName != n.Node || got.Kubelet != n.Node {
			t.Errorf("node %s reported pod %q, which ran at %s", n.Node, n.Pod, got)
		}
		if s := summary[n.Node]; s.status != strconv.Itoa(n.ExitStatus) {
			t.Errorf("summary says %+v for node %s, the JSON %+v", s, n.Node, n)
		}
	}
	sort.Strings(reported)
	if strings.Join(reported, ",") != strings.Join(picked, ",") || len(summary) != len(picked) || r.Status != 0 || report.ExitStatus != 0 {
		t.Errorf("JSON nodes %v, summary %v, status %d/%d; want exactly %v, status 0", reported, summary, r.Status, report.ExitStatus, picked)
	}
}

// TestFleetOneNodeNotReady: with one node's kubelet stopped and the node NotReady, --all
// fails that node with its cause while the others run; the exit status says a node failed.
func TestFleetOneNodeNotReady(t *testing.T) {
	e := newE2E(t)
	down := e.Nodes()[1]
	e.stopKubeletUntilNotReady(down)

	r := e.NodeShell("--all", "-o", "json", "--", "echo", "fine").Run()
	assertOnePodPerNode(t, r.Sessions, e.Nodes())
	if r.Status != 255 {
		t.Errorf("status %d, want 255: a node could not run the command", r.Status)
	}
	report := parseReport(t, r.Stdout)
	summary := parseSummary(t, r.Stderr)
	if len(report.Nodes) != len(e.Nodes()) {
		t.Fatalf("report has %d nodes, want %d: %+v", len(report.Nodes), len(e.Nodes()), report)
	}
	for _, n := range report.Nodes {
		if n.Node == down {
			want := "the kubelet on node " + down + " did not pick up the pod within 12s, and the node is not ready"
			if n.Outcome != "failed" || !strings.Contains(n.Error, want) || !strings.Contains(summary[down].cause, want) || summary[down].status != "failed" {
				t.Errorf("node %s: %+v, summary %+v; want failed with %q", down, n, summary[down], want)
			}
			continue
		}
		if n.Outcome != "exited" || n.ExitStatus != 0 || *n.Stdout != "fine\n" || summary[n.Node].status != "0" {
			t.Errorf("node %s: %+v, summary %+v; want it to run despite node %s", n.Node, n, summary[n.Node], down)
		}
	}
	if !strings.Contains(string(r.Stderr), "warning: node "+down+" is not ready") {
		t.Errorf("stderr lacks the not-ready warning:\n%s", r.Stderr)
	}
}

// TestFleetStdinReachesEveryNodeByteExact: stdin is read once and sent to each node whole:
// every node's sha256 of it is the local one, and a script on stdin runs on every node.
func TestFleetStdinReachesEveryNodeByteExact(t *testing.T) {
	e := newE2E(t)
	data := make([]byte, 1<<20)
	rng := rand.NewChaCha8([32]byte{7})
	_, _ = rng.Read(data)
	data = append(data, "\r\nno newline at the end"...)
	sum := sha256.Sum256(data)
	r := e.NodeShell("--all", "--", "sha256sum").WithStdin(bytes.NewReader(data)).RunOK()
	assertOnePodPerNode(t, r.Sessions, e.Nodes())
	for _, n := range e.Nodes() {
		if want := n + ": " + hex.EncodeToString(sum[:]) + "  -\n"; !bytes.Contains(r.Stdout, []byte(want)) {
			t.Errorf("node %s: stdout lacks %q:\n%s", n, want, r.Stdout)
		}
	}

	script := "#!/bin/sh\nset -e\necho \"script ran: $((6 * 7))\"\n"
	r = e.NodeShell("--all", "--", "sh").WithStdin(strings.NewReader(script)).RunOK()
	assertOnePodPerNode(t, r.Sessions, e.Nodes())
	for _, n := range e.Nodes() {
		if !bytes.Contains(r.Stdout, []byte(n+": script ran: 42\n")) {
			t.Errorf("node %s did not run the script:\n%s", n, r.Stdout)
		}
	}
}

// TestInterruptDuringFleet: on a real terminal, Ctrl-C or SIGTERM while every node runs
// its command ends the fleet within a second, 130 or 143, with every pod deleted.
func TestInterruptDuringFleet(t *testing.T) {
	e := newE2E(t)
	for _, tc := range terminalInterrupts {
		t.Run(tc.name, func(t *testing.T) {
			e := e.For(t)
			term := e.NodeShell("--all", "--", "sh", "-c", "echo started; exec sleep 600").StartTerminal(24, 80)
			var want []string
			for _, n := range e.Nodes() {
				want = append(want, n+": started")
			}
			term.ExpectAll(want, 60*time.Second)
			assertOnePodPerNode(t, term.sessions.Created(t), e.Nodes())
			sent := time.Now()
			tc.interrupt(t, term)
			status := term.Wait(30 * time.Second)
			took := time.Since(sent)
			t.Logf("%s with %d nodes running: exit %d after %v", tc.name, len(e.Nodes()), status, took.Round(time.Millisecond))
			if status != tc.want || took > interruptBound {
				t.Errorf("exit %d after %v; want %d within %v", status, took, tc.want, interruptBound)
			}
			e.AssertNoNodeShellPods()
		})
	}
}

// ExpectAll waits until the terminal has shown every one of want, in any order.
func (term *Terminal) ExpectAll(want []string, timeout time.Duration) {
	term.t.Helper()
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		term.mu.Lock()
		shown := term.out.String()
		term.mu.Unlock()
		missing := 0
		for _, w := range want {
			if !strings.Contains(shown, w) {
				missing++
			}
		}
		if missing == 0 {
			return
		}
	}
	term.mu.Lock()
	defer term.mu.Unlock()
	term.t.Fatalf("terminal did not show all of %q within %v; it shows:\n%q", want, timeout, term.out.String())
}
