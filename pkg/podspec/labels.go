package podspec

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"unicode/utf8"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/termsafe"
)

// Labels and annotations that mark a pod as a node-shell pod. Cleanup (`gc`, `list`) selects
// on LabelManagedBy, so it never touches a pod that is not ours.
const (
	LabelManagedBy = "app.kubernetes.io/managed-by"
	ManagedByValue = "kubectl-node-shell"
	// LabelNode holds the node name, shortened to a valid label value when needed;
	// AnnotationNode always holds it in full.
	LabelNode      = "kubectl-node-shell.io/node"
	AnnotationNode = "kubectl-node-shell.io/node"
	// AnnotationMode records how the session reaches the node (chroot, nsenter, container).
	AnnotationMode = "kubectl-node-shell.io/mode"
)

// Annotations of the session's lifecycle and audit trail. The client writes them; they say
// what the client claims, while the apiserver's audit log says who really sent each request
// (see docs/security.md).
const (
	// AnnotationHeartbeat is renewed by the client while the session lives; the pod's
	// watchdog stops the container when its value stops changing (see FormatHeartbeat).
	AnnotationHeartbeat = "kubectl-node-shell.io/heartbeat"
	// AnnotationHeartbeatTimeout is how long the watchdog waits for a new heartbeat, as a Go
	// duration; `gc` and `list` judge freshness by it.
	AnnotationHeartbeatTimeout = "kubectl-node-shell.io/heartbeat-timeout"
	// AnnotationUser is the user the apiserver authenticated the client as (SelfSubjectReview).
	AnnotationUser = "kubectl-node-shell.io/user"
	// AnnotationClientHost is the hostname of the machine the client ran on.
	AnnotationClientHost = "kubectl-node-shell.io/client-host"
	// AnnotationCommand is the command's program, shell-quoted, or the whole command line
	// when the user asked for it (--record-command); empty for an interactive login shell.
	AnnotationCommand = "kubectl-node-shell.io/command"
	// AnnotationStartedAt is when the client started the session (RFC 3339, client's clock).
	AnnotationStartedAt = "kubectl-node-shell.io/started-at"
	// AnnotationVersion is the plugin version that created the pod.
	AnnotationVersion = "kubectl-node-shell.io/version"
	// AnnotationReason is why the user opened the session (--reason), escaped and cut to
	// MaxReason bytes (see ReasonAnnotation).
	AnnotationReason = "kubectl-node-shell.io/reason"
	// AnnotationRecord on the node agent's pods says what its admin records of each
	// session on that node (RecordTTY: every TTY session, asciicast v2, in the node's
	// session log). Only the DaemonSet controller may write the agent's pods.
	AnnotationRecord = "kubectl-node-shell.io/record"
	// RecordTTY is AnnotationRecord's value that records TTY sessions.
	RecordTTY = "tty"
)

// FieldManager names node-shell's writes (the create, every heartbeat) in the pod's
// managedFields, where the apiserver records the time of the latest by its own clock:
// cleanup judges a session's liveness by that time, never by a client's clock.
const FieldManager = "kubectl-node-shell"

// DedicatedNamespace is the namespace `kubectl node-shell setup` makes for sessions, where
// only node admins have rights; sessions go there when -n is not given and it exists.
const DedicatedNamespace = "node-shell"

// ManagedBySelector selects every pod this plugin creates.
const ManagedBySelector = LabelManagedBy + "=" + ManagedByValue

// labelValue makes s a valid label value (≤ 63 characters, alphanumeric at both ends).
// Node names are DNS subdomains of up to 253 characters, so long ones keep a readable
// prefix and a hash that keeps them distinct.
func labelValue(s string) string {
	const maxLen = 63
	if len(s) <= maxLen {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	suffix := hex.EncodeToString(sum[:])[:10]
	prefix := strings.TrimRight(s[:maxLen-len(suffix)-1], ".-_")
	return prefix + "-" + suffix
}

// MaxReason bounds the reason annotation, so a pasted log cannot fill the pod's 256 KiB of
// annotations.
const MaxReason = 1024

// ReasonAnnotation is reason as the pod records it: trimmed, controls escaped (whoever may get
// pods prints it), cut at MaxReason bytes on a rune boundary.
func ReasonAnnotation(reason string) string {
	s := termsafe.String(strings.TrimSpace(reason))
	if len(s) > MaxReason {
		cut := MaxReason - len("…")
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}
