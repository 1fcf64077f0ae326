package session

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/remotecommand"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/podspec"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/recording"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/sessionlog"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/stream"
)

// recordingFinishTimeout bounds the wait for the recording's last lines to reach the node.
const recordingFinishTimeout = 5 * time.Second

// maxRecordingBacklog is how much of a recording may wait for the node before recording
// stops: a stalled recording must never stall the session.
const maxRecordingBacklog = 16 << 20

// ttyRecorder streams a TTY session's asciicast v2 recording, as the session's output goes
// to the terminal, into sessionlog.RecordArgv's exec beside the session's: each line is on
// the node as soon as it is written, so a session cut off is recorded up to its end.
type ttyRecorder struct {
	w       *recording.Writer
	backlog *backlog
	done    chan struct{}
	err     error // the recording exec's, set before done closes
}

// startRecording starts the recording exec in pod and a recorder for the terminal's output.
func (s *Session) startRecording(ctx context.Context, pod *corev1.Pod, rec sessionlog.Record, t *stream.Terminal, term string) *ttyRecorder {
	width, height, ok := t.Size()
	if !ok || width == 0 || height == 0 {
		width, height = 80, 24
	}
	b := newBacklog(maxRecordingBacklog)
	title := fmt.Sprintf("node-shell session %s by %s on node %s", shortID(rec.ID), rec.User, rec.Node)
	w, err := recording.NewWriter(b, recording.Header{Width: int(width), Height: int(height), Title: title,
		Env: map[string]string{"TERM": term}}, s.Clock.Now)
	if err != nil {
		return nil // a positive size and a writer that takes everything cannot fail
	}
	r := &ttyRecorder{w: w, backlog: b, done: make(chan struct{})}
	var stderr bytes.Buffer
	go func() {
		defer close(r.done)
		err := s.Executor.Exec(context.WithoutCancel(ctx), stream.Request{
			Namespace: pod.Namespace, Pod: pod.Name, Container: podspec.ContainerName,
			Command: sessionlog.RecordArgv(rec.ID),
			Stdin:   b, Stdout: io.Discard, Stderr: &stderr,
		})
		if code, ok := stream.ExitCode(err); ok && code == 0 {
			err = nil
		} else if ok {
			err = fmt.Errorf("exit status %d: %s", code, bytes.TrimSpace(stderr.Bytes()))
		}
		r.err = err
		b.fail(errors.New("the recording's exec ended"))
	}()
	return r
}

// output is the terminal's writer with the recorder beside it.
func (r *ttyRecorder) output(terminal io.Writer) io.Writer { return recording.Tee(terminal, r.w) }

// sizes records each resize as the terminal reports it.
func (r *ttyRecorder) sizes(q remotecommand.TerminalSizeQueue) remotecommand.TerminalSizeQueue {
	if q == nil {
		return nil
	}
	return recordedSizes{from: q, w: r.w}
}

// finish flushes the recording to the node and says why it is incomplete, if it is.
func (r *ttyRecorder) finish() error {
	r.w.Close()
	r.backlog.close()
	select {
	case <-r.done:
	case <-time.After(recordingFinishTimeout):
		return fmt.Errorf("its last lines did not reach the node within %s", recordingFinishTimeout)
	}
	if r.err != nil {
		return r.err
	}
	return r.backlog.lost()
}

type recordedSizes struct {
	from remotecommand.TerminalSizeQueue
	w    *recording.Writer
}

func (q recordedSizes) Next() *remotecommand.TerminalSize {
	size := q.from.Next()
	if size != nil {
		q.w.Resize(int(size.Width), int(size.Height))
	}
	return size
}

// backlog is a pipe that never blocks its writer: what the reader (the recording exec's
// stdin) has not taken yet waits in memory, up to max bytes; past that, or once the reader
// is gone, writes fail, and the recorder stops rather than hold the session's output.
type backlog struct {
	mu      sync.Mutex
	cond    *sync.Cond
	buf     []byte
	max     int
	closed  bool
	failure error
}

func newBacklog(max int) *backlog {
	b := &backlog{max: max}
	b.cond = sync.NewCond(&b.mu)
	return b
}

func (b *backlog) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.failure != nil:
		return 0, b.failure
	case b.closed:
		return 0, io.ErrClosedPipe
	case len(b.buf)+len(p) > b.max:
		b.failure = fmt.Errorf("more than %d MiB of it could not be sent to the node in time", b.max>>20)
		b.cond.Broadcast()
		return 0, b.failure
	}
	b.buf = append(b.buf, p...)
	b.cond.Broadcast()
	return len(p), nil
}

func (b *backlog) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for len(b.buf) == 0 && !b.closed && b.failure == nil {
		b.cond.Wait()
	}
	if len(b.buf) == 0 {
		return 0, io.EOF
	}
	n := copy(p, b.buf)
	b.buf = b.buf[n:]
	return n, nil
}

// close ends the stream once what waits has been read.
func (b *backlog) close() {
	b.mu.Lock()
	b.closed = true
	b.cond.Broadcast()
	b.mu.Unlock()
}

// fail drops what waits: the reader is gone.
func (b *backlog) fail(err error) {
	b.mu.Lock()
	if b.failure == nil && !b.closed {
		b.failure = err
	}
	b.buf = nil
	b.cond.Broadcast()
	b.mu.Unlock()
}

// lost is why part of the recording never reached the reader, if it did not.
func (b *backlog) lost() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.failure
}
