package diagnose

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
)

// What tells, while a pod waits, that it will never start on its node: the kubelet's Lease
// (is the kubelet alive?), the node's conditions (is its container runtime?) and the pod's
// Warning events (what the kubelet failed to do for it). Each judge returns nil while the
// pod still may start.

// The way out for a node whose kubelet or runtime is dead: node-shell needs both to start
// its pod, so only a way in that needs neither helps.
const nodeConsole = "the node's console or SSH"

// DefaultLeaseDuration is a kubelet's node Lease duration (nodeLeaseDurationSeconds) when the
// Lease does not say.
const DefaultLeaseDuration = 40 * time.Second

// LeaseRenewInterval is how often a kubelet renews its node Lease: a quarter of the lease's
// duration (the kubelet's nodeLeaseRenewIntervalFraction), 10 s by default.
func LeaseRenewInterval(lease *coordinationv1.Lease) time.Duration {
	d := DefaultLeaseDuration
	if lease.Spec.LeaseDurationSeconds != nil && *lease.Spec.LeaseDurationSeconds > 0 {
		d = time.Duration(*lease.Spec.LeaseDurationSeconds) * time.Second
	}
	return d / 4
}

// KubeletSilenceBound is how long a session watches a kubelet's Lease go without a renewal
// before it calls the kubelet dead: one and a half renew intervals (15 s by default), so a
// live kubelet, which renews every interval, is never taken for a dead one, whatever the
// clocks of the node and of the user say.
func KubeletSilenceBound(lease *coordinationv1.Lease) time.Duration {
	return LeaseRenewInterval(lease) * 3 / 2
}

// KubeletSilent explains a kubelet that did not renew its Lease during the watched time
// (measured by the session, at least KubeletSilenceBound). When the apiserver's clock is
// known, the lease's last renewal time tells how long the kubelet has been silent in all.
func KubeletSilent(lease *coordinationv1.Lease, watched time.Duration, serverNow time.Time, serverKnown bool) *Problem {
	node := lease.Name
	silence := fmt.Sprintf("its lease (%s/%s) has not been renewed in the %s node-shell watched it",
		lease.Namespace, node, watched.Round(time.Second))
	if r := lease.Spec.RenewTime; r != nil && serverKnown {
		if age := serverNow.Sub(r.Time); age >= watched {
			silence = fmt.Sprintf("its lease (%s/%s) has not been renewed for %s", lease.Namespace, node, age.Round(time.Second))
		}
	}
	return &Problem{
		Cause: fmt.Sprintf("the kubelet on node %s is not running or cannot reach the apiserver: %s (a live kubelet renews it every %s)",
			node, silence, LeaseRenewInterval(lease).Round(time.Second)),
		Fix: fmt.Sprintf("node-shell needs the kubelet to start its pod: restart the kubelet through %s (its log says why it stopped), or pick another node", nodeConsole),
	}
}

// NodeProblem reports a condition of node under which no new pod of this kind starts there:
// a container runtime the kubelet reports down, or (for a pod on the pod network) a network
// plugin that is not ready. A Ready=Unknown node is left to the lease and pickup checks, and
// pressure is not a verdict: the kubelet still admits a pod that tolerates it, as ours do.
func NodeProblem(node *corev1.Node, hostNetwork bool, now time.Time) *Problem {
	cond := readyCondition(node)
	if cond == nil || cond.Status != corev1.ConditionFalse {
		return nil
	}
	switch {
	case RuntimeDown(cond.Message):
		return runtimeDownProblem(node, cond, now)
	case !hostNetwork && strings.Contains(cond.Message, "network not ready"):
		return &Problem{
			Cause:  fmt.Sprintf("the pod network on node %s is not ready (%s)", node.Name, describeReady(cond, now)),
			Fix:    fmt.Sprintf("check the node's network plugin (CNI) through %s, or pick another node", nodeConsole),
			Detail: cond.Message,
		}
	}
	return nil
}

func runtimeDownProblem(node *corev1.Node, cond *corev1.NodeCondition, now time.Time) *Problem {
	return &Problem{
		Cause:  fmt.Sprintf("the container runtime on node %s is down (%s)", node.Name, describeReady(cond, now)),
		Fix:    runtimeFix,
		Detail: cond.Message,
	}
}

const runtimeFix = "node-shell needs it to start its pod: restart the container runtime (containerd or CRI-O) through " +
	nodeConsole + " (its log says why it stopped), or pick another node"

// RuntimeDown reports whether a message of the kubelet's says the container runtime is down:
// the Ready condition's "container runtime is down", "container runtime not ready" or "PLEG
// is not healthy", or a call to the runtime's socket that failed as unreachable (gRPC
// Unavailable, a refused dial), whatever the kubelet was doing (a pull, a sandbox).
func RuntimeDown(msg string) bool {
	m := strings.ToLower(msg)
	for _, s := range []string{"container runtime is down", "container runtime not ready", "pleg is not healthy", "code = unavailable"} {
		if strings.Contains(m, s) {
			return true
		}
	}
	return strings.Contains(m, "dial unix") && strings.Contains(m, ".sock")
}

// EventProblem reports a Warning event about pod that proves the pod will not start, or nil:
// the runtime unreachable, a full disk, a sandbox that cannot be created for a host-network
// pod (it needs no CNI, only the runtime and the node's directories, none of which mends
// itself while a session waits), or a volume that cannot be mounted (a session's volumes are
// the node's / and a downward-API file: only the kubelet's own directory can fail them).
// Image pull errors are left to the pod's status, which says them more precisely.
func EventProblem(pod *corev1.Pod, ev *corev1.Event) *Problem {
	if ev.Type != corev1.EventTypeWarning {
		return nil
	}
	node := pod.Spec.NodeName
	what := ev.Reason + ": " + condense(strings.TrimPrefix(ev.Message, "Failed to create pod sandbox: "))
	switch {
	case RuntimeDown(ev.Message):
		return &Problem{
			Cause:  fmt.Sprintf("the container runtime on node %s does not answer the kubelet (%s)", node, what),
			Fix:    runtimeFix,
			Detail: ev.Message,
		}
	case strings.Contains(strings.ToLower(ev.Message), "no space left on device"):
		full := "a filesystem of the node is full"
		fix := fmt.Sprintf("free space on the node through %s (df -h shows which filesystem is full)", nodeConsole)
		if path := fullPath(ev.Message); path != "" {
			full = "the filesystem that holds " + path + " is full"
			fix = fmt.Sprintf("free space there through %s (df -h %s), then try again", nodeConsole, path)
		}
		return &Problem{
			Cause:  fmt.Sprintf("node %s is out of disk space: %s (%s)", node, full, what),
			Fix:    fix,
			Detail: ev.Message,
		}
	case ev.Reason == "FailedCreatePodSandBox" && pod.Spec.HostNetwork:
		return &Problem{
			Cause:  fmt.Sprintf("the kubelet on node %s cannot create the pod's sandbox (%s)", node, what),
			Fix:    fmt.Sprintf("the node's container runtime or the kubelet's directories are broken: see their logs through %s, or pick another node", nodeConsole),
			Detail: ev.Message,
		}
	case ev.Reason == "FailedMount":
		return &Problem{
			Cause:  fmt.Sprintf("the kubelet on node %s cannot mount the pod's volumes (%s)", node, what),
			Fix:    fmt.Sprintf("the kubelet's directory on the node is at fault (read-only, full or gone): check it and the kubelet's log through %s", nodeConsole),
			Detail: ev.Message,
		}
	}
	return nil
}

// noSpacePath finds the path an ENOSPC error names: "mkdir /var/log/pods/x: no space left on device".
var noSpacePath = regexp.MustCompile(`(/[^\s:"']+)["']?: no space left on device`)

func fullPath(msg string) string {
	if m := noSpacePath.FindStringSubmatch(msg); m != nil {
		return m[1]
	}
	return ""
}
