// Package session holds node-shell sessions on nodes. Start creates the pod on the node,
// waits for it to run and keeps it alive; the Handle it returns runs actions on the pod
// (Exec today); Close deletes the pod however the program ends. It never prints to the
// user's terminal itself (see Reporter).
package session

import (
	"context"
	"io"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"

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

// ServerClock tells the apiserver's time (serverclock.Clock); ok is false when unknown.
type ServerClock interface {
	Now() (now time.Time, ok bool)
}

// Session is what every session of a run shares: the clients, the audit origin and the
// bounds of its waits. Start makes one session on one node from it; a fleet starts many.
type Session struct {
	Client   kubernetes.Interface
	Executor stream.Executor
	// Origin is written on the pod for the audit trail.
	Origin Origin
	// SweepLeftovers removes the namespace's leftover node-shell pods in the background
	// while the session starts (see leftover.Sweep). A fleet sweeps once, itself.
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
	// RecordTTY records each TTY session on the node (asciicast v2, pkg/recording), as the
	// node's agent says its admin asked (agent install --record).
	RecordTTY bool

	// Set by Start on its own copy: the pod of this session and what it was started for.
	spec    podspec.Spec
	command []string
	// crashed cancels the session with a background goroutine's panic (see crash.Go).
	crashed context.CancelCauseFunc
}

// Target is the pod to start: its node, namespace and settings, and the command it is
// started for, which is written on the pod for the audit trail.
type Target struct {
	Pod     podspec.Spec
	Command []string
}

// Handle is a started session: its pod runs and its heartbeat is renewed until Close.
type Handle struct {
	s *Session
	// crashCtx is cancelled, with the panic as its cause, when one of the session's
	// goroutines panics: the session's calls end with it as their error.
	crashCtx context.Context
	pod      *corev1.Pod
	keep     *keepAlive
	// agent is set when the session runs on the node's agent (StartAgent), not a pod of its own.
	agent     *agentSession
	closeOnce sync.Once
	closeErr  error
	// events are the end Events being written; Close waits for them.
	events sync.WaitGroup
}

// Start creates the pod for target on its node, entered the way entry says, and waits
// until it runs. Cancelling ctx ends the wait at once; the create itself runs to its end
// (see createPod), so the pod is always known and deleted. When Start fails, nothing is
// left behind; when it succeeds, the caller must Close the handle.
func (s *Session) Start(ctx context.Context, target Target, entry podspec.Entry) (*Handle, error) {
	run := *s
	run.spec, run.command = target.Pod, target.Command
	run.spec.Entry = entry
	run.setDefaults()
	h := &Handle{s: &run}
	h.crashCtx, run.crashed = context.WithCancelCause(context.WithoutCancel(ctx))
	startCtx, stop := h.withCrash(ctx)
	defer stop()
	start := run.Clock.Now()
	run.spec.Heartbeat = podspec.FormatHeartbeat(start)
	run.spec.Annotations = mergeAnnotations(run.auditAnnotations(start), run.spec.Annotations)
	pod, err := podspec.Build(run.spec)
	if err != nil {
		run.crashed(nil)
		return nil, err
	}
	run.Reporter.Progress("creating pod on node " + run.spec.Node)
	keep := run.startKeepAlive(ctx, pod.Namespace)
	created, err := run.createPod(startCtx, pod)
	if err != nil {
		keep.stop()
		run.crashed(nil)
		return nil, err
	}
	keep.heartbeat(created)
	h.pod, h.keep = created, keep
	if startCtx.Err() != nil { // a signal arrived during the create, which runs to completion
		h.Close()
		return nil, context.Cause(startCtx)
	}
	if err := run.waitRunning(startCtx, created); err != nil {
		h.Close()
		return nil, err
	}
	return h, nil
}

// withCrash is ctx, also ended (with the panic as its cause) by a crash of the session.
func (h *Handle) withCrash(ctx context.Context) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	stop := context.AfterFunc(h.crashCtx, func() { cancel(context.Cause(h.crashCtx)) })
	return ctx, func() {
		stop()
		cancel(nil)
	}
}

// Pod is the session's pod as created.
func (h *Handle) Pod() *corev1.Pod { return h.pod }

// Close stops the heartbeat and deletes the pod (see deletePod). It is safe to call more
// than once; a delete that failed is reported as a warning and returned.
func (h *Handle) Close() error {
	h.closeOnce.Do(func() {
		defer h.events.Wait() // each write is bounded (eventTimeout)
		if h.agent != nil {   // nothing was created: each exec's supervisor has ended its session
			h.s.crashed(nil)
			return
		}
		h.keep.stop()
		if h.closeErr = h.s.deletePod(h.pod); h.closeErr != nil {
			h.s.Reporter.Warning(h.closeErr.Error())
		}
		h.s.crashed(nil)
	})
	return h.closeErr
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
	if s.spec.HeartbeatTimeout <= 0 {
		s.spec.HeartbeatTimeout = podspec.DefaultHeartbeatTimeout
	}
	if s.spec.Entry == nil {
		s.spec.Entry = podspec.Chroot{}
	}
}

// Streams are the local ends of a command's standard streams, for a session without a
// terminal of its own (a fleet's nodes, tests); see ExecRequest.Terminal.
type Streams struct {
	In     io.Reader // nil: the command gets no stdin
	Out    io.Writer
	ErrOut io.Writer
}

// Terminal wraps streams that are no terminal, for ExecRequest.Terminal.
func (st Streams) Terminal() *stream.Terminal {
	return &stream.Terminal{In: st.In, Out: st.Out, ErrOut: st.ErrOut}
}

type discardReporter struct{}

func (discardReporter) Progress(string) {}
func (discardReporter) Warning(string)  {}
