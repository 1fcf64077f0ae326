// Package leftover finds node-shell pods that no session needs any more, and removes them.
// Whether a pod is needed is decided from the pod alone (its shape, its phase, its container
// and when the apiserver last recorded its client's heartbeat) and the apiserver's clock, so
// the decision is a pure function with a table test.
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
	// StateForeign: carries our label but is not a pod node-shell built (an owner, another
	// shape). Never touched.
	StateForeign State = "foreign"
)

// StaleMargin is added to a pod's heartbeat timeout before a running pod counts as stale.
// Both times are the apiserver's (see lastHeartbeat), and the watchdog reads a heartbeat only
// after the apiserver recorded it, so by timeout after the last record the watchdog itself
// has given up; the margin absorbs the kubelet's delay in showing it the heartbeat file.
const StaleMargin = 15 * time.Second

// futureTolerance is how far ahead of the server's clock a recorded heartbeat may be (HA
// apiservers' clocks differ a little) before the record is not believed.
const futureTolerance = time.Minute

// Verdict is the judgment of one pod.
type Verdict struct {
	State State
	// Reason says why, in a few words (shown by gc).
	Reason string
	// Remove is true when deleting the pod cannot end a live session.
	Remove bool
}

// Judge decides what pod is and whether it may be removed, as of the apiserver's time now
// (a zero now: unknown, and then no running pod is judged stale). Only pods node-shell built
// are ever removable (podspec.Identify); a pod whose heartbeat is fresh never is.
func Judge(pod *corev1.Pod, now time.Time) Verdict {
	if err := podspec.Identify(pod); err != nil {
		return Verdict{State: StateForeign, Reason: "not a node-shell pod: " + err.Error()}
	}
	if pod.DeletionTimestamp != nil {
		// Deleting it again would change nothing but its grace period, which is not ours
		// to cut: its kubelet, or the node's removal, finishes the deletion.
		return Verdict{State: StateTerminating, Reason: "deletion pending since " + pod.DeletionTimestamp.UTC().Format(time.RFC3339)}
	}
	if ended, reason := containerEnded(pod); ended {
		return Verdict{State: StateExpired, Reason: reason, Remove: true}
	}
	if now.IsZero() {
		return Verdict{State: StateAlive, Reason: "the apiserver's time is unknown, so the heartbeat's age is too"}
	}
	timeout := podspec.HeartbeatTimeoutOf(pod)
	last, how := lastHeartbeat(pod, now)
	age := now.Sub(last)
	if age <= timeout+StaleMargin {
		return Verdict{State: StateAlive, Reason: fmt.Sprintf("heartbeat %s ago", roundAge(age))}
	}
	reason := fmt.Sprintf("no heartbeat for %s (timeout %s)", roundAge(age), timeout)
	switch how {
	case heartbeatNone:
		reason = fmt.Sprintf("no heartbeat since it was created %s ago", roundAge(age))
	case heartbeatInFuture:
		reason = fmt.Sprintf("its recorded heartbeat is in the future; created %s ago", roundAge(age))
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

type heartbeatSource int

const (
	heartbeatRecorded heartbeatSource = iota
	heartbeatNone
	heartbeatInFuture
)

// lastHeartbeat is when the apiserver last recorded a write by node-shell's field manager
// (the create, then every heartbeat), by its own clock: the managedFields time. The
// heartbeat annotation's value is never read as a time: it is the writer's clock, minutes
// off on a coworker's laptop. Without such a record, or with one ahead of now by more
// than futureTolerance, it is the pod's creation time, which the apiserver stamps too.
func lastHeartbeat(pod *corev1.Pod, now time.Time) (time.Time, heartbeatSource) {
	var last time.Time
	for _, mf := range pod.ManagedFields {
		if mf.Manager == podspec.FieldManager && mf.Subresource == "" && mf.Time != nil && mf.Time.After(last) {
			last = mf.Time.Time
		}
	}
	switch {
	case last.IsZero():
		return pod.CreationTimestamp.Time, heartbeatNone
	case last.After(now.Add(futureTolerance)):
		return pod.CreationTimestamp.Time, heartbeatInFuture
	}
	return last, heartbeatRecorded
}

// roundAge shows an age to the second, and negative ages (a client clock ahead) as 0s.
func roundAge(d time.Duration) time.Duration {
	if d < 0 {
		return 0
	}
	return d.Round(time.Second)
}
