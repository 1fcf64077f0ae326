package cmd

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	dockerterm "github.com/moby/term"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/diagnose"
)

// reporter shows a session's progress as one self-updating line on a terminal stderr, and
// nothing on a pipe or with -q. Warnings are printed as lines of their own either way.
type reporter struct {
	mu        sync.Mutex
	out       io.Writer
	live      bool // a progress line is on screen
	progress  bool // stderr is a terminal and progress is wanted
	verbosity int
	start     time.Time
}

func newReporter(errOut io.Writer, quiet bool, verbosity int) *reporter {
	_, isTerm := dockerterm.GetFdInfo(errOut)
	return &reporter{out: errOut, progress: isTerm && !quiet, verbosity: verbosity, start: time.Now()}
}

// Progress implements session.Reporter; an empty status clears the line.
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
	fmt.Fprintf(r.out, "\r\033[K%s (%.1fs)", status, time.Since(r.start).Seconds())
	r.live = true
}

// Warning implements session.Reporter.
func (r *reporter) Warning(msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.clearLocked()
	fmt.Fprintln(r.out, "warning: "+msg)
}

// Done clears the progress line, if any.
func (r *reporter) Done() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.clearLocked()
}

func (r *reporter) clearLocked() {
	if r.live {
		fmt.Fprint(r.out, "\r\033[K")
		r.live = false
	}
}

// Explain adds the cluster's full message to a diagnosed failure when asked for with -v.
func (r *reporter) Explain(err error) error {
	var p *diagnose.Problem
	if r.verbosity > 0 && errors.As(err, &p) && p.Detail != "" {
		return fmt.Errorf("%w\n  detail: %s", err, p.Detail)
	}
	return err
}
