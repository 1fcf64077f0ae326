package cmd

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/termsafe"
)

// Exit statuses of node-shell's own making. A remote command's status passes through
// unchanged, so these are picked to be ones a command rarely returns (as ssh does).
const (
	// ExitFailure: node-shell itself failed (bad arguments, no access, the pod could not
	// start, the stream broke). Nothing is left behind on the cluster.
	ExitFailure = 255
	// exitSignalBase + N: the session was ended by signal N.
	exitSignalBase = 128
)

// ExitStatusError carries a remote command's non-zero exit status up to main.
type ExitStatusError struct{ Status int }

func (e *ExitStatusError) Error() string {
	return fmt.Sprintf("command exited with status %d", e.Status)
}

// SignalError says the session was ended by a termination signal; the pod was cleaned up.
type SignalError struct{ Signal os.Signal }

func (e *SignalError) Error() string { return fmt.Sprintf("interrupted by %v", e.Signal) }

// UsageError is a mistake in the command line, found before any request is sent.
type UsageError struct{ msg, cmdPath string }

func (e *UsageError) Error() string {
	return fmt.Sprintf("%s\nSee '%s --help' for usage.", e.msg, e.cmdPath)
}

func usageError(c *cobra.Command, format string, args ...any) error {
	path := commandName
	if c != nil && c.HasParent() {
		path += " " + c.Name()
	}
	return &UsageError{msg: fmt.Sprintf(format, args...), cmdPath: path}
}

// ExitStatus maps the error a command returned to the process's exit status.
func ExitStatus(err error) int {
	if err == nil {
		return 0
	}
	var exitErr *ExitStatusError
	if errors.As(err, &exitErr) {
		return exitErr.Status
	}
	var sigErr *SignalError
	if errors.As(err, &sigErr) {
		if s, ok := sigErr.Signal.(syscall.Signal); ok {
			return exitSignalBase + int(s)
		}
	}
	return ExitFailure
}

// Message is what the user reads on stderr for err, or "" when nothing should be printed
// (a remote command's own non-zero exit speaks for itself). Errors carry the cluster's
// messages, so all but printable text, tabs and newlines is escaped.
func Message(err error) string {
	var exitErr *ExitStatusError
	if err == nil || errors.As(err, &exitErr) {
		return ""
	}
	return termsafe.Escape("error: "+err.Error(), termsafe.Newline|termsafe.Tab)
}
