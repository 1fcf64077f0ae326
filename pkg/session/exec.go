package session

import (
	"context"

	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/client-go/tools/remotecommand"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/diagnose"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/podspec"
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
	argv := s.spec.Entry.Argv(req.Command, termFor(t.TTY, req.Term))
	var agentBeat *agentHeartbeat
	if h.agent != nil {
		argv, agentBeat = h.agent.begin(ctx, argv)
	}
	runErr := t.Run(func(resize remotecommand.TerminalSizeQueue) error {
		err = s.Executor.Exec(ctx, stream.Request{
			Namespace: h.pod.Namespace,
			Pod:       h.pod.Name,
			Container: podspec.ContainerName,
			Command:   argv,
			Stdin:     t.In,
			Stdout:    t.Out,
			Stderr:    t.ErrOut,
			TTY:       t.TTY,
			Resize:    resize,
		})
		return nil
	})
	if agentBeat != nil {
		agentBeat.finish(err)
	}
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
