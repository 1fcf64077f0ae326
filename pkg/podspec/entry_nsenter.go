package podspec

import (
	"time"

	corev1 "k8s.io/api/core/v1"
)

// ModeNsenter joins the host's mount, UTS, IPC, network and PID namespaces (PID 1's, or
// the kubelet's or containerd's where PID 1's are closed, each proven to be the host's
// first; see nsenterScript): the node as its init sees it, for distros where a chroot
// falls short (SELinux, immutable roots).
const ModeNsenter Mode = "nsenter"

// Nsenter enters the node by joining its init's namespaces (nsenterScript).
type Nsenter struct{}

// Mode implements Entry.
func (Nsenter) Mode() Mode { return ModeNsenter }

// Apply implements Entry: the same pod as chroot; hostPID is what lets nsenter reach PID 1.
func (Nsenter) Apply(pod *corev1.Pod) { nodeAccess(pod) }

// Argv implements Entry.
func (Nsenter) Argv(command []string, term string) []string {
	return execArgv([]string{"sh", "-c", nsenterScript, "node-shell-nsenter"}, command, term)
}

// Watchdog implements Entry: the heartbeat-file watchdog as the container's main process.
func (Nsenter) Watchdog(pod *corev1.Pod, timeout time.Duration) { armWatchdog(pod, timeout) }
