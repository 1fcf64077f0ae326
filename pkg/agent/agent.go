// Package agent builds node-shell's opt-in node agent: a DaemonSet, in the dedicated
// namespace, of the session pod's own shape (pkg/podspec), so a session on a node that runs
// it costs one exec instead of a pod's create, start and delete. It also holds the
// supervisor that gives each agent session the guarantees of a session pod (see
// supervisor.go) and finds a node's agent. Build and the scripts do no I/O.
package agent

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/podspec"
)

const (
	// Namespace is where the agent runs: the dedicated namespace `setup` makes, which only
	// node admins may enter (anyone who may exec there is root on every node).
	Namespace = podspec.DedicatedNamespace
	// Name is the DaemonSet's name.
	Name = podspec.AgentName
	// FieldManager owns what install applies (server-side apply).
	FieldManager = "kubectl-node-shell-agent"
)

// Labels are on the DaemonSet and its pods: podspec.IsAgent tells agent pods from a
// session's by them (and by the DaemonSet that controls them).
var Labels = map[string]string{
	podspec.LabelManagedBy: podspec.ManagedByValue,
	podspec.LabelComponent: podspec.ComponentAgent,
}

// Selector selects the agent's pods.
const Selector = podspec.LabelManagedBy + "=" + podspec.ManagedByValue + "," + podspec.LabelComponent + "=" + podspec.ComponentAgent

// Options shape the agent's pods, as the session flags shape a session pod.
type Options struct {
	Image             string
	PullPolicy        corev1.PullPolicy
	ImagePullSecrets  []string
	PriorityClassName string
	// RecordTTY records every TTY session on the agent's nodes, pod or agent, on the node
	// (pkg/sessionlog), as asciicast v2: the admin's choice, which sessions follow.
	RecordTTY bool
}

// mainScript is the agent container's main process: it only holds the container open (the
// sessions are execs, each under its own supervisor) and exits at once on SIGTERM.
const mainScript = `trap 'exit 0' TERM INT; while :; do sleep 3600 & wait $!; done`

// DaemonSet is the agent: on every node (every taint tolerated, as a session pod), one pod
// with the session pod's privileges, host namespaces and the node's / at /host, built by
// podspec.Build so the two cannot drift apart. What a DaemonSet's pod cannot or need not
// have is left out: the node name (the DaemonSet controller pins each pod), the per-session
// watchdog and its heartbeat volume (each agent session has its own supervisor instead),
// a lifetime and RestartPolicy Never.
func DaemonSet(o Options) (*appsv1.DaemonSet, error) {
	pod, err := podspec.Build(podspec.Spec{
		Node:              "agent", // placeholder: cleared below, the DaemonSet pins each pod
		Namespace:         Namespace,
		Entry:             podspec.Chroot{},
		Image:             o.Image,
		PullPolicy:        o.PullPolicy,
		ImagePullSecrets:  o.ImagePullSecrets,
		PriorityClassName: o.PriorityClassName,
	})
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	spec := pod.Spec
	spec.NodeName = ""
	spec.RestartPolicy = corev1.RestartPolicyAlways
	spec.ActiveDeadlineSeconds = nil
	var volumes []corev1.Volume
	for _, v := range spec.Volumes {
		if v.DownwardAPI == nil {
			volumes = append(volumes, v)
		}
	}
	spec.Volumes = volumes
	c := &spec.Containers[0]
	c.Command = []string{"/bin/sh", "-c", mainScript, "node-shell-agent"}
	var mounts []corev1.VolumeMount
	for _, m := range c.VolumeMounts {
		if m.MountPath == podspec.HostMount {
			mounts = append(mounts, m)
		}
	}
	c.VolumeMounts = mounts
	annotations := map[string]string{podspec.AnnotationMode: "agent"}
	if o.RecordTTY {
		annotations[podspec.AnnotationRecord] = podspec.RecordTTY
	}
	labels := func() map[string]string {
		l := map[string]string{}
		for k, v := range Labels {
			l[k] = v
		}
		return l
	}
	return &appsv1.DaemonSet{
		TypeMeta:   metav1.TypeMeta{APIVersion: appsv1.SchemeGroupVersion.String(), Kind: "DaemonSet"},
		ObjectMeta: metav1.ObjectMeta{Name: Name, Namespace: Namespace, Labels: labels()},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels()},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{
					Labels:      labels(),
					Annotations: annotations,
				},
				Spec: spec,
			},
		},
	}, nil
}

// Ready reports whether pod, one of the agent's, can take a session now: running, its
// container ready, not being deleted.
func Ready(pod *corev1.Pod) bool {
	if pod.DeletionTimestamp != nil || pod.Status.Phase != corev1.PodRunning {
		return false
	}
	for _, cs := range pod.Status.ContainerStatuses {
		if cs.Name == podspec.ContainerName {
			return cs.Ready && cs.State.Running != nil
		}
	}
	return false
}

// ImageOf is the image an agent pod runs.
func ImageOf(pod *corev1.Pod) string {
	for _, c := range pod.Spec.Containers {
		if c.Name == podspec.ContainerName {
			return c.Image
		}
	}
	return ""
}

// RecordsTTY reports whether pod, the node's agent, says its admin records the node's TTY
// sessions (agent install --record).
func RecordsTTY(pod *corev1.Pod) bool {
	return pod != nil && podspec.IsAgent(pod) && pod.Annotations[podspec.AnnotationRecord] == podspec.RecordTTY
}
