package fleet

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/session"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/termsafe"
)

// maxLine bounds a line held back for its newline: a longer one is written in pieces, each
// prefixed, so a node printing without newlines cannot grow memory without end.
const maxLine = 64 << 10

// Output is where the nodes' output goes: lines prefixed with the node's name (the
// default), one directory of files per node (Dir), or kept in each node's result
// (Capture, for -o json). Lines of different nodes never interleave inside a line.
type Output struct {
	Out, ErrOut io.Writer
	// Dir holds DIR/NODE/stdout, stderr and exit-status (and error, for a failed node).
	Dir string
	// Capture keeps each node's stdout and stderr in its Result.
	Capture bool
	// ShowProgress shows "12/40 done, 3 failed" on ErrOut, redrawn in place: for a terminal.
	ShowProgress bool

	mu             sync.Mutex
	total, n, fail int
	shown          bool // the progress line is on the screen
}

func (o *Output) begin(total int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.total = total
	o.drawLocked()
}

// done counts r in the progress line.
func (o *Output) done(r Result) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.n++
	if r.Outcome != Exited || r.ExitStatus != 0 {
		o.fail++
	}
	o.drawLocked()
}

// end takes the progress line off the screen.
func (o *Output) end() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.clearLocked()
}

func (o *Output) drawLocked() {
	if !o.ShowProgress {
		return
	}
	fmt.Fprintf(o.ErrOut, "\r\033[K%d/%d done, %d failed", o.n, o.total, o.fail)
	o.shown = true
}

func (o *Output) clearLocked() {
	if o.shown {
		fmt.Fprint(o.ErrOut, "\r\033[K")
		o.shown = false
	}
}

// write puts whole lines on w, with the progress line cleared around them.
func (o *Output) write(w io.Writer, lines []byte) {
	o.mu.Lock()
	defer o.mu.Unlock()
	shown := o.shown
	o.clearLocked()
	_, _ = w.Write(lines)
	if shown {
		o.drawLocked()
	}
}

// Progress implements session.Reporter for the fleet as a whole: its progress is the count.
func (o *Output) Progress(string) {}

// Warning implements session.Reporter: a line of its own, around the progress line.
func (o *Output) Warning(msg string) {
	o.write(o.ErrOut, []byte("warning: "+oneLine(msg)+"\n"))
}

// reporter is node's session.Reporter: its warnings as lines of their own; its progress
// is the fleet's count instead.
func (o *Output) reporter(node string) session.Reporter { return nodeReporter{o, node} }

type nodeReporter struct {
	o    *Output
	node string
}

func (r nodeReporter) Progress(string) {}
func (r nodeReporter) Warning(msg string) {
	r.o.write(r.o.ErrOut, []byte("warning: node "+r.node+": "+oneLine(msg)+"\n"))
}

// streams are node's stdout and stderr; finish flushes and closes them, and puts captured
// output in the result.
func (o *Output) streams(node string) (session.Streams, func(*Result), error) {
	switch {
	case o.Dir != "":
		dir, err := o.nodeDir(node)
		if err != nil {
			return session.Streams{}, nil, err
		}
		stdout, err := os.Create(filepath.Join(dir, "stdout"))
		if err != nil {
			return session.Streams{}, nil, err
		}
		stderr, err := os.Create(filepath.Join(dir, "stderr"))
		if err != nil {
			stdout.Close()
			return session.Streams{}, nil, err
		}
		return session.Streams{Out: stdout, ErrOut: stderr}, func(*Result) { stdout.Close(); stderr.Close() }, nil
	case o.Capture:
		var stdout, stderr bytes.Buffer
		return session.Streams{Out: &stdout, ErrOut: &stderr}, func(r *Result) {
			out, errOut := stdout.String(), stderr.String()
			r.Stdout, r.Stderr = &out, &errOut
		}, nil
	}
	prefix := []byte(node + ": ")
	stdout := &lineWriter{o: o, w: o.Out, prefix: prefix}
	stderr := &lineWriter{o: o, w: o.ErrOut, prefix: prefix}
	return session.Streams{Out: stdout, ErrOut: stderr}, func(*Result) { stdout.flush(); stderr.flush() }, nil
}

// exitStatus records r in node's directory, when there is one.
func (o *Output) exitStatus(node string, r Result) {
	if o.Dir == "" {
		return
	}
	dir, err := o.nodeDir(node)
	if err != nil {
		return
	}
	status := r.ExitStatus
	if r.Outcome != Exited {
		status = ExitFailure
		_ = os.WriteFile(filepath.Join(dir, "error"), []byte(r.Error+"\n"), 0o644)
	}
	_ = os.WriteFile(filepath.Join(dir, "exit-status"), []byte(fmt.Sprintf("%d\n", status)), 0o644)
}

// nodeDir is DIR/NODE, made if need be. Node names are DNS subdomains, so they cannot
// climb out of DIR; a name that is not one is refused rather than trusted.
func (o *Output) nodeDir(node string) (string, error) {
	if errs := validation.IsDNS1123Subdomain(node); len(errs) > 0 {
		return "", fmt.Errorf("node name %q cannot be a directory name: %s", node, strings.Join(errs, "; "))
	}
	dir := filepath.Join(o.Dir, node)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	return dir, nil
}

// lineWriter prefixes every line a node writes and hands it on whole; a last line without
// a newline gets one when the stream ends (flush).
type lineWriter struct {
	o      *Output
	w      io.Writer
	prefix []byte
	buf    []byte
}

func (l *lineWriter) Write(p []byte) (int, error) {
	l.buf = append(l.buf, p...)
	end := bytes.LastIndexByte(l.buf, '\n') + 1
	if end == 0 && len(l.buf) >= maxLine {
		end = len(l.buf)
	}
	if end > 0 {
		l.o.write(l.w, l.prefixed(l.buf[:end]))
		l.buf = append(l.buf[:0], l.buf[end:]...)
	}
	return len(p), nil
}

func (l *lineWriter) flush() {
	if len(l.buf) > 0 {
		l.o.write(l.w, l.prefixed(l.buf))
		l.buf = l.buf[:0]
	}
}

// prefixed is b, lines prefixed, ending in a newline.
func (l *lineWriter) prefixed(b []byte) []byte {
	var out bytes.Buffer
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line = b[:i]
			b = b[i+1:]
		} else {
			b = nil
		}
		out.Write(l.prefix)
		out.Write(line)
		out.WriteByte('\n')
	}
	return out.Bytes()
}

// oneLine is s on one line and safe for a terminal: a cause may quote what a node or the
// cluster wrote, and it must neither break the summary's table nor drive the terminal.
func oneLine(s string) string { return termsafe.String(s) }
