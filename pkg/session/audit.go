package session

import (
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/podspec"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/sessionlog"
)

// Origin is where a session comes from, written on its pod so that an admin can see who
// holds a root shell on which node (docs/security.md).
type Origin struct {
	// User is who the apiserver authenticates the client as (WhoAmI, asked during
	// preflight), written at create so that an admission policy can check it against the
	// request's real user; "" when the apiserver cannot say.
	User string
	// RecordCommand writes the whole command line on the pod. By default only the program
	// is: anyone who may get pods reads annotations, and arguments hold passwords and
	// tokens (the apiserver's audit log records the exec's full command for admins).
	RecordCommand bool
	// ClientHost is the hostname of the machine running node-shell.
	ClientHost string
	// Version is node-shell's version.
	Version string
}

// maxCommandAnnotation keeps a huge command line (a script passed as an argument) from
// filling the pod's 256 KiB of annotations.
const maxCommandAnnotation = 4096

// auditAnnotations are the pod's audit trail for a session started at start.
func (s *Session) auditAnnotations(start time.Time) map[string]string {
	a := map[string]string{
		podspec.AnnotationCommand:   s.publicCommand(s.command),
		podspec.AnnotationStartedAt: start.UTC().Format(time.RFC3339),
	}
	if s.Origin.User != "" {
		a[podspec.AnnotationUser] = s.Origin.User
	}
	if s.Origin.ClientHost != "" {
		a[podspec.AnnotationClientHost] = s.Origin.ClientHost
	}
	if s.Origin.Version != "" {
		a[podspec.AnnotationVersion] = s.Origin.Version
	}
	return a
}

// argumentsOmitted follows the program name in the command annotation when the arguments
// were left out (see Origin.RecordCommand).
const argumentsOmitted = "[arguments not recorded]"

var shellSafe = regexp.MustCompile(`^[A-Za-z0-9_@%+=:,./-]+$`)

// quoteCommand is argv as a POSIX shell would need it typed, cut at max bytes; the
// interactive login shell (no argv) is "".
func quoteCommand(argv []string, max int) string {
	quoted := make([]string, len(argv))
	for i, arg := range argv {
		if shellSafe.MatchString(arg) {
			quoted[i] = arg
		} else {
			quoted[i] = "'" + strings.ReplaceAll(arg, "'", `'\''`) + "'"
		}
	}
	return cut(strings.Join(quoted, " "), max)
}

// cut is s in at most max bytes, cut on a rune boundary and marked with "…".
func cut(s string, max int) string {
	if len(s) <= max {
		return s
	}
	end := max - len("…")
	for end > 0 && !utf8.RuneStart(s[end]) {
		end--
	}
	return s[:end] + "…"
}

// record is what the node's session log says of session id running command, started at
// start: the pod annotations' origin, with the node, the reason and how it runs. It
// holds the whole command line, which the pod's annotation holds only with RecordCommand:
// the record is root's only, on the node, and read by node admins only (sessions).
func (s *Session) record(id string, command []string, start time.Time, tty, onAgent bool) sessionlog.Record {
	rec := sessionlog.Record{
		ID:         id,
		Node:       s.spec.Node,
		User:       s.Origin.User,
		Command:    quoteCommand(command, maxCommandAnnotation),
		Mode:       string(s.spec.Entry.Mode()),
		ClientHost: s.Origin.ClientHost,
		Version:    s.Origin.Version,
		StartedAt:  start.UTC().Format(time.RFC3339),
		Agent:      onAgent,
		TTY:        tty,
	}
	if s.spec.Reason != "" {
		rec.Reason = podspec.ReasonAnnotation(s.spec.Reason)
	}
	if onAgent {
		rec.HeartbeatTimeout = s.spec.HeartbeatTimeout.String()
	}
	return rec
}

// publicCommand is command as a pod's annotation and the session's Events show it: the
// program only, unless RecordCommand, since anyone who may read them reads it.
func (s *Session) publicCommand(command []string) string {
	if !s.Origin.RecordCommand && len(command) > 1 {
		return quoteCommand(command[:1], maxCommandAnnotation) + " " + argumentsOmitted
	}
	return quoteCommand(command, maxCommandAnnotation)
}
