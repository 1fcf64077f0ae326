package crash

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestCatchReturnsNilWithoutAPanic(t *testing.T) {
	ran := false
	if err := Catch(func() { ran = true }); err != nil || !ran {
		t.Errorf("Catch = %v, ran %v; want nil after running fn", err, ran)
	}
}

//go:noinline
func indexOutOfRange(s []int, i int) int { return s[i] }

func TestCatchRecordsValueAndStack(t *testing.T) {
	err := Catch(func() { indexOutOfRange(nil, 3) })
	var p *Error
	if !errors.As(err, &p) {
		t.Fatalf("Catch = %v (%T), want an *Error", err, err)
	}
	var rt runtime.Error
	if !errors.As(err, &rt) {
		t.Errorf("a runtime error's panic does not unwrap to it: %v", err)
	}
	if !strings.Contains(string(p.Stack), "crash.indexOutOfRange") {
		t.Errorf("stack does not name the panicking function:\n%s", p.Stack)
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "internal error: runtime error: index out of range [3] with length 0") || strings.Contains(msg, "\n") {
		t.Errorf("message %q, want one line naming the panic", msg)
	}
}

func TestCatchAValueThatIsNotAnError(t *testing.T) {
	err := Catch(func() { panic("redraw: bad state") })
	var p *Error
	if !errors.As(err, &p) || p.Value != "redraw: bad state" || p.Unwrap() != nil {
		t.Errorf("Catch = %#v, want an *Error holding the string and unwrapping to nil", err)
	}
}

// TestGoCancelsTheSession: a panic in the goroutine ends up as the session context's
// cause, and the process (this test) lives on.
func TestGoCancelsTheSession(t *testing.T) {
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	Go(func() {
		var m map[string]int
		m["heartbeat"]++ // assignment to entry in nil map
	}, cancel)
	select {
	case <-ctx.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the panic did not cancel the context within 10s")
	}
	var p *Error
	if !errors.As(context.Cause(ctx), &p) || !strings.Contains(p.Error(), "assignment to entry in nil map") {
		t.Errorf("cause %v, want the recovered panic", context.Cause(ctx))
	}
	if !strings.Contains(string(p.Stack), "TestGoCancelsTheSession") {
		t.Errorf("stack does not show the goroutine's function:\n%s", p.Stack)
	}
}
