package recording

import (
	"context"
	"fmt"
	"io"
	"math"
	"time"
)

// PlayOptions tunes Play.
type PlayOptions struct {
	// Speed divides every pause; 0 means 1 (real time).
	Speed float64
	// IdleTimeLimit caps each pause of the recording before Speed applies,
	// like asciinema's -i; 0 means no cap.
	IdleTimeLimit time.Duration
	// Sleep waits d or until ctx is done; nil means a real timer.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Play writes each "o" event's data to w after the pause since the previous
// "o" event, so other events never split an idle pause; it returns ctx's error
// when cancelled.
func Play(ctx context.Context, w io.Writer, events []Event, o PlayOptions) error {
	speed := o.Speed
	if speed == 0 {
		speed = 1
	}
	if !(speed > 0) || math.IsInf(speed, 1) {
		return fmt.Errorf("recording: playback speed %v is invalid; use a finite number > 0", o.Speed)
	}
	sleep := o.Sleep
	if sleep == nil {
		sleep = sleepContext
	}
	prev := 0.0
	for _, ev := range events {
		if ev.Code != "o" {
			continue
		}
		d := pause(ev.Time-prev, o.IdleTimeLimit, speed)
		prev = ev.Time
		if err := ctx.Err(); err != nil {
			return err
		}
		if d > 0 {
			if err := sleep(ctx, d); err != nil {
				return err
			}
		}
		if _, err := io.WriteString(w, ev.Data); err != nil {
			return fmt.Errorf("recording: replaying: %w", err)
		}
	}
	return nil
}

// Text writes all "o" data without pauses, e.g. to search or diff a session.
func Text(w io.Writer, events []Event) error {
	for _, ev := range events {
		if ev.Code != "o" {
			continue
		}
		if _, err := io.WriteString(w, ev.Data); err != nil {
			return fmt.Errorf("recording: writing the text: %w", err)
		}
	}
	return nil
}

// pause turns a gap in recorded seconds into the wait: capped, then scaled.
func pause(seconds float64, limit time.Duration, speed float64) time.Duration {
	gap := nanoseconds(seconds * float64(time.Second))
	if limit > 0 && gap > limit {
		gap = limit
	}
	return nanoseconds(float64(gap) / speed)
}

// nanoseconds rounds ns to a Duration, clamped to [0, the longest Duration].
func nanoseconds(ns float64) time.Duration {
	switch {
	case !(ns > 0):
		return 0
	case ns >= float64(math.MaxInt64):
		return math.MaxInt64
	}
	return time.Duration(math.Round(ns))
}

// sleepContext waits d on a real timer or until ctx is done.
func sleepContext(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
