// Package crash turns a panic in a goroutine node-shell started into an error for the
// session that owns the goroutine. An unrecovered panic in any goroutine ends the process at
// once, with no deferred function run: the terminal would stay raw and the pod would wait
// for its watchdog. Cancelling the session instead lets the usual cleanup run.
package crash

import (
	"fmt"
	"runtime/debug"
)

// Error is a recovered panic: what was panicked with, and where.
type Error struct {
	Value any
	// Stack is the panicking goroutine's stack, as runtime/debug.Stack prints it.
	Stack []byte
}

func (e *Error) Error() string {
	return fmt.Sprintf("internal error: %v (a bug in node-shell; please report it)", e.Value)
}

// Unwrap is the panic's value when it is an error (a runtime error, for one).
func (e *Error) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

// Catch calls fn and returns its panic, if any, as an *Error; nil when fn returns.
// A call to runtime.Goexit is not a panic and is not caught.
func Catch(fn func()) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &Error{Value: v, Stack: debug.Stack()}
		}
	}()
	fn()
	return nil
}

// Go runs fn in a new goroutine. If fn panics, the panic is recovered and handed to
// onPanic as an *Error, on that goroutine; a context.CancelCauseFunc fits, so that the
// session ends with the panic as its error:
//
//	ctx, cancel := context.WithCancelCause(ctx)
//	defer cancel(nil)
//	crash.Go(func() { renew(ctx) }, cancel)
func Go(fn func(), onPanic func(error)) {
	go func() {
		if err := Catch(fn); err != nil {
			onPanic(err)
		}
	}()
}
