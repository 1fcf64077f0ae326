package session

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/remotecommand"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/podspec"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/recording"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/sessionlog"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/stream"
)

// recordingFinishTimeout bounds the wait for the recording's last part to reach the node.
const recordingFinishTimeout = 5 * time.Second

// RecordingFlushInterval is how often the recording's new lines are sent to the node: what
// a client killed with -9 can lose of its recording.
const RecordingFlushInterval = time.Second

// maxRecordingBacklog is how much of a recording may wait for the node before recording
// stops: a stalled recording must never stall the session.
const maxRecordingBacklog = 16 << 20

// recordingPartTimeout bounds one exec that sends a part.
const recordingPartTimeout = 10 * time.Second

// ttyRecorder records a TTY session's output, as it goes to the terminal, as asciicast v2,
// and sends what is new to the node every RecordingFlushInterval, each part in a short exec
// of its own (sessionlog.RecordArgv) beside the session's: the recording is on the node up
// to a second behind the session, however the client ends. Short execs, each with all of its
// input at once and checked by the node's size after it, rather than one exec fed for the
// whole session: an exec's stdin was seen closed early when another exec of the same client
// started beside it.
type ttyRecorder struct {
	s   *Session
	pod *corev1.Pod
	id  string
	w   *recording.Writer

	mu      sync.Mutex
	pending bytes.Buffer
	// sentBytes is the recording's size on the node: 0 until its first part is there.
	sentBytes int64
	failure   error // why recording stopped
	closed    bool

	stop chan struct{}
	done chan struct{}
}

// startRecording starts a recorder for the terminal's output, sent to pod's node.
func (s *Session) startRecording(ctx context.Context, pod *corev1.Pod, rec sessionlog.Record, t *stream.Terminal, term string) *ttyRecorder {
	width, height, ok := t.Size()
	if !ok || width == 0 || height == 0 {
		width, height = 80, 24
	}
	r := &ttyRecorder{s: s, pod: pod, id: rec.ID, stop: make(chan struct{}), done: make(chan struct{})}
	title := fmt.Sprintf("node-shell session %s by %s on node %s", sessionlog.ShortID(rec.ID), rec.User, rec.Node)
	w, err := recording.NewWriter(pendingWriter{r}, recording.Header{Width: int(width), Height: int(height), Title: title,
		Env: map[string]string{"TERM": term}}, s.Clock.Now)
	if err != nil {
		return nil // a positive size and a writer that takes everything cannot fail
	}
	r.w = w
	go func() {
		defer close(r.done)
		timer := s.Clock.NewTimer(RecordingFlushInterval)
		defer timer.Stop()
		for {
			select {
			case <-r.stop:
				r.flush(context.WithoutCancel(ctx))
				return
			case <-timer.C():
				r.flush(context.WithoutCancel(ctx))
				timer.Reset(RecordingFlushInterval)
			}
		}
	}()
	return r
}

// pendingWriter keeps the recording's lines until the next flush.
type pendingWriter struct{ r *ttyRecorder }

func (p pendingWriter) Write(b []byte) (int, error) {
	r := p.r
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.failure != nil:
		return 0, r.failure
	case r.pending.Len()+len(b) > maxRecordingBacklog:
		r.failure = fmt.Errorf("more than %d MiB of it could not be sent to the node in time", maxRecordingBacklog>>20)
		return 0, r.failure
	}
	return r.pending.Write(b)
}

// flush sends what is pending as the recording's next part. The record script says the
// recording's size on the node after each part: a part that did not arrive whole (an exec's
// stdin can be cut short) is sent again from where the node's copy ends, a few times.
func (r *ttyRecorder) flush(ctx context.Context) {
	r.mu.Lock()
	if r.failure != nil || r.pending.Len() == 0 {
		r.mu.Unlock()
		return
	}
	part := bytes.Clone(r.pending.Bytes())
	r.pending.Reset()
	sent := r.sentBytes
	first := sent == 0
	r.mu.Unlock()
	var err error
	for attempt := 0; attempt < recordingPartAttempts; attempt++ {
		var size int64
		size, err = r.sendPart(ctx, part, first)
		switch {
		case err != nil:
		case size == sent+int64(len(part)):
			r.mu.Lock()
			r.sentBytes = size
			r.mu.Unlock()
			return
		case size >= sent && size < sent+int64(len(part)):
			part, first, sent = part[size-sent:], false, size
			err = fmt.Errorf("the node's copy is %d bytes short", sent+int64(len(part))-size)
			continue
		default:
			err = fmt.Errorf("the node's copy is %d bytes, not %d: written by someone else", size, sent+int64(len(part)))
		}
		break
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failure = fmt.Errorf("sending it to the node failed: %w", err)
}

// recordingPartAttempts bounds the sends of one part.
const recordingPartAttempts = 3

// sendPart sends part with one exec and returns the recording's size on the node after it.
func (r *ttyRecorder) sendPart(ctx context.Context, part []byte, first bool) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, recordingPartTimeout)
	defer cancel()
	var stdout, stderr bytes.Buffer
	err := r.s.Executor.Exec(ctx, stream.Request{
		Namespace: r.pod.Namespace, Pod: r.pod.Name, Container: podspec.ContainerName,
		Command: sessionlog.RecordArgv(r.id, first),
		Stdin:   bytes.NewReader(part), Stdout: &stdout, Stderr: &stderr,
	})
	if code, ok := stream.ExitCode(err); ok && code != 0 {
		return 0, fmt.Errorf("exit status %d: %s", code, bytes.TrimSpace(stderr.Bytes()))
	} else if !ok {
		return 0, err
	}
	size, err := strconv.ParseInt(strings.TrimSpace(stdout.String()), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("the node did not say the recording's size: %q", stdout.String())
	}
	return size, nil
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

// finish sends the rest of the recording to the node and says why it is incomplete, if it is.
func (r *ttyRecorder) finish() error {
	r.w.Close()
	close(r.stop)
	select {
	case <-r.done:
	case <-time.After(recordingFinishTimeout + recordingPartTimeout):
		return fmt.Errorf("its last part did not reach the node in time")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failure
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
