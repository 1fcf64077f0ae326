package recording

import (
	"bytes"
	"context"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

var playEvents = []Event{
	{0.5, "o", "a"},
	{1.5, "o", "b"},
	{2.0, "r", "100x30"}, // must not split the idle pause before "c"
	{11.5, "o", "c"},
	{12.0, "m", "marker"},
	{11.5, "o", "d"}, // no pause: same time as "c"
}

func TestPlayPauses(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    PlayOptions
		want []time.Duration
	}{
		{"real time by default", PlayOptions{}, []time.Duration{500 * time.Millisecond, time.Second, 10 * time.Second}},
		{"speed 2", PlayOptions{Speed: 2}, []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, 5 * time.Second}},
		{"speed 0.5", PlayOptions{Speed: 0.5}, []time.Duration{time.Second, 2 * time.Second, 20 * time.Second}},
		{"idle limit", PlayOptions{IdleTimeLimit: 3 * time.Second}, []time.Duration{500 * time.Millisecond, time.Second, 3 * time.Second}},
		{"idle limit before speed", PlayOptions{Speed: 2, IdleTimeLimit: 3 * time.Second}, []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, 1500 * time.Millisecond}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []time.Duration
			tc.o.Sleep = func(ctx context.Context, d time.Duration) error {
				got = append(got, d)
				return nil
			}
			var out bytes.Buffer
			if err := Play(context.Background(), &out, playEvents, tc.o); err != nil {
				t.Fatalf("Play: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("pauses = %v, want %v", got, tc.want)
			}
			if out.String() != "abcd" {
				t.Errorf("output = %q, want %q", out.String(), "abcd")
			}
		})
	}
}

func TestPlayClampsHugePauses(t *testing.T) {
	var got []time.Duration
	sleep := func(ctx context.Context, d time.Duration) error { got = append(got, d); return nil }
	events := []Event{{1e12, "o", "x"}}
	if err := Play(context.Background(), &bytes.Buffer{}, events, PlayOptions{Speed: 1e-9, Sleep: sleep}); err != nil {
		t.Fatalf("Play: %v", err)
	}
	if want := []time.Duration{math.MaxInt64}; !reflect.DeepEqual(got, want) {
		t.Errorf("pauses = %v, want %v", got, want)
	}
}

func TestPlayRejectsBadSpeed(t *testing.T) {
	for _, speed := range []float64{-1, math.NaN(), math.Inf(1)} {
		var out bytes.Buffer
		err := Play(context.Background(), &out, playEvents, PlayOptions{Speed: speed, Sleep: func(context.Context, time.Duration) error { return nil }})
		if err == nil || !strings.Contains(err.Error(), "playback speed") || out.Len() != 0 {
			t.Errorf("speed %v: error %v, output %q; want a speed error and no output", speed, err, out.String())
		}
	}
}

func TestPlayStopsWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	calls := 0
	sleep := func(ctx context.Context, d time.Duration) error {
		calls++
		if calls == 2 {
			cancel()
			return ctx.Err()
		}
		return nil
	}
	var out bytes.Buffer
	if err := Play(ctx, &out, playEvents, PlayOptions{Sleep: sleep}); !errors.Is(err, context.Canceled) {
		t.Errorf("Play = %v, want %v", err, context.Canceled)
	}
	if out.String() != "a" {
		t.Errorf("output = %q, want %q", out.String(), "a")
	}
}

// cancelOnWrite cancels a context on its first Write.
type cancelOnWrite struct {
	out    bytes.Buffer
	cancel context.CancelFunc
}

func (c *cancelOnWrite) Write(p []byte) (int, error) {
	c.cancel()
	return c.out.Write(p)
}

func TestPlayRealTimerHonoursCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := &cancelOnWrite{cancel: cancel}
	done := make(chan error, 1)
	go func() { done <- Play(ctx, w, []Event{{0, "o", "a"}, {3600, "o", "b"}}, PlayOptions{}) }()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Play = %v, want %v", err, context.Canceled)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Play still sleeping 30s after its context was cancelled")
	}
	if w.out.String() != "a" {
		t.Errorf("output = %q, want %q", w.out.String(), "a")
	}
}

func TestSleepContext(t *testing.T) {
	if err := sleepContext(context.Background(), time.Millisecond); err != nil {
		t.Errorf("sleepContext(1ms) = %v, want nil", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	time.AfterFunc(10*time.Millisecond, cancel)
	done := make(chan error, 1)
	go func() { done <- sleepContext(ctx, time.Hour) }()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("sleepContext(1h) = %v, want %v", err, context.Canceled)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("sleepContext still sleeping 30s after its context was cancelled")
	}
}

func TestPlayWriteError(t *testing.T) {
	err := Play(context.Background(), &writeLog{failOn: 1}, playEvents, PlayOptions{Sleep: func(context.Context, time.Duration) error { return nil }})
	if !errors.Is(err, errDiskFull) {
		t.Errorf("Play = %v, want %v", err, errDiskFull)
	}
}

func TestText(t *testing.T) {
	var out bytes.Buffer
	if err := Text(&out, playEvents); err != nil {
		t.Fatalf("Text: %v", err)
	}
	if out.String() != "abcd" {
		t.Errorf("Text = %q, want %q", out.String(), "abcd")
	}
	if err := Text(&writeLog{failOn: 2}, playEvents); !errors.Is(err, errDiskFull) {
		t.Errorf("Text to a failing writer = %v, want %v", err, errDiskFull)
	}
}
