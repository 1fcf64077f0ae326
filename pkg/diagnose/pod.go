package diagnose

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/podspec"
)

// Waiting reasons after which a container will not start without someone changing something.
var fatalWaitingReasons = map[string]bool{
	"ErrImagePull":               true,
	"ImagePullBackOff":           true,
	"InvalidImageName":           true,
	"ErrImageNeverPull":          true,
	"CreateContainerConfigError": true,
	"CreateContainerError":       true,
	"RunContainerError":          true,
	"CrashLoopBackOff":           true,
}

// kubeletCatchingUp is a config error that is the kubelet's own cache not yet synced
// ("failed to sync configmap cache: timed out waiting for the condition"), seen on a busy
// node before the real answer: it retries, so the container may still start.
func kubeletCatchingUp(w *corev1.ContainerStateWaiting) bool {
	return w.Reason == "CreateContainerConfigError" && strings.HasPrefix(w.Message, "failed to sync ") &&
		strings.Contains(w.Message, " cache")
}

// PodProblem reports why pod will never run its container, or nil while it still may.
func PodProblem(pod *corev1.Pod) *Problem {
	if pod.DeletionTimestamp != nil {
		return Deleted(pod)
	}
	ended := pod.Status.Phase == corev1.PodFailed || pod.Status.Phase == corev1.PodSucceeded
	if ended && pod.Status.Reason != "" {
		return terminalPhase(pod) // the kubelet's verdict on the whole pod says most
	}
	for _, cs := range pod.Status.ContainerStatuses {
		if w := cs.State.Waiting; w != nil && fatalWaitingReasons[w.Reason] && !kubeletCatchingUp(w) {
			return waitingProblem(pod, cs)
		}
		if t := cs.State.Terminated; t != nil {
			return exitedProblem(pod, cs)
		}
	}
	if ended {
		return terminalPhase(pod)
	}
	return nil
}

// exitedProblem explains a container that ended before the session could exec into it:
// most often a runtime that could not run its command (the image has no /bin/sh).
func exitedProblem(pod *corev1.Pod, cs corev1.ContainerStatus) *Problem {
	t := cs.State.Terminated
	node := pod.Spec.NodeName
	if t.Reason == "StartError" || t.Reason == "ContainerCannotRun" || t.ExitCode == 126 || t.ExitCode == 127 {
		return &Problem{
			Cause: fmt.Sprintf("the node-shell container on node %s cannot run in image %q (%s: %s)",
				node, cs.Image, t.Reason, runtimeReason(t.Message)),
			Fix:    "the image needs /bin/sh and sleep (and chroot or nsenter for those modes); use --image with such an image",
			Detail: t.Message,
		}
	}
	what := fmt.Sprintf("%s, exit code %d", t.Reason, t.ExitCode)
	if msg := condense(t.Message); msg != "" {
		what += ": " + msg
	}
	return &Problem{
		Cause:  fmt.Sprintf("the node-shell container on node %s exited before the session started (%s)", node, what),
		Fix:    fmt.Sprintf("try again; if it persists, see kubectl describe pod -n %s %s while it runs, and check --image", pod.Namespace, pod.Name),
		Detail: t.Message,
	}
}

// runtimeReason picks the runtime's own words out of the chain of wrapped errors
// containerd and runc report: `exec: "/bin/sh": stat /bin/sh: no such file or directory`.
func runtimeReason(msg string) string {
	const marker = "unable to start container process: "
	if i := strings.LastIndex(msg, marker); i >= 0 {
		msg = msg[i+len(marker):]
	}
	return condense(strings.TrimSuffix(strings.TrimSpace(msg), ": unknown"))
}

func waitingProblem(pod *corev1.Pod, cs corev1.ContainerStatus) *Problem {
	w := cs.State.Waiting
	node := pod.Spec.NodeName
	if RuntimeDown(w.Message) { // a pull or a create cut off by a runtime that died: not the image's fault
		return &Problem{
			Cause:  fmt.Sprintf("the container runtime on node %s does not answer the kubelet (%s: %s)", node, w.Reason, condense(w.Message)),
			Fix:    runtimeFix,
			Detail: w.Message,
		}
	}
	switch w.Reason {
	case "ErrImagePull", "ImagePullBackOff", "ErrImageNeverPull":
		fix := "use --image with an image the node can pull"
		if len(pod.Spec.ImagePullSecrets) == 0 {
			fix += ", or --image-pull-secret for a private registry"
		}
		return &Problem{
			Cause:  fmt.Sprintf("node %s cannot pull image %q (%s: %s)", node, cs.Image, w.Reason, pullReason(w.Message)),
			Fix:    fix,
			Detail: w.Message,
		}
	case "InvalidImageName":
		return &Problem{
			Cause:  fmt.Sprintf("image name %q is invalid", cs.Image),
			Fix:    "use --image with a valid reference such as docker.io/library/busybox:1.37",
			Detail: w.Message,
		}
	default:
		return &Problem{
			Cause:  fmt.Sprintf("the container runtime on node %s cannot start the node-shell container (%s: %s)", node, w.Reason, condense(w.Message)),
			Fix:    "check the image (--image) and the node's container runtime",
			Detail: w.Message,
		}
	}
}

// pullReason picks the part of a pull error that says why: the registry's answer.
func pullReason(msg string) string {
	lower := strings.ToLower(msg)
	for _, known := range []string{"not found", "unauthorized", "denied", "no such host", "connection refused", "i/o timeout", "manifest unknown"} {
		if strings.Contains(lower, known) {
			return known
		}
	}
	if msg == "" {
		return "no details"
	}
	return condense(msg)
}

func terminalPhase(pod *corev1.Pod) *Problem {
	node := pod.Spec.NodeName
	reason, msg := pod.Status.Reason, pod.Status.Message
	switch {
	case strings.HasPrefix(reason, "OutOf"):
		what, room := "has no room for the session pod's requests", "free resources on the node"
		if reason == "OutOfpods" {
			what, room = "is at its pod limit", "free a pod slot on the node"
		}
		return &Problem{
			Cause: fmt.Sprintf("node %s %s (%s: %s); no pod was evicted for the session",
				node, what, reason, condense(strings.TrimPrefix(msg, "Pod was rejected: "))),
			Fix: fmt.Sprintf("pass --priority-class %s to let the kubelet evict a lower-priority pod to make room, or %s",
				podspec.CriticalPriorityClass, room),
			Detail: msg,
		}
	case reason == "Evicted":
		return &Problem{
			Cause:  fmt.Sprintf("node %s evicted the pod (%s)", node, condense(msg)),
			Fix:    fmt.Sprintf("the node is under resource pressure; free resources, or pass --priority-class %s so the kubelet evicts the session pod last", podspec.CriticalPriorityClass),
			Detail: msg,
		}
	case reason == "NodeShutdown" || reason == "Terminated" && strings.Contains(strings.ToLower(msg), "shut"):
		return &Problem{
			Cause:  fmt.Sprintf("node %s is shutting down (%s)", node, condense(msg)),
			Fix:    "wait for it to come back, or pick another node",
			Detail: msg,
		}
	case reason == "DeadlineExceeded":
		return &Problem{
			Cause: fmt.Sprintf("the pod on node %s reached its maximum lifetime before it started", node),
			Fix:   "raise --max-lifetime",
		}
	case strings.HasPrefix(msg, "Pod was rejected"), reason == "NodeAffinity", reason == "NodeName", strings.HasPrefix(reason, "Unexpected"):
		return &Problem{
			Cause:  fmt.Sprintf("the kubelet on node %s rejected the pod (%s: %s)", node, reason, condense(strings.TrimPrefix(msg, "Pod was rejected: "))),
			Fix:    "check the node's labels, taints and conditions with kubectl describe node " + node,
			Detail: msg,
		}
	case reason != "":
		return &Problem{
			Cause:  fmt.Sprintf("the pod on node %s failed (%s: %s)", node, reason, condense(msg)),
			Fix:    "see kubectl describe node " + node,
			Detail: msg,
		}
	}
	return &Problem{
		Cause: fmt.Sprintf("the pod on node %s ended (%s) before the session started", node, pod.Status.Phase),
		Fix:   "the node-shell container must keep running: check the image (--image)",
	}
}

// Stuck explains a pod that did not run within the timeout, from the last state seen.
func Stuck(pod *corev1.Pod, timeout string) *Problem {
	node := pod.Spec.NodeName
	for _, cs := range pod.Status.ContainerStatuses {
		if w := cs.State.Waiting; w != nil && w.Reason != "" {
			state := w.Reason
			if msg := condense(w.Message); msg != "" {
				state += ": " + msg
			}
			return &Problem{
				Cause:  fmt.Sprintf("the pod on node %s did not start within %s (container %s)", node, timeout, state),
				Fix:    "raise --pod-running-timeout if the image is slow to pull, or check the node",
				Detail: w.Message,
			}
		}
	}
	if pod.Status.Phase == "" || len(pod.Status.Conditions) == 0 {
		return &Problem{
			Cause: fmt.Sprintf("the kubelet on node %s did not pick up the pod within %s", node, timeout),
			Fix:   "the node's kubelet may be down: check kubectl get node " + node,
		}
	}
	return &Problem{
		Cause: fmt.Sprintf("the pod on node %s did not start within %s (phase %s)", node, timeout, pod.Status.Phase),
		Fix:   "raise --pod-running-timeout, or check kubectl describe node " + node,
	}
}

// Deleted explains a session pod that someone else deleted before it ran: marked for
// deletion, or already gone from a watch.
func Deleted(pod *corev1.Pod) *Problem {
	return &Problem{
		Cause: fmt.Sprintf("pod %s/%s was deleted while starting on node %s", pod.Namespace, pod.Name, pod.Spec.NodeName),
		Fix:   "something else removed it (a controller, an admin, or node eviction); try again",
	}
}
