// Package recording records node-shell TTY sessions as asciicast v2 files
// (https://docs.asciinema.org/manual/asciicast/v2/) and replays them.
package recording

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"
	"unicode/utf8"
)

// Version is the only asciicast format version this package writes and reads.
const Version = 2

// Header is the first line of an asciicast v2 file.
type Header struct {
	Version int `json:"version"`
	Width   int `json:"width"`
	Height  int `json:"height"`
	// Timestamp is the session start in unix seconds; NewWriter fills it in when zero.
	Timestamp int64             `json:"timestamp,omitempty"`
	Title     string            `json:"title,omitempty"`
	Env       map[string]string `json:"env,omitempty"`
}

// Writer records a session as asciicast v2 lines, one Write call per line, so
// that a session killed mid-way leaves only whole lines behind.
type Writer struct {
	mu     sync.Mutex
	w      io.Writer
	now    func() time.Time
	start  time.Time
	carry  []byte // an incomplete UTF-8 sequence held back for the next Output
	err    error
	closed bool
}

// NewWriter writes h's header line to w at once and starts the clock; now is
// time.Now when nil.
func NewWriter(w io.Writer, h Header, now func() time.Time) (*Writer, error) {
	if h.Width <= 0 || h.Height <= 0 {
		return nil, fmt.Errorf("recording: terminal size %dx%d is not positive; a cast needs the session's columns and rows", h.Width, h.Height)
	}
	if now == nil {
		now = time.Now
	}
	rw := &Writer{w: w, now: now, start: now()}
	h.Version = Version
	if h.Timestamp == 0 {
		h.Timestamp = rw.start.Unix()
	}
	rw.writeLine(h)
	if rw.err != nil {
		return nil, rw.err
	}
	return rw, nil
}

// Output records p as an "o" event; a UTF-8 sequence cut at the end of p is
// held back until the next Output so that a character split across two reads
// comes out whole.
func (rw *Writer) Output(p []byte) {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	if rw.closed || rw.err != nil {
		return
	}
	data := append(rw.carry, p...)
	cut := len(data) - incompleteTail(data)
	rw.carry = append([]byte(nil), data[cut:]...)
	if cut > 0 {
		rw.event("o", data[:cut])
	}
}

// Resize records an "r" event for the new terminal size.
func (rw *Writer) Resize(cols, rows int) {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	if rw.closed || rw.err != nil {
		return
	}
	rw.event("r", []byte(fmt.Sprintf("%dx%d", cols, rows)))
}

// Close flushes held-back bytes (still incomplete, they become U+FFFD) and
// returns Err(); it does not close the underlying writer, which it does not own.
func (rw *Writer) Close() error {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	if !rw.closed && rw.err == nil && len(rw.carry) > 0 {
		rw.event("o", rw.carry)
	}
	rw.carry = nil
	rw.closed = true
	return rw.err
}

// Err returns the first error writing the recording; after it the Writer
// records nothing more, so that a broken recording never breaks the session.
func (rw *Writer) Err() error {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	return rw.err
}

// event writes [elapsed, code, data]; the caller holds rw.mu.
func (rw *Writer) event(code string, data []byte) {
	elapsed := rw.now().Sub(rw.start)
	if elapsed < 0 {
		elapsed = 0
	}
	us := elapsed.Microseconds()
	stamp := json.Number(fmt.Sprintf("%d.%06d", us/1e6, us%1e6))
	// encoding/json turns each invalid UTF-8 byte of a string into U+FFFD.
	rw.writeLine([]any{stamp, code, string(data)})
}

// writeLine encodes v as one JSON line and hands it to w in a single Write.
func (rw *Writer) writeLine(v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // keep <, > and & readable in the cast
	if err := enc.Encode(v); err != nil {
		rw.err = fmt.Errorf("recording: encoding a line: %w", err)
		return
	}
	n, err := rw.w.Write(buf.Bytes())
	if err == nil && n < buf.Len() {
		err = io.ErrShortWrite
	}
	if err != nil {
		rw.err = fmt.Errorf("recording: writing the cast: %w", err)
	}
}

// incompleteTail is the length of a UTF-8 sequence cut short at the end of p
// (0 when p ends in a whole rune or in bytes no continuation could fix).
func incompleteTail(p []byte) int {
	for i := 1; i < utf8.UTFMax && i <= len(p); i++ {
		tail := p[len(p)-i:]
		if utf8.RuneStart(tail[0]) {
			if utf8.FullRune(tail) {
				return 0
			}
			return i
		}
	}
	return 0
}

// Tee writes to terminal and records into rec only the bytes terminal
// accepted; unlike io.MultiWriter, a failing recording never fails or
// shortens the terminal write.
func Tee(terminal io.Writer, rec *Writer) io.Writer {
	return &tee{terminal: terminal, rec: rec}
}

type tee struct {
	terminal io.Writer
	rec      *Writer
}

func (t *tee) Write(p []byte) (int, error) {
	n, err := t.terminal.Write(p)
	if n > 0 && n <= len(p) {
		t.rec.Output(p[:n])
	}
	return n, err
}
