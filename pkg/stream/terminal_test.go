package stream

import (
	"bytes"
	"os"
	"reflect"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
	dockerterm "github.com/moby/term"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/utils/ptr"
)

// TestSetupTerminal walks kubectl exec's decision table: no stdin means no TTY; a TTY
// asked for on a stdin that is not a terminal is refused with a warning (unless quiet);
// otherwise a TTY when asked for, or by default when stdin and stdout are terminals.
func TestSetupTerminal(t *testing.T) {
	termIn, pipeIn := &bytes.Buffer{}, &bytes.Buffer{}
	termOut, pipeOut := &bytes.Buffer{}, &bytes.Buffer{}
	isTerminal := func(f any) bool { return f == termIn || f == termOut }
	const warning = "Unable to use a TTY - input is not a terminal or the right kind of file\n"
	for _, tc := range []struct {
		name        string
		in          *bytes.Buffer
		out         *bytes.Buffer
		stdin       bool
		tty         *bool
		quiet       bool
		wantIn      bool
		wantTTY     bool
		wantWarning bool
	}{
		{name: "stdin off, terminals", in: termIn, out: termOut, stdin: false, wantIn: false, wantTTY: false},
		{name: "stdin off, -t", in: termIn, out: termOut, stdin: false, tty: ptr.To(true), wantIn: false, wantTTY: false},
		{name: "auto, both terminals", in: termIn, out: termOut, stdin: true, wantIn: true, wantTTY: true},
		{name: "auto, stdout a pipe", in: termIn, out: pipeOut, stdin: true, wantIn: true, wantTTY: false},
		{name: "auto, stdin a pipe", in: pipeIn, out: termOut, stdin: true, wantIn: true, wantTTY: false},
		{name: "-t, stdin a pipe", in: pipeIn, out: termOut, stdin: true, tty: ptr.To(true), wantIn: true, wantTTY: false, wantWarning: true},
		{name: "-t, stdin a pipe, quiet", in: pipeIn, out: termOut, stdin: true, tty: ptr.To(true), quiet: true, wantIn: true, wantTTY: false},
		{name: "-t, stdout a pipe", in: termIn, out: pipeOut, stdin: true, tty: ptr.To(true), wantIn: true, wantTTY: true},
		{name: "-t=false, both terminals", in: termIn, out: termOut, stdin: true, tty: ptr.To(false), wantIn: true, wantTTY: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var errOut bytes.Buffer
			term := SetupTerminal(TerminalOptions{In: tc.in, Out: tc.out, ErrOut: &errOut,
				Stdin: tc.stdin, TTY: tc.tty, Quiet: tc.quiet, isTerminal: isTerminal})
			if gotIn := term.In != nil; gotIn != tc.wantIn || (gotIn && term.In != tc.in) {
				t.Errorf("In = %v, want stdin sent: %v", term.In, tc.wantIn)
			}
			if term.TTY != tc.wantTTY {
				t.Errorf("TTY = %v, want %v", term.TTY, tc.wantTTY)
			}
			if term.Out != tc.out || term.ErrOut != &errOut {
				t.Errorf("Out/ErrOut are not the ones given")
			}
			if gotWarning := errOut.String() == warning; gotWarning != tc.wantWarning || (!gotWarning && errOut.Len() != 0) {
				t.Errorf("stderr %q, want the warning: %v", errOut.String(), tc.wantWarning)
			}
		})
	}
}

func TestRunWithoutATTYCallsFnDirectly(t *testing.T) {
	term := SetupTerminal(TerminalOptions{In: &bytes.Buffer{}, Out: &bytes.Buffer{}, Stdin: true, isTerminal: func(any) bool { return false }})
	called := false
	if err := term.Run(func(resize remotecommand.TerminalSizeQueue) error {
		called = true
		if resize != nil {
			t.Error("a resize queue without a terminal")
		}
		return nil
	}); err != nil || !called {
		t.Errorf("Run = %v, fn called %v", err, called)
	}
}

// ptyTerminal is a real terminal for the session's stdin and stdout, and its state before.
func ptyTerminal(t *testing.T) (*os.File, *dockerterm.State) {
	t.Helper()
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	t.Cleanup(func() { tty.Close(); ptmx.Close() })
	if err := pty.Setsize(ptmx, &pty.Winsize{Rows: 24, Cols: 80}); err != nil {
		t.Fatal(err)
	}
	cooked, err := dockerterm.SaveState(tty.Fd())
	if err != nil {
		t.Fatal(err)
	}
	return tty, cooked
}

func stateOf(t *testing.T, f *os.File) *dockerterm.State {
	t.Helper()
	s, err := dockerterm.SaveState(f.Fd())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestRunRawModeAndRestore: on a real terminal, fn runs in raw mode with a resize queue
// that reports the size, and the terminal is as before once Run returns.
func TestRunRawModeAndRestore(t *testing.T) {
	tty, cooked := ptyTerminal(t)
	term := SetupTerminal(TerminalOptions{In: tty, Out: tty, Stdin: true})
	if !term.TTY {
		t.Fatal("a pty on stdin and stdout gives no TTY")
	}
	err := term.Run(func(resize remotecommand.TerminalSizeQueue) error {
		if reflect.DeepEqual(stateOf(t, tty), cooked) {
			t.Error("the terminal is not in raw mode during the session")
		}
		if resize == nil {
			t.Fatal("no resize queue on a terminal")
		}
		if size := resize.Next(); size == nil || size.Width != 80 || size.Height != 24 {
			t.Errorf("first size %+v, want 80x24", size)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(stateOf(t, tty), cooked) {
		t.Error("the terminal was not restored after the session")
	}
}

// TestRunRestoresTheTerminalOnSIGQUIT: kubectl's raw-mode guard restores the terminal on
// SIGQUIT as soon as it arrives, while the session (here fn) is still winding down; the
// process does not die of it (that is the caller's signal handler's job: see cmd).
func TestRunRestoresTheTerminalOnSIGQUIT(t *testing.T) {
	tty, cooked := ptyTerminal(t)
	term := SetupTerminal(TerminalOptions{In: tty, Out: tty, Stdin: true})
	restoredInFn := false
	err := term.Run(func(remotecommand.TerminalSizeQueue) error {
		if reflect.DeepEqual(stateOf(t, tty), cooked) {
			t.Fatal("the terminal is not in raw mode during the session")
		}
		if err := syscall.Kill(os.Getpid(), syscall.SIGQUIT); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if reflect.DeepEqual(stateOf(t, tty), cooked) {
				restoredInFn = true
				break
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !restoredInFn {
		t.Error("SIGQUIT did not restore the terminal within 10s")
	}
}
