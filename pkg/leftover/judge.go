// Package leftover finds node-shell pods that no session needs any more, and removes them.
// Whether a pod is needed is decided from the pod alone (its phase, its container and the
// heartbeat its client renews), so the decision is a pure function with a table test.
package leftover

import (
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/podspec"
)

// State says what a node-shell pod is doing, as `list` shows it.
type State string

const (
	// StateAlive: the container may run and its client renewed the heartbeat recently.
	StateAlive State = "alive"
	// StateExpired: the container stopped (its watchdog, its maximum lifetime, or it
	// exited); only the pod object is left.
	StateExpired State = "expired"
	// StateStale: the pod says its container runs (or is starting), but the heartbeat is
	// older than the timeout plus StaleMargin: the client is gone and the node has not
	// reported the watchdog's exit (node down, kubelet stopped).
	StateStale State = "stale"
	// StateTerminating: someone deleted the pod and it has not gone away.
	StateTerminating State = "terminating"
	// StateForeign: not a node-shell pod. Never touched.
	StateForeign State = "foreign"
)

// StaleMargin is added to a pod's heartbeat timeout before a running pod counts as stale.
// The heartbeat carries the client's clock, read here by another client's clock: the margin
// absorbs the skew between the two, and the apiserver's and kubelet's delays.
const StaleMargin = 2 * time.Minute

// Verdict is the judgment of one pod.
type Verdict struct {
	State State
	// Reason says why, in a few words (shown by gc).
	Reason string
	// Remove is true when deleting the pod cannot end a live session.
	Remove bool
}

// Judge decides what pod is and whether it may be removed, as of now. Only pods labelled
// as ours are ever removable; a pod whose heartbeat is fresh never is.
func Judge(pod *corev1.Pod, now time.Time) Verdict {
	if pod.Labels[podspec.LabelManagedBy] != podspec.ManagedByValue {
		return Verdict{State: StateForeign, Reason: "not created by node-shell"}
	}
	if pod.DeletionTimestamp != nil {
		// Our pods have a grace period of 0, so a pod still terminating is stuck (its node
		// is gone): removing it again is harmless.
		return Verdict{State: StateTerminating, Reason: "deletion pending since " + pod.DeletionTimestamp.UTC().Format(time.RFC3339), Remove: true}
	}
	if ended, reason := containerEnded(pod); ended {
		return Verdict{State: StateExpired, Reason: reason, Remove: true}
	}
	timeout := podspec.HeartbeatTimeoutOf(pod)
	last, known := lastHeartbeat(pod)
	age := now.Sub(last)
	if age <= timeout+StaleMargin {
		return Verdict{State: StateAlive, Reason: fmt.Sprintf("heartbeat %s ago", roundAge(age))}
	}
	reason := fmt.Sprintf("no heartbeat for %s (timeout %s)", roundAge(age), timeout)
	if !known {
		reason = fmt.Sprintf("no heartbeat since it was created %s ago", roundAge(age))
	}
	return Verdict{State: StateStale, Reason: reason, Remove: true}
}

// containerEnded reports whether the pod's container has stopped for good, and why.
func containerEnded(pod *corev1.Pod) (bool, string) {
	for _, cs := range pod.Status.ContainerStatuses {
		if t := cs.State.Terminated; t != nil && cs.Name == podspec.ContainerName {
			return true, terminatedReason(pod, t)
		}
	}
	switch pod.Status.Phase {
	case corev1.PodSucceeded, corev1.PodFailed:
		return true, terminatedReason(pod, nil)
	}
	return false, ""
}

func terminatedReason(pod *corev1.Pod, t *corev1.ContainerStateTerminated) string {
	switch {
	case t != nil && strings.HasPrefix(t.Message, podspec.WatchdogExpiredMessage):
		return "stopped by its watchdog: no heartbeat from the client"
	case pod.Status.Reason == "DeadlineExceeded":
		return "reached its maximum lifetime"
	case pod.Status.Reason != "":
		return fmt.Sprintf("pod %s: %s", strings.ToLower(string(pod.Status.Phase)), pod.Status.Reason)
	case t != nil:
		return fmt.Sprintf("container exited (%s, code %d)", t.Reason, t.ExitCode)
	}
	return "pod " + strings.ToLower(string(pod.Status.Phase))
}

// lastHeartbeat is the time of the pod's last heartbeat, or its creation time when it has
// none that can be read (known is then false).
func lastHeartbeat(pod *corev1.Pod) (t time.Time, known bool) {
	if t, err := podspec.ParseHeartbeat(pod.Annotations[podspec.AnnotationHeartbeat]); err == nil {
		return t, true
	}
	return pod.CreationTimestamp.Time, false
}

// roundAge shows an age to the second, and negative ages (a client clock ahead) as 0s.
func roundAge(d time.Duration) time.Duration {
	if d < 0 {
		return 0
	}
	return d.Round(time.Second)
}
