package stream

import (
	"errors"

	utilexec "k8s.io/client-go/util/exec"
)

// ExitCode returns the remote command's exit status when err says the command ran and
// exited non-zero, and ok=false for any other error (the stream or the API failed).
func ExitCode(err error) (code int, ok bool) {
	if err == nil {
		return 0, true
	}
	var exitErr utilexec.ExitError
	if errors.As(err, &exitErr) && exitErr.Exited() {
		return exitErr.ExitStatus(), true
	}
	return 0, false
}
