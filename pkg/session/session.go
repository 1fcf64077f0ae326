// Package session runs one node-shell session on one node: it creates the pod, waits for
// it to run, execs the command, and deletes the pod however the session ends. It returns
// the command's exit status; it never prints to the user's terminal itself (see Reporter).
package session

import (
	"context"
	"io"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/utils/clock"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/diagnose"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/podspec"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/stream"
)

// Defaults for the bounds of a session's waits.
const (
	DefaultPodRunningTimeout = time.Minute
	// DefaultDeleteTimeout bounds the final delete with its retries, so a dead apiserver
	// cannot hang the exit; the pod's watchdog stops the container if the delete never lands.
	DefaultDeleteTimeout = 30 * time.Second
)

// Reporter receives what a session has to tell the user. Implementations decide how (or
// whether) to show it; a session never writes to the terminal on its own.
type Reporter interface {
	// Progress is a short, transient description of what the session is waiting for.
	Progress(status string)
	// Warning is something the user should read even when the session succeeds.
	Warning(msg string)
}

// Streams are the local ends of the command's standard streams.
type Streams struct {
	In     io.Reader // nil: the command gets no stdin
	Out    io.Writer
	ErrOut io.Writer
	TTY    bool
	// Term is the TERM value for a TTY session.
	Term   string
	Resize remotecommand.TerminalSizeQueue
}

// ServerClock tells the apiserver's time (serverclock.Clock); ok is false when unknown.
type ServerClock interface {
	Now() (now time.Time, ok bool)
}

// Session is one command (or login shell) on one node.
type Session struct {
	Client   kubernetes.Interface
	Executor stream.Executor
	Pod      podspec.Spec
	// Command to run; empty means an interactive login shell.
	Command []string
	Streams Streams
	// Origin is written on the pod for the audit trail.
	Origin Origin
	// SweepLeftovers removes the namespace's leftover node-shell pods in the background
	// while the session starts (see leftover.Sweep).
	SweepLeftovers bool
	// Clock times heartbeats and retries; nil means the real clock.
	Clock clock.Clock
	// ServerClock is the apiserver's clock, by which the sweep judges leftovers; nil means
	// unknown, and then the sweep removes only pods whose container has stopped.
	ServerClock ServerClock
	// PodRunningTimeout bounds the wait for the pod to run; DeleteTimeout the final delete.
	PodRunningTimeout time.Duration
	DeleteTimeout     time.Duration
	// PickupTimeout is how long the kubelet may stay silent about the pod before the
	// session checks the node, and gives up if it is not Ready (see superviseKubelet).
	// Zero means DefaultPickupTimeout; negative, never.
	PickupTimeout time.Duration
	Reporter      Reporter

	// crashed cancels the session with a background goroutine's panic (see crash.Go).
	crashed context.CancelCauseFunc
}

// Run runs the session and returns the remote command's exit status. err is non-nil only
// when the session itself failed (the pod could not be created or run, the stream broke):
// a command that exits non-zero is a successful session with a non-zero status.
func (s *Session) Run(ctx context.Context) (exitCode int, err error) {
	s.setDefaults()
	// A panic in one of the session's goroutines ends the session with it as the error, so
	// that the pod is deleted and the terminal restored as on any other failure.
	ctx, s.crashed = context.WithCancelCause(ctx)
	defer s.crashed(nil)
	start := s.Clock.Now()
	s.Pod.Heartbeat = podspec.FormatHeartbeat(start)
	s.Pod.Annotations = mergeAnnotations(s.auditAnnotations(start), s.Pod.Annotations)
	pod, err := podspec.Build(s.Pod)
	if err != nil {
		return 0, err
	}
	s.Reporter.Progress("creating pod on node " + s.Pod.Node)
	keep := s.startKeepAlive(ctx, pod.Namespace)
	created, err := s.createPod(ctx, pod)
	if err != nil {
		keep.stop()
		return 0, err
	}
	keep.heartbeat(created)
	defer func() {
		keep.stop()
		if delErr := s.deletePod(created); delErr != nil {
			s.Reporter.Warning(delErr.Error())
		}
	}()
	if ctx.Err() != nil { // a signal arrived during the create, which runs to completion
		return 0, context.Cause(ctx)
	}
	if err := s.waitRunning(ctx, created); err != nil {
		return 0, err
	}
	code, err := s.exec(ctx, created)
	if ctx.Err() == nil && (err != nil || code >= 128) {
		if why := s.stoppedBy(created); why != "" {
			s.Reporter.Warning(why)
		}
	}
	return code, err
}

func (s *Session) setDefaults() {
	if s.PodRunningTimeout <= 0 {
		s.PodRunningTimeout = DefaultPodRunningTimeout
	}
	if s.DeleteTimeout <= 0 {
		s.DeleteTimeout = DefaultDeleteTimeout
	}
	if s.PickupTimeout == 0 {
		s.PickupTimeout = DefaultPickupTimeout
	}
	if s.Reporter == nil {
		s.Reporter = discardReporter{}
	}
	if s.Clock == nil {
		s.Clock = clock.RealClock{}
	}
	if s.Pod.HeartbeatTimeout <= 0 {
		s.Pod.HeartbeatTimeout = podspec.DefaultHeartbeatTimeout
	}
}

func (s *Session) exec(ctx context.Context, pod *corev1.Pod) (int, error) {
	s.Reporter.Progress("")
	req := stream.Request{
		Namespace: pod.Namespace,
		Pod:       pod.Name,
		Container: podspec.ContainerName,
		Command:   podspec.ExecCommand(s.Pod.Mode, s.Command, termFor(s.Streams)),
		Stdin:     s.Streams.In,
		Stdout:    s.Streams.Out,
		Stderr:    s.Streams.ErrOut,
		TTY:       s.Streams.TTY,
		Resize:    s.Streams.Resize,
	}
	err := s.Executor.Exec(ctx, req)
	if code, ok := stream.ExitCode(err); ok {
		return code, nil
	}
	// Cancelled by a signal: executors do not all return ctx.Err() when their stream is cut.
	if ctxErr := context.Cause(ctx); ctxErr != nil {
		return 0, ctxErr
	}
	return 0, diagnose.ExecProblem(err, pod.Namespace, pod.Name, s.Pod.Node)
}

func termFor(st Streams) string {
	if !st.TTY {
		return ""
	}
	if st.Term == "" {
		return "xterm"
	}
	return st.Term
}

type discardReporter struct{}

func (discardReporter) Progress(string) {}
func (discardReporter) Warning(string)  {}
