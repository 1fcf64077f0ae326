package cmd

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	dockerterm "github.com/moby/term"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/crash"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/diagnose"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/termsafe"
)

// redrawEvery is how often the progress line's elapsed time is refreshed.
const redrawEvery = 200 * time.Millisecond

// reporter shows a session's progress as one self-updating line on a terminal stderr, and
// nothing on a pipe or with -q. Warnings are printed as lines of their own either way.
// What it shows comes partly from the cluster (image names, reasons, messages), so it is
// escaped before it reaches the terminal.
type reporter struct {
	mu        sync.Mutex
	out       io.Writer
	terminal  bool // stderr is a terminal
	progress  bool // stderr is a terminal and progress is wanted
	verbosity int
	start     time.Time
	status    string // what the live line says; "" when there is none
	ticker    *time.Ticker
	stop      chan struct{}
	// onPanic ends the session when the redraw goroutine panics (see crash.Go); nil lets
	// the panic end the process.
	onPanic func(error)
}

func newReporter(errOut io.Writer, quiet bool, verbosity int, onPanic func(error)) *reporter {
	_, isTerm := dockerterm.GetFdInfo(errOut)
	return &reporter{out: errOut, terminal: isTerm, progress: isTerm && !quiet, verbosity: verbosity, start: time.Now(), onPanic: onPanic}
}

// Progress implements session.Reporter; an empty status clears the line. The line shows
// the time since node-shell started and is redrawn as that time passes.
func (r *reporter) Progress(status string) {
	if !r.progress {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if status == "" {
		r.clearLocked()
		return
	}
	r.status = termsafe.String(status)
	r.drawLocked()
	if r.ticker == nil {
		ticker, stop := time.NewTicker(redrawEvery), make(chan struct{})
		r.ticker, r.stop = ticker, stop
		if r.onPanic == nil {
			go r.redraw(ticker, stop)
		} else {
			crash.Go(func() { r.redraw(ticker, stop) }, r.onPanic)
		}
	}
}

func (r *reporter) redraw(ticker *time.Ticker, stop chan struct{}) {
	for {
		select {
		case <-stop:
			return
		case <-ticker.C:
			r.redrawOnce()
		}
	}
}

func (r *reporter) redrawOnce() {
	r.mu.Lock()
	defer r.mu.Unlock() // even through a panic: Done and Warning must not wait forever
	if r.status != "" {
		r.drawLocked()
	}
}

func (r *reporter) drawLocked() {
	fmt.Fprintf(r.out, "\r\033[K%s (%.1fs)", r.status, time.Since(r.start).Seconds())
}

// Warning implements session.Reporter. On a terminal the line ends in \r\n: the session
// may have put the terminal in raw mode, where \n alone does not return the cursor.
func (r *reporter) Warning(msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	status := r.status
	r.clearLocked()
	eol := "\n"
	if r.terminal {
		eol = "\r\n"
	}
	fmt.Fprint(r.out, "warning: "+termsafe.String(msg)+eol)
	if status != "" {
		r.status = status
		r.drawLocked()
	}
}

// Done clears the progress line, if any, and stops redrawing it.
func (r *reporter) Done() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.clearLocked()
	if r.ticker != nil {
		r.ticker.Stop()
		close(r.stop)
		r.ticker = nil
	}
}

func (r *reporter) clearLocked() {
	if r.status != "" {
		fmt.Fprint(r.out, "\r\033[K")
		r.status = ""
	}
}

// Explain adds, when asked for with -v, the cluster's full message to a diagnosed failure
// and the stack to a panic.
func (r *reporter) Explain(err error) error {
	if r.verbosity <= 0 {
		return err
	}
	var p *diagnose.Problem
	if errors.As(err, &p) && p.Detail != "" {
		return fmt.Errorf("%w\n  detail: %s", err, p.Detail)
	}
	var c *crash.Error
	if errors.As(err, &c) {
		return fmt.Errorf("%w\n%s", err, c.Stack)
	}
	return err
}
