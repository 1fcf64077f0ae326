package cmd

import (
	"bytes"
	"io"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
	dockerterm "github.com/moby/term"
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
