// Package target reads what a session is aimed at from its argument: a node, or a pod
// (kubectl's TYPE/NAME, pod/NAME), and judges a pod as a target: a session can enter one
// container of a running pod that has namespaces of its own.
package target

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/diagnose"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/podspec"
)

// podTypes are the spellings kubectl accepts for the pods resource in TYPE/NAME.
var podTypes = []string{"pod/", "pods/", "po/"}

// ParsePod reports whether arg names a pod (pod/NAME, pods/NAME or po/NAME), and its name.
func ParsePod(arg string) (name string, ok bool) {
	for _, p := range podTypes {
		if rest, found := strings.CutPrefix(arg, p); found {
			return rest, true
		}
	}
	return "", false
}

// IsTyped reports whether arg has a TYPE/ prefix, pod or not.
func IsTyped(arg string) bool { return strings.Contains(arg, "/") }

// defaultContainerAnnotation names the container kubectl exec and logs pick by default.
const defaultContainerAnnotation = "kubectl.kubernetes.io/default-container"

// Resolve judges pod as a session's target and returns the entry into container (the
// pod's default container when ""): its name and its bare runtime ID. Each refusal is one
// line that says what to do instead.
func Resolve(pod *corev1.Pod, container string) (name, id string, err error) {
	ref := pod.Namespace + "/" + pod.Name
	switch {
	case pod.DeletionTimestamp != nil:
		return "", "", &diagnose.Problem{Cause: fmt.Sprintf("pod %s is being deleted", ref), Fix: "debug a pod that runs"}
	case pod.Status.Phase != corev1.PodRunning:
		return "", "", &diagnose.Problem{
			Cause: fmt.Sprintf("pod %s is %s, not Running%s, so it has no process to enter", ref, orUnknown(string(pod.Status.Phase)), reasonOf(pod.Status.Reason)),
			Fix:   fmt.Sprintf("see why with kubectl describe pod -n %s %s", pod.Namespace, pod.Name)}
	case pod.Spec.NodeName == "":
		return "", "", &diagnose.Problem{Cause: fmt.Sprintf("pod %s is not bound to a node", ref), Fix: fmt.Sprintf("see why with kubectl describe pod -n %s %s", pod.Namespace, pod.Name)}
	case pod.Spec.HostNetwork:
		return "", "", &diagnose.Problem{
			Cause: fmt.Sprintf("pod %s uses its node's network (hostNetwork), so its network namespace is node %s's own", ref, pod.Spec.NodeName),
			Fix:   fmt.Sprintf("run on the node instead: kubectl node-shell %s", pod.Spec.NodeName)}
	}
	name = container
	if name == "" {
		name = pod.Annotations[defaultContainerAnnotation]
	}
	if name == "" && len(pod.Spec.Containers) > 0 {
		name = pod.Spec.Containers[0].Name
	}
	var names []string
	for _, c := range pod.Spec.Containers {
		names = append(names, c.Name)
	}
	for _, s := range pod.Status.ContainerStatuses {
		if s.Name != name {
			continue
		}
		if s.State.Running == nil {
			return "", "", &diagnose.Problem{
				Cause: fmt.Sprintf("container %s of pod %s is not running%s", name, ref, waitingReason(s.State)),
				Fix:   fmt.Sprintf("see why with kubectl describe pod -n %s %s", pod.Namespace, pod.Name)}
		}
		if id = podspec.ContainerIDOf(s.ContainerID); id == "" {
			return "", "", &diagnose.Problem{Cause: fmt.Sprintf("container %s of pod %s has no runtime ID in its status (%q)", name, ref, s.ContainerID), Fix: "retry in a moment"}
		}
		return name, id, nil
	}
	return "", "", &diagnose.Problem{
		Cause: fmt.Sprintf("pod %s has no running container %s", ref, name),
		Fix:   fmt.Sprintf("name one of its containers with -c: %s", strings.Join(names, ", "))}
}

func waitingReason(s corev1.ContainerState) string {
	switch {
	case s.Waiting != nil && s.Waiting.Reason != "":
		return " (" + s.Waiting.Reason + ")"
	case s.Terminated != nil && s.Terminated.Reason != "":
		return " (" + s.Terminated.Reason + ")"
	}
	return ""
}

func reasonOf(reason string) string {
	if reason == "" {
		return ""
	}
	return " (" + reason + ")"
}

func orUnknown(s string) string {
	if s == "" {
		return "Unknown"
	}
	return s
}
