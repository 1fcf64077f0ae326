package stream

import (
	"io"
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// IdleWatch ends an interactive session that has carried no byte either way (keys typed,
// output shown) for its timeout, as `oc debug` and a shell's TMOUT log out an abandoned
// terminal. Wrap the session's stdin and stdout with Reader and Writer; onIdle is called once,
// from the watch's goroutine, when the timeout passes.
type IdleWatch struct {
	timeout time.Duration
	clock   clock.Clock
	onIdle  func()

	mu   sync.Mutex
	last time.Time

	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{}
}

// NewIdleWatch starts watching; the session counts as active at the start. Stop ends it.
func NewIdleWatch(clk clock.Clock, timeout time.Duration, onIdle func()) *IdleWatch {
	if clk == nil {
		clk = clock.RealClock{}
	}
	w := &IdleWatch{timeout: timeout, clock: clk, onIdle: onIdle, last: clk.Now(),
		stop: make(chan struct{}), done: make(chan struct{})}
	go w.run()
	return w
}

// run sleeps until the timeout after the last activity it knows of, and then checks again:
// activity only records a time, so reads and writes cost a lock, not a channel send.
func (w *IdleWatch) run() {
	defer close(w.done)
	wait := w.timeout
	for {
		t := w.clock.NewTimer(wait)
		select {
		case <-w.stop:
			t.Stop()
			return
		case <-t.C():
		}
		w.mu.Lock()
		idle := w.clock.Since(w.last)
		w.mu.Unlock()
		if idle >= w.timeout {
			w.onIdle()
			return
		}
		wait = w.timeout - idle
	}
}

func (w *IdleWatch) active() {
	w.mu.Lock()
	w.last = w.clock.Now()
	w.mu.Unlock()
}

// Stop ends the watch; onIdle is not called after it returns.
func (w *IdleWatch) Stop() {
	w.stopOnce.Do(func() { close(w.stop) })
	<-w.done
}

// Reader is r, each read of a byte or more counting as activity.
func (w *IdleWatch) Reader(r io.Reader) io.Reader { return &idleReader{r: r, w: w} }

// Writer is wr, each write of a byte or more counting as activity.
func (w *IdleWatch) Writer(wr io.Writer) io.Writer { return &idleWriter{wr: wr, w: w} }

type idleReader struct {
	r io.Reader
	w *IdleWatch
}

func (r *idleReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if n > 0 {
		r.w.active()
	}
	return n, err
}

type idleWriter struct {
	wr io.Writer
	w  *IdleWatch
}

func (w *idleWriter) Write(p []byte) (int, error) {
	if len(p) > 0 {
		w.w.active()
	}
	return w.wr.Write(p)
}
