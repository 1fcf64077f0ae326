package podspec

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
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
