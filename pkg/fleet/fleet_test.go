package fleet

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/session"
)

// fakeFleet stands in for the cluster: Start gives a handle whose Exec runs exec.
type fakeFleet struct {
	mu       sync.Mutex
	startErr map[string]error
	exec     func(ctx context.Context, node string, req session.ExecRequest) (int, error)
	starts   int
	closes   int
	inflight int
	maxInfl  int
}

func (f *fakeFleet) start(_ context.Context, node string, _ session.Reporter) (Handle, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.startErr[node]; err != nil {
		return nil, err
	}
	f.starts++
	f.inflight++
	f.maxInfl = max(f.maxInfl, f.inflight)
	return &fakeHandle{f: f, node: node}, nil
}

type fakeHandle struct {
	f    *fakeFleet
	node string
}

func (h *fakeHandle) Pod() *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "node-shell-" + h.node + "-abcde"}}
}

func (h *fakeHandle) Exec(ctx context.Context, req session.ExecRequest) (int, error) {
	return h.f.exec(ctx, h.node, req)
}

func (h *fakeHandle) Close() error {
	h.f.mu.Lock()
	defer h.f.mu.Unlock()
	h.f.closes++
	h.f.inflight--
	return nil
}

func nodes(names ...string) []Node {
	out := make([]Node, len(names))
	for i, n := range names {
		out[i] = Node{Name: n}
	}
	return out
}

func exitWith(codes map[string]int) func(context.Context, string, session.ExecRequest) (int, error) {
	return func(_ context.Context, node string, _ session.ExecRequest) (int, error) { return codes[node], nil }
}

func TestParallelismIsBounded(t *testing.T) {
	const total, parallel = 20, 3
	f := &fakeFleet{}
	cond := sync.NewCond(&f.mu)
	// Each exec waits until the fleet runs as many as it may (or all that are left), so
	// the bound is reached exactly when it is respected.
	f.exec = func(context.Context, string, session.ExecRequest) (int, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		cond.Broadcast()
		for f.inflight < parallel && f.starts < total {
			cond.Wait()
		}
		cond.Broadcast()
		return 0, nil
	}
	var names []string
	for i := range total {
		names = append(names, fmt.Sprintf("node-%02d", i))
	}
	results := Run(context.Background(), &Options{Nodes: nodes(names...), Parallel: parallel, Start: f.start,
		Output: &Output{Out: io.Discard, ErrOut: io.Discard}})
	if f.maxInfl != parallel {
		t.Errorf("%d sessions at once, want exactly %d", f.maxInfl, parallel)
	}
	if f.starts != total || f.closes != total || ExitStatus(results) != 0 {
		t.Errorf("%d starts, %d closes, status %d; want %d, %d, 0", f.starts, f.closes, ExitStatus(results), total, total)
	}
	for i, r := range results {
		if r.Node != names[i] {
			t.Fatalf("result %d is node %s, want %s: results keep the order of the nodes", i, r.Node, names[i])
		}
	}
}

// Every node writes many lines in odd-sized chunks at once, and ends on a line without a
// newline: each line arrives whole and prefixed, in the node's order.
func TestOutputIsPrefixedAndLineIntact(t *testing.T) {
	const lines = 500
	f := &fakeFleet{exec: func(_ context.Context, node string, req session.ExecRequest) (int, error) {
		var all bytes.Buffer
		for i := range lines {
			fmt.Fprintf(&all, "line %d of %s %s\n", i, node, strings.Repeat("x", i%97))
		}
		all.WriteString("no newline at the end")
		b := all.Bytes()
		for chunk := 1; len(b) > 0; chunk = chunk%13 + 7 {
			n := min(chunk, len(b))
			if _, err := req.Terminal.Out.Write(b[:n]); err != nil {
				return 0, err
			}
			if _, err := req.Terminal.ErrOut.Write(b[:n]); err != nil {
				return 0, err
			}
			b = b[n:]
		}
		return 0, nil
	}}
	var stdout, stderr bytes.Buffer
	names := []string{"node-a", "node-b.example.com", "node-c"}
	Run(context.Background(), &Options{Nodes: nodes(names...), Parallel: 3, Start: f.start,
		Output: &Output{Out: &stdout, ErrOut: &stderr}})
	for stream, out := range map[string]string{"stdout": stdout.String(), "stderr": stderr.String()} {
		next := map[string]int{}
		re := regexp.MustCompile(`^([a-z.-]+): line (\d+) of ([a-z.-]+) x*$`)
		for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
			if m := regexp.MustCompile(`^([a-z.-]+): no newline at the end$`).FindStringSubmatch(line); m != nil {
				next[m[1]] = -1
				continue
			}
			m := re.FindStringSubmatch(line)
			if m == nil || m[1] != m[3] {
				t.Fatalf("%s: line %q is not one whole line of one node", stream, line)
			}
			if i, _ := strconv.Atoi(m[2]); i != next[m[1]] {
				t.Fatalf("%s: %s line %d came when %d was due", stream, m[1], i, next[m[1]])
			}
			next[m[1]]++
		}
		for _, n := range names {
			if next[n] != -1 {
				t.Errorf("%s: node %s's last line (no newline) missing or not last: %d", stream, n, next[n])
			}
		}
	}
}

func TestStdinReachesEveryNodeByteExact(t *testing.T) {
	script := append([]byte("#!/bin/sh\r\necho \x00\xff\xfe\n"), bytes.Repeat([]byte{0, 1, 2, 255, '\n'}, 100000)...)
	want := sha256.Sum256(script)
	var mu sync.Mutex
	got := map[string][32]byte{}
	f := &fakeFleet{exec: func(_ context.Context, node string, req session.ExecRequest) (int, error) {
		b, err := io.ReadAll(req.Terminal.In)
		mu.Lock()
		got[node] = sha256.Sum256(b)
		mu.Unlock()
		return 0, err
	}}
	names := []string{"a", "b", "c", "d", "e"}
	Run(context.Background(), &Options{Nodes: nodes(names...), Parallel: 2, Stdin: script, Start: f.start,
		Output: &Output{Out: io.Discard, ErrOut: io.Discard}})
	for _, n := range names {
		if got[n] != want {
			t.Errorf("node %s got stdin with sha256 %x, want %x", n, got[n], want)
		}
	}

	// Without stdin, no node gets a stdin stream.
	f.exec = func(_ context.Context, node string, req session.ExecRequest) (int, error) {
		if req.Terminal.In != nil {
			return 0, errors.New("stdin attached")
		}
		return 0, nil
	}
	if r := Run(context.Background(), &Options{Nodes: nodes(names...), Start: f.start, Output: &Output{Out: io.Discard, ErrOut: io.Discard}}); ExitStatus(r) != 0 {
		t.Errorf("without stdin: %+v", r)
	}
}

func TestExitStatus(t *testing.T) {
	exited := func(code int) Result { return Result{Outcome: Exited, ExitStatus: code} }
	tests := []struct {
		name    string
		results []Result
		want    int
	}{
		{"all succeeded", []Result{exited(0), exited(0)}, 0},
		{"highest remote status", []Result{exited(0), exited(3), exited(1)}, 3},
		{"a node could not run it", []Result{exited(3), {Outcome: Failed}, exited(0)}, 255},
		{"a node was skipped", []Result{exited(0), {Outcome: Skipped}}, 255},
		{"no nodes", nil, 0},
	}
	for _, tc := range tests {
		if got := ExitStatus(tc.results); got != tc.want {
			t.Errorf("%s: ExitStatus = %d, want %d", tc.name, got, tc.want)
		}
	}
}

// A node that cannot start, and one that was never found, fail with their causes (on one
// line, escaped for the terminal); the others run. The summary and the JSON report agree.
func TestOneBadNodeNeverStopsTheOthers(t *testing.T) {
	f := &fakeFleet{
		startErr: map[string]error{"bad": errors.New("the kubelet on node bad did not pick up the pod within 12s;\npick another node \x1b]0;pwned\a")},
		exec:     exitWith(map[string]int{"three": 3}),
	}
	var stdout, stderr bytes.Buffer
	ns := append(nodes("one", "bad"), Node{Name: "typo", Err: errors.New("node typo not found")}, Node{Name: "three"})
	results := Run(context.Background(), &Options{Nodes: ns, Start: f.start, Output: &Output{Out: &stdout, ErrOut: &stderr}})
	type brief struct {
		Node, Pod string
		Outcome   Outcome
		Status    int
		Error     string
	}
	var got []brief
	for _, r := range results {
		got = append(got, brief{r.Node, r.Pod, r.Outcome, r.ExitStatus, r.Error})
	}
	want := []brief{
		{"one", "node-shell-one-abcde", Exited, 0, ""},
		{"bad", "", Failed, -1, `the kubelet on node bad did not pick up the pod within 12s;\npick another node \x1b]0;pwned\a`},
		{"typo", "", Failed, -1, "node typo not found"},
		{"three", "node-shell-three-abcde", Exited, 3, ""},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
	if s := ExitStatus(results); s != 255 {
		t.Errorf("ExitStatus = %d, want 255", s)
	}

	var summary bytes.Buffer
	if err := WriteSummary(&summary, results); err != nil {
		t.Fatal(err)
	}
	var js bytes.Buffer
	if err := WriteJSON(&js, results); err != nil {
		t.Fatal(err)
	}
	var report Report
	if err := json.Unmarshal(js.Bytes(), &report); err != nil {
		t.Fatalf("JSON report: %v\n%s", err, js.String())
	}
	lines := strings.Split(strings.TrimSpace(summary.String()), "\n")
	if len(lines) != 5 || !strings.HasPrefix(lines[0], "NODE") || report.ExitStatus != 255 || len(report.Nodes) != 4 {
		t.Fatalf("summary:\n%s\nreport: %+v", summary.String(), report)
	}
	for i, r := range report.Nodes {
		fields := strings.Fields(lines[i+1])
		status := string(r.Outcome)
		if r.Outcome == Exited {
			status = strconv.Itoa(r.ExitStatus)
		}
		if fields[0] != r.Node || fields[1] != status || !strings.HasSuffix(lines[i+1], r.Error) {
			t.Errorf("summary line %q disagrees with the JSON result %+v", lines[i+1], r)
		}
	}
}

// A cancelled fleet (a signal) stops starting nodes; every started session is closed.
func TestCancelClosesEveryStartedSessionAndSkipsTheRest(t *testing.T) {
	ctx, cancel := context.WithCancelCause(context.Background())
	cause := errors.New("interrupted by interrupt")
	f := &fakeFleet{}
	f.exec = func(ctx context.Context, _ string, _ session.ExecRequest) (int, error) {
		f.mu.Lock()
		if f.starts == 2 {
			cancel(cause)
		}
		f.mu.Unlock()
		<-ctx.Done()
		return 0, context.Cause(ctx)
	}
	results := Run(ctx, &Options{Nodes: nodes("a", "b", "c", "d", "e"), Parallel: 2, Start: f.start,
		Output: &Output{Out: io.Discard, ErrOut: io.Discard}})
	if f.starts != 2 || f.closes != 2 {
		t.Errorf("%d starts, %d closes; want 2 and 2", f.starts, f.closes)
	}
	for _, r := range results {
		switch r.Node {
		case "a", "b":
			if r.Outcome != Failed || !errors.Is(r.Err(), cause) {
				t.Errorf("%s: %+v, want failed by the cancellation", r.Node, r)
			}
		default:
			if r.Outcome != Skipped {
				t.Errorf("%s: %+v, want skipped", r.Node, r)
			}
		}
	}
}

func TestOutputDir(t *testing.T) {
	dir := t.TempDir()
	f := &fakeFleet{
		startErr: map[string]error{"down": errors.New("node down is not ready")},
		exec: func(_ context.Context, node string, req session.ExecRequest) (int, error) {
			fmt.Fprintf(req.Terminal.Out, "out of %s\nno newline", node)
			fmt.Fprintf(req.Terminal.ErrOut, "err of %s\n", node)
			return len(node), nil
		},
	}
	var stdout, stderr bytes.Buffer
	Run(context.Background(), &Options{Nodes: nodes("up", "down", "../x"), Start: f.start,
		Output: &Output{Out: &stdout, ErrOut: &stderr, Dir: dir}})
	read := func(parts ...string) string {
		b, err := os.ReadFile(filepath.Join(append([]string{dir}, parts...)...))
		if err != nil {
			return "missing: " + err.Error()
		}
		return string(b)
	}
	want := map[string]string{
		"up/stdout": "out of up\nno newline", "up/stderr": "err of up\n", "up/exit-status": "2\n",
		"down/exit-status": "255\n", "down/error": "node down is not ready\n",
	}
	for path, content := range want {
		if got := read(strings.Split(path, "/")...); got != content {
			t.Errorf("%s = %q, want %q", path, got, content)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "..", "x")); err == nil {
		t.Errorf("a node named ../x wrote outside the output directory")
	}
	if stdout.Len() != 0 {
		t.Errorf("stdout = %q, want nothing: the output is in the files", stdout.String())
	}
}

func TestProgressOnlyWhenAsked(t *testing.T) {
	for _, progress := range []bool{true, false} {
		f := &fakeFleet{exec: exitWith(map[string]int{"b": 1})}
		var stderr bytes.Buffer
		Run(context.Background(), &Options{Nodes: nodes("a", "b", "c"), Parallel: 1, Start: f.start,
			Output: &Output{Out: io.Discard, ErrOut: &stderr, ShowProgress: progress}})
		shown := strings.Contains(stderr.String(), "\r\033[K3/3 done, 1 failed")
		if shown != progress || (!progress && stderr.Len() != 0) {
			t.Errorf("progress %v: stderr = %q", progress, stderr.String())
		}
		if progress && !strings.HasSuffix(stderr.String(), "\r\033[K") {
			t.Errorf("the progress line is left on the screen: %q", stderr.String())
		}
	}
}
