package diagnose

import (
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// NodeNotFound explains a node name the cluster does not know, with the closest names it
// does know (none when the user may not list nodes, or nothing is close).
func NodeNotFound(name string, closest []string) *Problem {
	fix := "list the nodes with: kubectl get nodes"
	switch len(closest) {
	case 0:
	case 1:
		fix = fmt.Sprintf("did you mean %s? (kubectl get nodes lists them all)", closest[0])
	default:
		fix = fmt.Sprintf("did you mean one of %s? (kubectl get nodes lists them all)", strings.Join(closest, ", "))
	}
	return &Problem{Cause: fmt.Sprintf("node %q not found", name), Fix: fix}
}

// NodeNotReady is the warning for a node whose Ready condition is not True, or "" for a
// Ready node. The session goes on: the condition may be stale, and a shell is how one
// finds out what is wrong with a node.
func NodeNotReady(node *corev1.Node, now time.Time) string {
	cond := readyCondition(node)
	if cond != nil && cond.Status == corev1.ConditionTrue {
		return ""
	}
	return fmt.Sprintf("node %s is not ready (%s); trying anyway", node.Name, describeReady(cond, now))
}

// KubeletAway explains a pod that the kubelet of a not-ready node did not pick up: there
// is no point waiting for a kubelet that does not post status.
func KubeletAway(node *corev1.Node, waited time.Duration, now time.Time) *Problem {
	if cond := readyCondition(node); cond != nil && cond.Status == corev1.ConditionFalse && RuntimeDown(cond.Message) {
		return runtimeDownProblem(node, cond, now) // the runtime, not the kubelet, is what to fix
	}
	return &Problem{
		Cause: fmt.Sprintf("the kubelet on node %s did not pick up the pod within %s, and the node is not ready (%s)",
			node.Name, waited.Round(time.Second), describeReady(readyCondition(node), now)),
		Fix: "the kubelet is down or cut off from the apiserver: check it through " + nodeConsole + ", or pick another node",
	}
}

// Ready reports whether node's Ready condition is True.
func Ready(node *corev1.Node) bool {
	cond := readyCondition(node)
	return cond != nil && cond.Status == corev1.ConditionTrue
}

func readyCondition(node *corev1.Node) *corev1.NodeCondition {
	for i := range node.Status.Conditions {
		if node.Status.Conditions[i].Type == corev1.NodeReady {
			return &node.Status.Conditions[i]
		}
	}
	return nil
}

// describeReady says "Ready=Unknown for 1m5s, NodeStatusUnknown: Kubelet stopped posting
// node status., last heartbeat 1m40s ago".
func describeReady(cond *corev1.NodeCondition, now time.Time) string {
	if cond == nil {
		return "it has no Ready condition: its kubelet never reported"
	}
	s := "Ready=" + string(cond.Status)
	if !cond.LastTransitionTime.IsZero() {
		s += " for " + age(cond.LastTransitionTime.Time, now)
	}
	if cond.Reason != "" || cond.Message != "" {
		s += ", " + strings.TrimSuffix(strings.Trim(cond.Reason+": "+condense(cond.Message), ": "), ".")
	}
	if !cond.LastHeartbeatTime.IsZero() {
		s += ", last heartbeat " + age(cond.LastHeartbeatTime.Time, now) + " ago"
	}
	return s
}

func age(t, now time.Time) string {
	d := now.Sub(t)
	if d < 0 {
		d = 0
	}
	return d.Round(time.Second).String()
}
