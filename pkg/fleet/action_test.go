package fleet

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/session"
)

// An Action does each node's work on the session started there, instead of exec'ing the
// Command: it gets that node's handle and streams, and its failure is that node's alone.
func TestActionReplacesTheExec(t *testing.T) {
	f := &fakeFleet{startErr: map[string]error{"node-d": errors.New("pod did not start")}}
	f.exec = func(_ context.Context, node string, req session.ExecRequest) (int, error) {
		if len(req.Command) != 1 || req.Command[0] != "probe-"+node {
			t.Errorf("node %s exec'd %q: the action's own command, not the fleet's", node, req.Command)
		}
		return 0, nil
	}
	action := func(ctx context.Context, node string, h Handle, st session.Streams, r session.Reporter) (int, error) {
		if want := "node-shell-" + node + "-abcde"; h.Pod().Name != want {
			t.Errorf("node %s got the handle of pod %s, want %s", node, h.Pod().Name, want)
		}
		if _, err := h.Exec(ctx, session.ExecRequest{Command: []string{"probe-" + node}}); err != nil {
			return 0, err
		}
		st.ErrOut.Write([]byte("tar: a message\n"))
		if node == "node-b" {
			r.Warning("skipped a fifo")
			return 0, errors.New("checksum mismatch")
		}
		return 0, nil
	}
	var errOut bytes.Buffer
	results := Run(context.Background(), &Options{
		Nodes: nodes("node-a", "node-b", "node-c", "node-d"), Command: []string{"never-run"},
		Parallel: 2, Start: f.start, Action: action,
		Output: &Output{Out: &bytes.Buffer{}, ErrOut: &errOut},
	})
	want := map[string]string{"node-a": "", "node-b": "checksum mismatch", "node-c": "", "node-d": "pod did not start"}
	for _, r := range results {
		wantOutcome := Exited
		if want[r.Node] != "" {
			wantOutcome = Failed
		}
		if r.Outcome != wantOutcome || r.Error != want[r.Node] {
			t.Errorf("node %s: %s %q, want %s %q", r.Node, r.Outcome, r.Error, wantOutcome, want[r.Node])
		}
	}
	if ExitStatus(results) != ExitFailure {
		t.Errorf("status %d, want %d: two nodes failed", ExitStatus(results), ExitFailure)
	}
	if f.starts != 3 || f.closes != 3 {
		t.Errorf("%d starts, %d closes; want 3 and 3: every started session is closed", f.starts, f.closes)
	}
	for _, line := range []string{"node-a: tar: a message", "node-c: tar: a message", "warning: node node-b: skipped a fifo"} {
		if !strings.Contains(errOut.String(), line+"\n") {
			t.Errorf("stderr lacks %q:\n%s", line, errOut.String())
		}
	}
}
