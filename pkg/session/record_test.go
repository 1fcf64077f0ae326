package session

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/clock"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/recording"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/sessionlog"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/stream"
)

// The recorder sends the terminal's output, as it is shown, to the node's recording file
// in parts, each through an exec of its own (the record script, run under busybox as on
// the node), and the parts make one whole cast.
func TestRecorderStreamsTheOutputToTheNode(t *testing.T) {
	pod := readyAgentPod("node-1")
	executor := newBusyboxExecutor(t)
	s := &Session{Client: fake.NewClientset(pod), Executor: executor, Clock: clock.RealClock{}}
	id := sessionlog.NewID()
	r := s.startRecording(context.Background(), pod, sessionlog.Record{ID: id, User: "alice", Node: "node-1"}, &stream.Terminal{}, "xterm")
	if r == nil {
		t.Fatal("no recorder")
	}
	var shown bytes.Buffer
	out := r.output(&shown)
	for i, chunk := range []string{"$ echo hi\r\n", "hi\r\n", "caf\xc3", "\xa9\r\n"} {
		if i == 2 { // the first lines go to the node as a part of their own
			time.Sleep(RecordingFlushInterval + 300*time.Millisecond)
		}
		if _, err := out.Write([]byte(chunk)); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.finish(); err != nil {
		t.Fatalf("finish: %v", err)
	}
	if n := executor.count("node-shell-record"); n != 2 {
		t.Errorf("the recording went to the node in %d parts, want 2 (one per flush)", n)
	}
	if shown.String() != "$ echo hi\r\nhi\r\ncafé\r\n" {
		t.Errorf("the terminal showed %q", shown.String())
	}
	var logDir string
	for _, kv := range executor.env {
		if v, ok := strings.CutPrefix(kv, "NODE_SHELL_LOG="); ok {
			logDir = v
		}
	}
	data, err := os.ReadFile(filepath.Join(logDir, id+".cast"))
	if err != nil {
		t.Fatal(err)
	}
	cast, err := recording.Read(bytes.NewReader(data))
	if err != nil || cast.Header.Width != 80 || cast.Header.Height != 24 {
		t.Fatalf("the node's cast: %v, header %+v:\n%s", err, cast.Header, data)
	}
	var text bytes.Buffer
	_ = recording.Text(&text, cast.Events)
	if text.String() != shown.String() {
		t.Errorf("the recording holds %q, the terminal showed %q", text.String(), shown.String())
	}
}

// cuttingExecutor cuts the stdin of its first record exec short, as a stream closed early would.
type cuttingExecutor struct {
	*busyboxExecutor
	cut bool
}

func (c *cuttingExecutor) Exec(ctx context.Context, req stream.Request) error {
	if !c.cut && len(req.Command) > 3 && req.Command[3] == "node-shell-record" {
		c.cut = true
		data, _ := io.ReadAll(req.Stdin)
		req.Stdin = bytes.NewReader(data[:len(data)/2])
	}
	return c.busyboxExecutor.Exec(ctx, req)
}

// A part that reaches the node cut short is sent again from where the node's copy ends.
func TestRecorderResendsAPartCutShort(t *testing.T) {
	pod := readyAgentPod("node-1")
	executor := &cuttingExecutor{busyboxExecutor: newBusyboxExecutor(t)}
	s := &Session{Client: fake.NewClientset(pod), Executor: executor, Clock: clock.RealClock{}}
	id := sessionlog.NewID()
	r := s.startRecording(context.Background(), pod, sessionlog.Record{ID: id}, &stream.Terminal{}, "xterm")
	var shown bytes.Buffer
	if _, err := r.output(&shown).Write([]byte("one line of output\r\n")); err != nil {
		t.Fatal(err)
	}
	if err := r.finish(); err != nil {
		t.Fatalf("finish: %v", err)
	}
	if n := executor.count("node-shell-record"); n != 2 {
		t.Errorf("%d record execs, want 2 (the cut one, then the rest)", n)
	}
	var logDir string
	for _, kv := range executor.env {
		if v, ok := strings.CutPrefix(kv, "NODE_SHELL_LOG="); ok {
			logDir = v
		}
	}
	data, _ := os.ReadFile(filepath.Join(logDir, id+".cast"))
	cast, err := recording.Read(bytes.NewReader(data))
	var text bytes.Buffer
	_ = recording.Text(&text, cast.Events)
	if err != nil || cast.Truncated || text.String() != shown.String() {
		t.Errorf("the node's cast after a cut part: %v, truncated %v, %q; want the whole output", err, cast.Truncated, text.String())
	}
}
