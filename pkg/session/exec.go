package session

import (
	"context"
	"fmt"

	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/client-go/tools/remotecommand"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/diagnose"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/podspec"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/sessionlog"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/stream"
)

// ExecRequest is the exec action: one command, or a login shell, on the session's node.
type ExecRequest struct {
	// Command to run; empty means an interactive login shell.
	Command []string
	// Terminal is the local side of the streams. A TTY is put in raw mode only while the
	// stream runs, as kubectl's term.TTY.Safe does: Ctrl-C before it is still a signal.
	Terminal *stream.Terminal
	// Term is the TERM value for a TTY session; empty means xterm.
	Term string
}

// RequiredAccess implements Action. The executor upgrades to SPDY first, a POST, authorized
// as "create pods/exec" by every version; only where a proxy refuses SPDY does it try
// WebSocket, a GET, which apiservers up to 1.34 authorize as "get" (docs/rbac.md grants both).
func (ExecRequest) RequiredAccess(namespace string) []authorizationv1.ResourceAttributes {
	return []authorizationv1.ResourceAttributes{{Namespace: namespace, Verb: "create", Resource: "pods", Subresource: "exec"}}
}

// Exec runs req in the session's pod and returns the remote command's exit status. err is
// non-nil only when the session itself failed (the stream broke, ctx was cancelled): a
// command that exits non-zero is a successful exec with a non-zero status.
func (h *Handle) Exec(ctx context.Context, req ExecRequest) (int, error) {
	s := h.s
	ctx, stop := h.withCrash(ctx)
	defer stop()
	s.Reporter.Progress("")
	t := req.Terminal
	if t == nil {
		t = &stream.Terminal{}
	}
	var err error
	term := termFor(t.TTY, req.Term)
	argv := s.spec.Entry.Argv(req.Command, term)
	start := s.Clock.Now()
	rec := s.record(sessionlog.NewID(), req.Command, start, t.TTY, h.agent != nil)
	var agentBeat *agentHeartbeat
	switch {
	case h.agent != nil:
		argv, agentBeat = h.agent.begin(ctx, rec, argv)
	case s.spec.Entry.Mode() != podspec.ModeWindows: // the wrapper is busybox sh
		argv = sessionlog.WrappedArgv(rec.ID, rec, argv)
	}
	events := s.eventsStarted(h.pod, rec, s.publicCommand(req.Command), start)
	out, resizes := t.Out, func(q remotecommand.TerminalSizeQueue) remotecommand.TerminalSizeQueue { return q }
	var recorder *ttyRecorder
	if t.TTY && s.RecordTTY {
		if recorder = s.startRecording(ctx, h.pod, rec, t, term); recorder != nil {
			out, resizes = recorder.output(t.Out), recorder.sizes
		}
	}
	runErr := t.Run(func(resize remotecommand.TerminalSizeQueue) error {
		err = s.Executor.Exec(ctx, stream.Request{
			Namespace: h.pod.Namespace,
			Pod:       h.pod.Name,
			Container: podspec.ContainerName,
			Command:   argv,
			Stdin:     t.In,
			Stdout:    out,
			Stderr:    t.ErrOut,
			TTY:       t.TTY,
			Resize:    resizes(resize),
		})
		return nil
	})
	if agentBeat != nil {
		agentBeat.finish(err)
	}
	if recorder != nil {
		if rerr := recorder.finish(); rerr != nil {
			s.Reporter.Warning(fmt.Sprintf("the session's recording on node %s is incomplete: %v", s.spec.Node, rerr))
		}
	}
	h.endEvents(events, start, endedHow(err, runErr, ctx))
	if runErr != nil {
		return 0, runErr
	}
	code, ok := stream.ExitCode(err)
	switch {
	case ok:
		err = nil
	case context.Cause(ctx) != nil:
		// Cancelled by a signal: executors do not all return ctx.Err() when their stream is cut.
		return 0, context.Cause(ctx)
	default:
		err = diagnose.ExecProblem(err, h.pod.Namespace, h.pod.Name, s.spec.Node)
	}
	if h.agent != nil {
		return h.agent.judge(code, err, agentBeat)
	}
	if ctx.Err() == nil && (err != nil || code >= 128) {
		if why := s.stoppedBy(h.pod); why != "" {
			s.Reporter.Warning(why)
		}
	}
	return code, err
}

func termFor(tty bool, term string) string {
	if !tty {
		return ""
	}
	if term == "" {
		return "xterm"
	}
	return term
}

// endedHow says how a session's exec ended, for its end Event.
func endedHow(execErr, runErr error, ctx context.Context) string {
	if code, ok := stream.ExitCode(execErr); ok {
		return fmt.Sprintf("exit status %d", code)
	}
	switch {
	case runErr != nil:
		return "the terminal failed: " + runErr.Error()
	case context.Cause(ctx) != nil:
		return "interrupted: " + context.Cause(ctx).Error()
	case execErr != nil:
		return "the stream failed: " + execErr.Error()
	}
	return "exit status 0"
}
