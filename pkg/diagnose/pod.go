package diagnose

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
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

// PodProblem reports why pod will never run its container, or nil while it still may.
func PodProblem(pod *corev1.Pod) *Problem {
	node := pod.Spec.NodeName
	if pod.DeletionTimestamp != nil {
		return &Problem{
			Cause: fmt.Sprintf("pod %s/%s was deleted while starting on node %s", pod.Namespace, pod.Name, node),
			Fix:   "something else removed it (a controller, an admin, or node eviction); try again",
		}
	}
	switch pod.Status.Phase {
	case corev1.PodFailed, corev1.PodSucceeded:
		return terminalPhase(pod)
	}
	for _, cs := range pod.Status.ContainerStatuses {
		if cs.State.Waiting != nil && fatalWaitingReasons[cs.State.Waiting.Reason] {
			return waitingProblem(pod, cs)
		}
		if t := cs.State.Terminated; t != nil {
			return &Problem{
				Cause:  fmt.Sprintf("the node-shell container on node %s exited at start (%s, exit code %d)", node, t.Reason, t.ExitCode),
				Fix:    "the image needs /bin/sh, sleep and chroot (or nsenter); use --image with such an image",
				Detail: t.Message,
			}
		}
	}
	return nil
}

func waitingProblem(pod *corev1.Pod, cs corev1.ContainerStatus) *Problem {
	w := cs.State.Waiting
	node := pod.Spec.NodeName
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
	case reason == "OutOfpods":
		return &Problem{
			Cause:  fmt.Sprintf("node %s has no room for another pod (kubelet: %s)", node, reason),
			Fix:    "the node is at its pod limit (maxPods); free a slot or pick another node",
			Detail: msg,
		}
	case reason == "NodeAffinity", reason == "NodeName", strings.HasPrefix(reason, "Unexpected"):
		return &Problem{
			Cause:  fmt.Sprintf("the kubelet on node %s rejected the pod (%s: %s)", node, reason, condense(msg)),
			Fix:    "the node's kubelet refuses pods it cannot admit; check the node's status with kubectl describe node " + node,
			Detail: msg,
		}
	case reason == "Evicted":
		return &Problem{
			Cause:  fmt.Sprintf("node %s evicted the pod (%s)", node, condense(msg)),
			Fix:    "the node is under resource pressure; free resources or pass --priority-class system-node-critical",
			Detail: msg,
		}
	case reason == "DeadlineExceeded":
		return &Problem{
			Cause: fmt.Sprintf("the pod on node %s reached its maximum lifetime before it started", node),
			Fix:   "raise --max-lifetime",
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
			return &Problem{
				Cause:  fmt.Sprintf("the pod on node %s did not start within %s (container %s: %s)", node, timeout, w.Reason, condense(w.Message)),
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
