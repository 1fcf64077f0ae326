package recording

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

// fakeClock is a settable time source for NewWriter.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// writeLog keeps every Write call separately and fails the call numbered failOn (1-based; 0 never).
type writeLog struct {
	mu     sync.Mutex
	writes []string
	failOn int
	short  bool // fail by accepting one byte less, without an error
}

var errDiskFull = errors.New("disk full")

func (l *writeLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.writes = append(l.writes, string(p))
	if len(l.writes) == l.failOn {
		if l.short {
			return len(p) - 1, nil
		}
		return 0, errDiskFull
	}
	return len(p), nil
}

func (l *writeLog) calls() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.writes)
}

var start = time.Unix(1700000000, 250_000_000)

func newTestWriter(t *testing.T, w io.Writer) (*Writer, *fakeClock) {
	t.Helper()
	clock := &fakeClock{t: start}
	rec, err := NewWriter(w, Header{Width: 80, Height: 24}, clock.now)
	if err != nil {
		t.Fatalf("NewWriter: %v", err)
	}
	return rec, clock
}

// eventData decodes the "o" lines written after the header.
func eventData(t *testing.T, l *writeLog) []string {
	t.Helper()
	var data []string
	for i, w := range l.writes[1:] {
		ev, err := parseEvent([]byte(w))
		if err != nil {
			t.Fatalf("write %d %q: %v", i+2, w, err)
		}
		if ev.Code == "o" {
			data = append(data, ev.Data)
		}
	}
	return data
}

func TestRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	clock := &fakeClock{t: start}
	h := Header{Version: 1, Width: 80, Height: 24, Title: "node-1", Env: map[string]string{"TERM": "xterm-256color", "SHELL": "/bin/bash"}}
	rec, err := NewWriter(&buf, h, clock.now)
	if err != nil {
		t.Fatalf("NewWriter: %v", err)
	}
	clock.advance(500 * time.Millisecond)
	rec.Output([]byte("hello\r\n"))
	clock.advance(1250 * time.Millisecond)
	rec.Resize(100, 30)
	clock.advance(time.Microsecond)
	rec.Output([]byte("<b>&</b> \"q\" \x1b[0m"))
	if err := rec.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	wantLines := []string{
		`{"version":2,"width":80,"height":24,"timestamp":1700000000,"title":"node-1","env":{"SHELL":"/bin/bash","TERM":"xterm-256color"}}`,
		`[0.500000,"o","hello\r\n"]`,
		`[1.750000,"r","100x30"]`,
		`[1.750001,"o","<b>&</b> \"q\" \u001b[0m"]`,
		``,
	}
	if got := strings.Split(buf.String(), "\n"); !reflect.DeepEqual(got, wantLines) {
		t.Errorf("cast lines:\n got %q\nwant %q", got, wantLines)
	}

	c, err := Read(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	wantHeader := Header{Version: 2, Width: 80, Height: 24, Timestamp: 1700000000, Title: "node-1", Env: h.Env}
	if !reflect.DeepEqual(c.Header, wantHeader) {
		t.Errorf("header = %+v, want %+v", c.Header, wantHeader)
	}
	wantEvents := []Event{
		{Time: 0.5, Code: "o", Data: "hello\r\n"},
		{Time: 1.75, Code: "r", Data: "100x30"},
		{Time: 1.750001, Code: "o", Data: "<b>&</b> \"q\" \x1b[0m"},
	}
	if !reflect.DeepEqual(c.Events, wantEvents) {
		t.Errorf("events = %+v, want %+v", c.Events, wantEvents)
	}
	if c.Truncated {
		t.Errorf("Truncated = true for a whole cast")
	}
}

func TestHeaderOptionalFieldsOmitted(t *testing.T) {
	var buf bytes.Buffer
	h := Header{Width: 120, Height: 40, Timestamp: 42}
	if _, err := NewWriter(&buf, h, func() time.Time { return start }); err != nil {
		t.Fatalf("NewWriter: %v", err)
	}
	if got, want := buf.String(), "{\"version\":2,\"width\":120,\"height\":40,\"timestamp\":42}\n"; got != want {
		t.Errorf("header = %q, want %q", got, want)
	}
}

func TestNewWriterRejectsEmptySize(t *testing.T) {
	for _, h := range []Header{{Width: 0, Height: 24}, {Width: 80, Height: -1}} {
		var buf bytes.Buffer
		if _, err := NewWriter(&buf, h, nil); err == nil {
			t.Errorf("NewWriter(%dx%d) succeeded", h.Width, h.Height)
		}
		if buf.Len() != 0 {
			t.Errorf("NewWriter(%dx%d) wrote %q", h.Width, h.Height, buf.String())
		}
	}
}

func TestEachLineIsOneWriteOfValidJSON(t *testing.T) {
	l := &writeLog{}
	rec, _ := newTestWriter(t, l)
	for _, p := range []string{"a\nb\r\n", "\u2028\u2029", "\x00\x07\t", "bad\xff\xfe", "\xe2\x82", "\xac"} {
		rec.Output([]byte(p))
	}
	rec.Resize(1, 1)
	rec.Output([]byte("\xf0\x9f"))
	if err := rec.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if got, want := l.calls(), 8; got != want { // header, 4 outputs, "€" once whole, resize, the flush
		t.Fatalf("%d Write calls, want %d: %q", got, want, l.writes)
	}
	for i, w := range l.writes {
		if strings.Count(w, "\n") != 1 || !strings.HasSuffix(w, "\n") {
			t.Errorf("write %d %q is not exactly one line", i+1, w)
		}
		if !json.Valid([]byte(w)) {
			t.Errorf("write %d %q is not valid JSON", i+1, w)
		}
	}
}

func TestOutputKeepsSplitRuneWhole(t *testing.T) {
	for _, r := range []string{"é", "€", "😀"} {
		for cut := 1; cut < len(r); cut++ {
			t.Run(fmt.Sprintf("%s/%d", r, cut), func(t *testing.T) {
				l := &writeLog{}
				rec, _ := newTestWriter(t, l)
				rec.Output([]byte("x" + r[:cut]))
				rec.Output([]byte(r[cut:] + "y"))
				rec.Close()
				want := []string{"x", r + "y"}
				if got := eventData(t, l); !reflect.DeepEqual(got, want) {
					t.Errorf("events = %q, want %q", got, want)
				}
			})
		}
	}
}

func TestOutputOfOnlyAPartialRuneWaits(t *testing.T) {
	l := &writeLog{}
	rec, _ := newTestWriter(t, l)
	rec.Output([]byte("\xf0"))
	rec.Output([]byte("\x9f\x98"))
	if got := l.calls(); got != 1 {
		t.Fatalf("%d Write calls before the rune is complete, want 1 (the header): %q", got, l.writes)
	}
	rec.Output([]byte("\x80"))
	if got, want := eventData(t, l), []string{"😀"}; !reflect.DeepEqual(got, want) {
		t.Errorf("events = %q, want %q", got, want)
	}
}

func TestInvalidBytesBecomeReplacementChars(t *testing.T) {
	l := &writeLog{}
	rec, _ := newTestWriter(t, l)
	rec.Output([]byte("a\xffb\xc3(c\x80"))
	rec.Output([]byte("ok\xe2\x82"))
	if err := rec.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	want := []string{"a\uFFFDb\uFFFD(c\uFFFD", "ok", "\uFFFD\uFFFD"}
	got := eventData(t, l)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("events = %q, want %q", got, want)
	}
	for _, d := range got {
		if !utf8.ValidString(d) {
			t.Errorf("event data %q is not valid UTF-8", d)
		}
	}
}

func TestCloseStopsRecording(t *testing.T) {
	l := &writeLog{}
	rec, _ := newTestWriter(t, l)
	rec.Output([]byte("a"))
	rec.Close()
	rec.Output([]byte("b"))
	rec.Resize(10, 10)
	if err := rec.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if got := l.calls(); got != 2 {
		t.Errorf("%d Write calls, want 2 (header, \"a\"): %q", got, l.writes)
	}
}

func TestConcurrentOutputAndResize(t *testing.T) {
	var buf bytes.Buffer // unsynchronised: the Writer must serialise its writes
	rec, err := NewWriter(&buf, Header{Width: 80, Height: 24}, nil)
	if err != nil {
		t.Fatalf("NewWriter: %v", err)
	}
	const writers, resizers, each = 6, 3, 200
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			for i := range each {
				rec.Output(fmt.Appendf(nil, "g%d-%d;", g, i))
			}
		})
	}
	for g := range resizers {
		wg.Go(func() {
			for i := range each {
				rec.Resize(g+1, i+1)
			}
		})
	}
	wg.Wait()
	if err := rec.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	c, err := Read(&buf)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if got, want := len(c.Events), (writers+resizers)*each; got != want {
		t.Fatalf("%d events, want %d", got, want)
	}
	next := map[string]int{}
	last := 0.0
	for _, ev := range c.Events {
		if ev.Time < last {
			t.Fatalf("event time %v after %v: times must not decrease", ev.Time, last)
		}
		last = ev.Time
		var g, i int
		var err error
		switch ev.Code {
		case "o":
			_, err = fmt.Sscanf(ev.Data, "g%d-%d;", &g, &i)
		case "r":
			_, err = fmt.Sscanf(ev.Data, "%dx%d", &g, &i)
			i--
		}
		if err != nil {
			t.Fatalf("event %+v: %v", ev, err)
		}
		key := fmt.Sprintf("%s%d", ev.Code, g)
		if i != next[key] {
			t.Fatalf("event %+v out of order: want number %d of %s", ev, next[key], key)
		}
		next[key]++
	}
}

func TestWriteErrorStopsRecording(t *testing.T) {
	for _, short := range []bool{false, true} {
		t.Run(fmt.Sprintf("short=%v", short), func(t *testing.T) {
			l := &writeLog{failOn: 3, short: short}
			rec, _ := newTestWriter(t, l)
			rec.Output([]byte("one"))
			if err := rec.Err(); err != nil {
				t.Fatalf("Err() after a good write = %v", err)
			}
			rec.Output([]byte("two"))
			rec.Output([]byte("three"))
			rec.Resize(1, 2)
			rec.Output([]byte("\xe2"))
			wantErr := errDiskFull
			if short {
				wantErr = io.ErrShortWrite
			}
			if err := rec.Err(); !errors.Is(err, wantErr) {
				t.Errorf("Err() = %v, want %v", err, wantErr)
			}
			if err := rec.Close(); !errors.Is(err, wantErr) {
				t.Errorf("Close() = %v, want %v", err, wantErr)
			}
			if got := l.calls(); got != 3 {
				t.Errorf("%d Write calls, want 3 (nothing after the failure): %q", got, l.writes)
			}
		})
	}
}

func TestNewWriterHeaderWriteError(t *testing.T) {
	rec, err := NewWriter(&writeLog{failOn: 1}, Header{Width: 80, Height: 24}, nil)
	if !errors.Is(err, errDiskFull) || rec != nil {
		t.Errorf("NewWriter = %v, %v; want nil, %v", rec, err, errDiskFull)
	}
}

func TestTeePassesTerminalBytesWhenRecordingFails(t *testing.T) {
	var terminal bytes.Buffer
	l := &writeLog{failOn: 2}
	rec, _ := newTestWriter(t, l)
	tee := Tee(&terminal, rec)
	for _, p := range []string{"first ", "second ", "third"} {
		if n, err := tee.Write([]byte(p)); n != len(p) || err != nil {
			t.Errorf("Write(%q) = %d, %v; want %d, nil", p, n, err, len(p))
		}
	}
	if got, want := terminal.String(), "first second third"; got != want {
		t.Errorf("terminal got %q, want %q", got, want)
	}
	if err := rec.Err(); !errors.Is(err, errDiskFull) {
		t.Errorf("recording Err() = %v, want %v", err, errDiskFull)
	}
}

// shortTerminal accepts at most limit bytes per Write.
type shortTerminal struct {
	bytes.Buffer
	limit int
}

func (s *shortTerminal) Write(p []byte) (int, error) {
	if len(p) > s.limit {
		n, _ := s.Buffer.Write(p[:s.limit])
		return n, io.ErrShortWrite
	}
	return s.Buffer.Write(p)
}

func TestTeeRecordsOnlyAcceptedBytes(t *testing.T) {
	terminal := &shortTerminal{limit: 3}
	l := &writeLog{}
	rec, _ := newTestWriter(t, l)
	n, err := Tee(terminal, rec).Write([]byte("abcdef"))
	if n != 3 || !errors.Is(err, io.ErrShortWrite) {
		t.Errorf("Write = %d, %v; want 3, %v", n, err, io.ErrShortWrite)
	}
	if got, want := eventData(t, l), []string{"abc"}; !reflect.DeepEqual(got, want) {
		t.Errorf("recorded %q, want %q", got, want)
	}
}
