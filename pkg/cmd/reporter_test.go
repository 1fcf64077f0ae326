package cmd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
	dockerterm "github.com/moby/term"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/crash"
)

// ptyErr is a real terminal for the reporter to write to, in raw mode as during a TTY
// session, and what it showed.
func ptyErr(t *testing.T) (*os.File, func() string) {
	t.Helper()
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	if _, err := dockerterm.MakeRaw(tty.Fd()); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var out bytes.Buffer
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 1024)
		for {
			n, err := ptmx.Read(buf)
			mu.Lock()
			out.Write(buf[:n])
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() { ptmx.Close(); tty.Close() })
	return tty, func() string {
		tty.Close()
		select {
		case <-done:
		case <-time.After(2 * time.Second):
			t.Error("the pty still had output to read 2s after it was closed: what it showed may be cut short")
		}
		mu.Lock()
		defer mu.Unlock()
		return out.String()
	}
}

var draw = regexp.MustCompile(`\r\x1b\[Kcreating pod on node n1 \((\d+\.\d)s\)`)

// TestReporterOnATerminal: one line, redrawn in place (\r, erase) as time passes; a warning
// gets a line of its own (\r\n: raw mode) and the progress line comes back under it; Done
// erases it.
func TestReporterOnATerminal(t *testing.T) {
	tty, shown := ptyErr(t)
	r := newReporter(tty, false, 0, failOnPanic(t))
	r.Progress("creating pod on node n1")
	time.Sleep(3*redrawEvery + redrawEvery/2)
	r.Warning("node n1 is not ready")
	r.Done()
	out := shown()

	times := map[string]bool{}
	for _, m := range draw.FindAllStringSubmatch(out, -1) {
		times[m[1]] = true
	}
	if len(times) < 2 {
		t.Errorf("progress drawn with %d distinct times, want it redrawn as time passes: %q", len(times), out)
	}
	if !strings.Contains(out, "\r\x1b[Kwarning: node n1 is not ready\r\n\r\x1b[Kcreating pod") {
		t.Errorf("want the warning on a line of its own, ending \\r\\n, then the progress line again: %q", out)
	}
	if !strings.HasSuffix(out, "\r\x1b[K") {
		t.Errorf("Done left the line on screen: %q", out)
	}
}

func TestReporterQuietOnATerminal(t *testing.T) {
	tty, shown := ptyErr(t)
	r := newReporter(tty, true, 0, failOnPanic(t))
	r.Progress("creating pod on node n1")
	time.Sleep(2 * redrawEvery)
	r.Done()
	if out := shown(); out != "" {
		t.Errorf("-q on a terminal showed %q, want nothing", out)
	}
}

func TestReporterOnAPipe(t *testing.T) {
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	r := newReporter(pw, false, 0, failOnPanic(t))
	r.Progress("creating pod on node n1")
	time.Sleep(2 * redrawEvery)
	r.Warning("node n1 is not ready")
	r.Done()
	pw.Close()
	out, _ := io.ReadAll(pr)
	if string(out) != "warning: node n1 is not ready\n" {
		t.Errorf("on a pipe, stderr got %q; want only the warning, as a plain line", out)
	}
}

// TestAPIWarningsGoThroughTheReporter: the apiserver's warnings print once each, as the
// reporter's warnings, and not at all before a reporter exists.
func TestAPIWarningsGoThroughTheReporter(t *testing.T) {
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	w := &apiWarnings{}
	w.HandleWarningHeader(299, "", "early")
	w.to(newReporter(pw, false, 0, failOnPanic(t)))
	w.HandleWarningHeader(299, "", "metadata.name: not a DNS label")
	w.HandleWarningHeader(299, "", "metadata.name: not a DNS label")
	w.HandleWarningHeader(199, "", "not a warning code")
	pw.Close()
	out, _ := io.ReadAll(pr)
	if string(out) != "warning: metadata.name: not a DNS label\n" {
		t.Errorf("stderr got %q, want the one warning once", out)
	}
}

// failOnPanic is the reporter's onPanic for tests where nothing may panic.
func failOnPanic(t *testing.T) func(error) {
	return func(err error) { t.Errorf("the reporter's goroutine panicked: %v", err) }
}

// TestReporterEscapesWhatTheClusterSays: image names, reasons and messages reach the
// progress line and warnings escaped.
func TestReporterEscapesWhatTheClusterSays(t *testing.T) {
	tty, shown := ptyErr(t)
	r := newReporter(tty, false, 0, failOnPanic(t))
	r.Progress("pulling evil\x1b]0;pwned\x07\x1b[2J")
	r.Warning("node n1: \x1b[8mhidden\u202e")
	r.Done()
	out := shown()
	if want := "\r\x1b[Kpulling evil\\x1b]0;pwned\\a\\x1b[2J ("; !strings.Contains(out, want) {
		t.Errorf("progress line %q, want it to contain %q", out, want)
	}
	if want := "\r\x1b[Kwarning: node n1: \\x1b[8mhidden\\u202e\r\n"; !strings.Contains(out, want) {
		t.Errorf("warning %q, want it to contain %q", out, want)
	}
	// The reporter's own erase sequence is the only escape on the terminal.
	if rest := strings.ReplaceAll(out, "\r\x1b[K", ""); strings.ContainsAny(rest, "\x1b\x07\u202e") {
		t.Errorf("the terminal got a raw escape, BEL or bidi override: %q", out)
	}
}

func TestAPIWarningsAreEscaped(t *testing.T) {
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	w := &apiWarnings{}
	w.to(newReporter(pw, false, 0, failOnPanic(t)))
	w.HandleWarningHeader(299, "", "policy says: \u202eexe.txt\u2066")
	pw.Close()
	out, _ := io.ReadAll(pr)
	if want := `warning: policy says: \u202eexe.txt\u2066` + "\n"; string(out) != want {
		t.Errorf("stderr got %q, want %q", out, want)
	}
}

// panicOnce panics on its nth write, and writes to buf otherwise.
type panicOnce struct {
	mu     sync.Mutex
	writes int
	nth    int
	buf    bytes.Buffer
}

func (w *panicOnce) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writes++
	if w.writes == w.nth {
		panic("terminal went away")
	}
	return w.buf.Write(p)
}

// TestRedrawPanicEndsTheSession: a panic in the redraw goroutine does not kill the process;
// it cancels the session with the panic as the cause, and leaves the reporter usable, so
// the cleanup that follows can still print and clear the line.
func TestRedrawPanicEndsTheSession(t *testing.T) {
	ctx, endSession := context.WithCancelCause(context.Background())
	defer endSession(nil)
	w := &panicOnce{nth: 2} // the first draw is Progress's own, the second the goroutine's
	r := &reporter{out: w, terminal: true, progress: true, start: time.Now(), onPanic: endSession}
	r.Progress("creating pod on node n1")
	select {
	case <-ctx.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the redraw goroutine's panic did not end the session within 10s")
	}
	var p *crash.Error
	if !errors.As(context.Cause(ctx), &p) || p.Value != "terminal went away" || !strings.Contains(string(p.Stack), "redrawOnce") {
		t.Fatalf("session ended with %v, want the redraw's panic with its stack", context.Cause(ctx))
	}
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		r.Warning("deleting pod")
		r.Done()
	}()
	select {
	case <-finished:
	case <-time.After(10 * time.Second):
		t.Fatal("Warning and Done still wait after 10s: the panic left the reporter locked")
	}
	if ExitStatus(p) != ExitFailure {
		t.Errorf("exit status %d for a panic, want %d", ExitStatus(p), ExitFailure)
	}
}

func TestExplainShowsAPanicsStackOnlyWithV(t *testing.T) {
	err := fmt.Errorf("exec: %w", &crash.Error{Value: "boom", Stack: []byte("goroutine 7 [running]:\ncmd.(*reporter).redrawOnce()")})
	quiet := newReporter(io.Discard, false, 0, nil).Explain(err)
	if msg := Message(quiet); msg != "error: exec: internal error: boom (a bug in node-shell; please report it)" {
		t.Errorf("without -v: %q, want one line", msg)
	}
	verbose := newReporter(io.Discard, false, 1, nil).Explain(err)
	if msg := Message(verbose); !strings.HasSuffix(msg, "please report it)\ngoroutine 7 [running]:\ncmd.(*reporter).redrawOnce()") {
		t.Errorf("with -v: %q, want the stack after the line", msg)
	}
}
