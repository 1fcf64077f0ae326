package podspec

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

// Mode is how a session reaches the node.
type Mode string

const (
	// ModeChroot runs the command as `chroot /host …`: the node's own binaries and files.
	ModeChroot Mode = "chroot"
	// ModeNsenter joins the host's mount, UTS, IPC, network and PID namespaces (PID 1's, or
	// the kubelet's or containerd's where PID 1's are closed, each proven to be the host's
	// first; see nsenterScript): the node as its init sees it, for distros where a chroot
	// falls short (SELinux, immutable roots).
	ModeNsenter Mode = "nsenter"
	// ModeContainer stays in the container, the node's filesystem at /host: for tools the
	// node lacks.
	ModeContainer Mode = "container"
)

// Modes lists the valid modes in the order help text shows them.
var Modes = []Mode{ModeChroot, ModeNsenter, ModeContainer}

// ParseMode validates a mode name.
func ParseMode(s string) (Mode, error) {
	for _, m := range Modes {
		if string(m) == s {
			return m, nil
		}
	}
	names := make([]string, len(Modes))
	for i, m := range Modes {
		names[i] = string(m)
	}
	return "", fmt.Errorf("unknown mode %q: use one of %s", s, strings.Join(names, ", "))
}

// nodeAccess gives the container the node: its PID, network and IPC namespaces, full
// privileges, and its root filesystem at HostMount. Every mode needs all of it; modes differ
// only in how the command enters the node (see ExecCommand).
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
