package podspec

import (
	"time"

	corev1 "k8s.io/api/core/v1"
)

// ModeContainer stays in the container, the node's filesystem at /host: for tools the
// node lacks.
const ModeContainer Mode = "container"

// Container runs the command in the pod's own container, with the node's / at HostMount.
type Container struct{}

// Mode implements Entry.
func (Container) Mode() Mode { return ModeContainer }

// Apply implements Entry: the node's namespaces and privileges, so the image's tools see
// the node's processes, network and devices.
func (Container) Apply(pod *corev1.Pod) { nodeAccess(pod) }

// Argv implements Entry: the command as it is, in the image's own filesystem.
func (Container) Argv(command []string, term string) []string {
	return execArgv(nil, command, term)
}

// Watchdog implements Entry: the heartbeat-file watchdog as the container's main process.
func (Container) Watchdog(pod *corev1.Pod, timeout time.Duration) { armWatchdog(pod, timeout) }
