package stream

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"
)

// armed waits until the watch has a timer pending on the fake clock, so a Step reaches it.
func armed(t *testing.T, clk *clocktesting.FakeClock) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !clk.HasWaiters() {
		if time.Now().After(deadline) {
			t.Fatal("the idle watch never armed its timer")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestIdleWatch(t *testing.T) {
	const timeout = 30 * time.Minute
	clk := clocktesting.NewFakeClock(time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC))
	idle := make(chan time.Time, 1)
	w := NewIdleWatch(clk, timeout, func() { idle <- clk.Now() })
	defer w.Stop()
	in := w.Reader(strings.NewReader("ls\r"))
	var shown bytes.Buffer
	out := w.Writer(&shown)

	armed(t, clk)
	clk.Step(20 * time.Minute)
	if _, err := io.ReadAll(in); err != nil { // a key typed at 12:20
		t.Fatal(err)
	}
	clk.Step(10 * time.Minute) // 12:30: idle for 10 minutes only
	armed(t, clk)
	select {
	case at := <-idle:
		t.Fatalf("ended at %v, 10 minutes after input", at)
	default:
	}
	clk.Step(15 * time.Minute)
	if _, err := out.Write([]byte("output at 12:45")); err != nil {
		t.Fatal(err)
	}
	clk.Step(5 * time.Minute) // 12:50, the timer set at 12:30 for 12:50 fires: 5 minutes idle
	armed(t, clk)
	if _, err := out.Write(nil); err != nil { // an empty write is no activity
		t.Fatal(err)
	}
	clk.Step(25 * time.Minute) // 13:15: 30 minutes after the output
	select {
	case at := <-idle:
		if want := time.Date(2026, 12, 1, 13, 15, 0, 0, time.UTC); !at.Equal(want) {
			t.Errorf("ended at %v, want %v", at, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("an idle session was not ended")
	}
	if shown.String() != "output at 12:45" {
		t.Errorf("the writer passed %q", shown.String())
	}
}

func TestIdleWatchStop(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Now())
	called := make(chan struct{}, 1)
	w := NewIdleWatch(clk, time.Minute, func() { called <- struct{}{} })
	armed(t, clk)
	w.Stop()
	w.Stop() // twice is fine
	clk.Step(time.Hour)
	select {
	case <-called:
		t.Fatal("onIdle called after Stop")
	case <-time.After(50 * time.Millisecond):
	}
}
