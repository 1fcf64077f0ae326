package podspec

import (
	"time"

	corev1 "k8s.io/api/core/v1"
)

// ModeChroot runs the command as `chroot /host …`: the node's own binaries and files.
const ModeChroot Mode = "chroot"

// Chroot enters the node by chroot into its root filesystem, mounted at HostMount.
type Chroot struct{}

// Mode implements Entry.
func (Chroot) Mode() Mode { return ModeChroot }

// Apply implements Entry: the node's namespaces, privileges and root filesystem.
func (Chroot) Apply(pod *corev1.Pod) { nodeAccess(pod) }

// Argv implements Entry.
func (Chroot) Argv(command []string, term string) []string {
	return execArgv([]string{"chroot", HostMount}, command, term)
}

// Watchdog implements Entry: the heartbeat-file watchdog as the container's main process.
func (Chroot) Watchdog(pod *corev1.Pod, timeout time.Duration) { armWatchdog(pod, timeout) }
