// Package nodepod is the benchmark's own privileged node pod: what every node-shell tool puts on
// a node (host PID, network and IPC namespaces, privileged, the node's / at /host, every taint
// tolerated, pinned with nodeName), and nothing else. The floor program creates it, and the
// throughput case runs `kubectl exec` into it. It is kept apart from pkg/podspec on purpose:
// the floor must not grow with node-shell's features.
package nodepod

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// Defaults shared by every tool in the benchmark, so all of them run the same image.
const (
	Image     = "docker.io/library/busybox:1.37"
	Container = "shell"
	HostMount = "/host"
	// LabelKey marks pods the benchmark harness made, so it can find and remove them.
	LabelKey = "kubectl-node-shell.io/bench"
)

// New returns the pod, named by the apiserver from generateName, labelled role.
func New(node, namespace, generateName, role string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: generateName,
			Namespace:    namespace,
			Labels:       map[string]string{LabelKey: role},
		},
		Spec: corev1.PodSpec{
			NodeName:                      node,
			RestartPolicy:                 corev1.RestartPolicyNever,
			HostPID:                       true,
			HostNetwork:                   true,
			HostIPC:                       true,
			Tolerations:                   []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
			TerminationGracePeriodSeconds: ptr.To[int64](0),
			AutomountServiceAccountToken:  ptr.To(false),
			EnableServiceLinks:            ptr.To(false),
			Containers: []corev1.Container{{
				Name:            Container,
				Image:           Image,
				ImagePullPolicy: corev1.PullIfNotPresent,
				Command:         []string{"sleep", "2147483647"},
				SecurityContext: &corev1.SecurityContext{Privileged: ptr.To(true)},
				VolumeMounts:    []corev1.VolumeMount{{Name: "host", MountPath: HostMount}},
			}},
			Volumes: []corev1.Volume{{
				Name:         "host",
				VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/"}},
			}},
		},
	}
}

// Running reports whether pod's container has started, the moment exec can reach it.
func Running(pod *corev1.Pod) bool {
	if pod.Status.Phase != corev1.PodRunning {
		return false
	}
	for _, cs := range pod.Status.ContainerStatuses {
		if cs.State.Running != nil {
			return true
		}
	}
	return false
}
