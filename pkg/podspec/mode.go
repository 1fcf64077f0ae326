package podspec

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

// Mode is how a session reaches the node.
type Mode string

// nodeAccess gives the container the node: its PID, network and IPC namespaces, full
// privileges, and its root filesystem at HostMount. Every entry needs all of it today;
// entries differ in how the command enters the node (see Entry.Argv).
func nodeAccess(pod *corev1.Pod) {
	useHostNamespaces(pod)
	setPrivileged(pod)
	mountHostRoot(pod)
}

// useHostNamespaces shares the node's PID, network and IPC namespaces.
func useHostNamespaces(pod *corev1.Pod) {
	pod.Spec.HostPID = true
	pod.Spec.HostNetwork = true
	pod.Spec.HostIPC = true
	// hostNetwork pods need the node's DNS settings to resolve anything at all.
	pod.Spec.DNSPolicy = corev1.DNSClusterFirstWithHostNet
}

// setPrivileged runs the container as root with every capability and device.
func setPrivileged(pod *corev1.Pod) {
	for i := range pod.Spec.Containers {
		pod.Spec.Containers[i].SecurityContext = &corev1.SecurityContext{
			Privileged: ptr.To(true),
			RunAsUser:  ptr.To[int64](0),
		}
	}
}

// hostRootVolume is the volume of the node's / (Identify looks for it).
const hostRootVolume = "host-root"

// mountHostRoot mounts the node's / at HostMount. Bidirectional propagation is left out
// on purpose: mounts made in the shell stay in the shell's view and cannot leak onto the node's
// kubelet directories.
func mountHostRoot(pod *corev1.Pod) {
	pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{
		Name:         hostRootVolume,
		VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/"}},
	})
	for i := range pod.Spec.Containers {
		pod.Spec.Containers[i].VolumeMounts = append(pod.Spec.Containers[i].VolumeMounts,
			corev1.VolumeMount{Name: hostRootVolume, MountPath: HostMount})
	}
}
