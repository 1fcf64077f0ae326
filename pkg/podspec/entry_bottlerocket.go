package podspec

import (
	"time"

	corev1 "k8s.io/api/core/v1"
)

// ModeBottlerocket reaches a Bottlerocket node through its admin container: the host's root
// filesystem has no shell, and `apiclient exec admin sheltie` is Bottlerocket's own way to a
// root shell on the host (through its API socket, /run/api.sock).
const ModeBottlerocket Mode = "bottlerocket"

// Bottlerocket runs the command as `chroot /host apiclient exec admin sheltie …`. It needs the
// node's admin container enabled (settings.host-containers.admin.enabled), as Bottlerocket's
// own SSM and SSH paths do.
type Bottlerocket struct{}

// Mode implements Entry.
func (Bottlerocket) Mode() Mode { return ModeBottlerocket }

// Apply implements Entry: the chroot pod; the host's / carries apiclient and its socket.
func (Bottlerocket) Apply(pod *corev1.Pod) { nodeAccess(pod) }

// Argv implements Entry: sheltie with no argument is a login shell on the host, with one it
// runs it there.
func (Bottlerocket) Argv(command []string, term string) []string {
	argv := []string{"chroot", HostMount, "apiclient", "exec", "admin", "sheltie"}
	if term != "" {
		argv = append([]string{"env", "TERM=" + term}, argv...)
	}
	return append(argv, command...)
}

// Watchdog implements Entry: the heartbeat-file watchdog, run by the image's sh as usual.
func (Bottlerocket) Watchdog(pod *corev1.Pod, timeout time.Duration) { armWatchdog(pod, timeout) }
