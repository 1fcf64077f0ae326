package podspec

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// NodeChoice is the entry a node's status.nodeInfo calls for, and a notice for the user
// when it is not the one they would expect ("" for none).
type NodeChoice struct {
	Entry  Entry
	Notice string
}

// EntryForNode chooses how to enter the node named node from its status.nodeInfo (read once,
// by preflight): Windows → a HostProcess pod with PowerShell; Bottlerocket → its admin
// container; Talos, which has no shell → the session image's tools with a notice; every
// other Linux (Ubuntu, Flatcar, COS, …) → chroot with bash, else sh. An explicit --mode beats
// it (the caller does not ask).
func EntryForNode(node string, info corev1.NodeSystemInfo) NodeChoice {
	switch {
	case strings.EqualFold(info.OperatingSystem, "windows"):
		return NodeChoice{Entry: Windows{}}
	case strings.HasPrefix(info.OSImage, "Bottlerocket"):
		return NodeChoice{Entry: Bottlerocket{}}
	case !HasShell(info):
		return NodeChoice{Entry: Container{}, Notice: fmt.Sprintf(
			"node %s runs %s, which has no shell: using the session image's tools (--mode container), the node's / at %s", node, info.OSImage, HostMount)}
	}
	return NodeChoice{Entry: Chroot{}}
}

// HasShell reports whether a Linux node's own root filesystem has a shell to chroot into.
func HasShell(info corev1.NodeSystemInfo) bool {
	return !strings.HasPrefix(info.OSImage, "Talos")
}
