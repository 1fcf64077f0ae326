package stream

import (
	"fmt"
	"io"
	"os"

	dockerterm "github.com/moby/term"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/kubectl/pkg/util/interrupt"
	"k8s.io/kubectl/pkg/util/term"
)

// Terminal is the local side of a session's streams: which of them are attached, whether a
// TTY is used, and the terminal state to restore afterwards.
type Terminal struct {
	In     io.Reader // nil: no stdin is sent
	Out    io.Writer
	ErrOut io.Writer
	TTY    bool
	tty    term.TTY
}

// TerminalOptions are the user's wishes; SetupTerminal reconciles them with what the
// process's stdin and stdout really are.
type TerminalOptions struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
	// Stdin sends stdin to the command.
	Stdin bool
	// TTY asks for a terminal: nil means "when stdin and stdout are terminals".
	TTY *bool
	// Quiet suppresses the warning printed when a TTY is asked for but cannot be had.
	Quiet bool
	// isTerminal overrides terminal detection in tests.
	isTerminal func(any) bool
}

// SetupTerminal decides, like kubectl exec's SetupTTY: no stdin means no TTY; a TTY asked
// for on a stdin that is not a terminal is refused with a warning; otherwise the local
// terminal will be put in raw mode for the session. It is not kubectl's SetupTTY because
// that one has no "TTY when both ends are terminals" default and swaps in the process's
// stdin and stdout whatever streams it was given; raw mode, resizes and the restore are
// kubectl's term.TTY (Run).
func SetupTerminal(o TerminalOptions) *Terminal {
	isTerminal := o.isTerminal
	if isTerminal == nil {
		isTerminal = func(f any) bool { _, ok := dockerterm.GetFdInfo(f); return ok }
	}
	t := &Terminal{Out: o.Out, ErrOut: o.ErrOut}
	if !o.Stdin {
		return t
	}
	t.In = o.In
	wantTTY := isTerminal(o.In) && isTerminal(o.Out)
	if o.TTY != nil {
		wantTTY = *o.TTY
		if wantTTY && !isTerminal(o.In) {
			if !o.Quiet && o.ErrOut != nil {
				fmt.Fprintln(o.ErrOut, "Unable to use a TTY - input is not a terminal or the right kind of file")
			}
			wantTTY = false
		}
	}
	if !wantTTY {
		return t
	}
	t.TTY = true
	t.tty = term.TTY{In: o.In, Out: o.Out, Raw: true}
	if f, ok := o.In.(*os.File); ok && f == os.Stdin {
		// dockerterm gives the right handles on Windows consoles.
		stdin, stdout, _ := dockerterm.StdStreams()
		t.In, t.tty.In = stdin, stdin
		if o.Out == os.Stdout {
			t.Out, t.tty.Out = stdout, stdout
		}
	}
	return t
}

// Run calls fn with the terminal in raw mode (when a TTY is used) and restores it when fn
// returns, panics, or a termination signal arrives (kubectl's interrupt package: SIGHUP,
// SIGINT, SIGTERM, SIGQUIT). Signals are not handled beyond the restore: the caller's own
// handler, for the same signals, cancels the session, so that its cleanup runs instead of
// os.Exit; a signal it missed would leave the session running on a cooked terminal.
func (t *Terminal) Run(fn func(resize remotecommand.TerminalSizeQueue) error) error {
	if !t.TTY {
		return fn(nil)
	}
	t.tty.Parent = interrupt.New(func(os.Signal) {})
	resize := sizeQueue{t.tty.MonitorSize(t.tty.GetSize())}
	return t.tty.Safe(func() error { return fn(resize) })
}

// sizeQueue carries kubectl's term sizes as client-go's: since v0.35 they are two types
// with the same fields (kubectl exec has the same adapter, unexported).
type sizeQueue struct{ from term.TerminalSizeQueue }

func (q sizeQueue) Next() *remotecommand.TerminalSize {
	next := q.from.Next()
	if next == nil {
		return nil
	}
	return &remotecommand.TerminalSize{Width: next.Width, Height: next.Height}
}

// Size is the local terminal's size, when the session has one.
func (t *Terminal) Size() (width, height uint16, ok bool) {
	if !t.TTY {
		return 0, 0, false
	}
	s := t.tty.GetSize()
	if s == nil {
		return 0, 0, false
	}
	return s.Width, s.Height, true
}
