package stream

import (
	"context"
	"errors"
	"fmt"
	"testing"

	utilexec "k8s.io/client-go/util/exec"
)

// notExited is an ExitError for a process that did not exit (killed by a signal, say).
type notExited struct{ utilexec.CodeExitError }

func (notExited) Exited() bool { return false }

func TestExitCode(t *testing.T) {
	exit3 := utilexec.CodeExitError{Err: errors.New("command terminated with non-zero exit code: 3"), Code: 3}
	for _, tc := range []struct {
		name     string
		err      error
		wantCode int
		wantOK   bool
	}{
		{"success", nil, 0, true},
		{"non-zero exit", exit3, 3, true},
		{"non-zero exit, wrapped", fmt.Errorf("exec in pod: %w", exit3), 3, true},
		{"exit error without an exit", notExited{exit3}, 0, false},
		{"stream broke", errors.New("error reading from error stream: EOF"), 0, false},
		{"cancelled", context.Canceled, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, ok := ExitCode(tc.err)
			if code != tc.wantCode || ok != tc.wantOK {
				t.Errorf("ExitCode(%v) = %d, %v; want %d, %v", tc.err, code, ok, tc.wantCode, tc.wantOK)
			}
		})
	}
}
