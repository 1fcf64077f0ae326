// Package podspec builds the privileged pod that carries a node-shell session. It does no
// I/O: every input is a field of Spec, so the pod for any combination is a table test away.
package podspec

import (
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// Defaults a session uses unless told otherwise.
const (
	// DefaultImage is pinned, so IfNotPresent is safe and a node pulls it at most once.
	DefaultImage = "docker.io/library/busybox:1.37"
	// CriticalPriorityClass is what a user may ask for (--priority-class) to get a shell on a
	// full node: the kubelet then evicts another pod to admit this one, and never evicts it
	// under pressure. Never the default: a debug shell must not displace a workload unasked.
	CriticalPriorityClass = "system-node-critical"
	// ContainerName is the one container of the pod; exec targets it.
	ContainerName = "shell"
	// HostMount is where the node's root filesystem appears inside the container.
	HostMount = "/host"
	// namePrefix starts every pod name; generateName appends a random suffix.
	namePrefix = "node-shell-"
	// maxGenerateName leaves room for the 5-character suffix the apiserver appends
	// within the 63 characters a pod's hostname may have.
	maxGenerateName = 57
)

// Spec is everything that decides the pod. The zero value of an optional field means
// "leave it out of the pod".
type Spec struct {
	// Node is the node the pod is pinned to (spec.nodeName: no scheduler involved).
	Node      string
	Namespace string
	// Entry is how the session gets onto the node; nil means Chroot.
	Entry Entry
	Image string
	// PullPolicy defaults to IfNotPresent for a pinned tag, and Always for :latest or no tag.
	PullPolicy       corev1.PullPolicy
	ImagePullSecrets []string
	// PriorityClassName; empty means none.
	PriorityClassName string
	// MaxLifetime becomes activeDeadlineSeconds: a backstop after which the kubelet stops
	// the pod whatever the client does. Zero means no deadline.
	MaxLifetime time.Duration
	// HeartbeatTimeout is how long the pod's watchdog waits for the client's next heartbeat
	// before it stops the container; zero means DefaultHeartbeatTimeout. There is no way to
	// turn the watchdog off.
	HeartbeatTimeout time.Duration
	// Heartbeat is the first heartbeat value (FormatHeartbeat of the create time).
	Heartbeat string
	// Annotations are added to the pod as they are (audit trail).
	Annotations map[string]string
	// Reason is why the user opened the session (--reason), for the audit trail; "" for none.
	Reason string
	// Overrides are the user's changes to the pod (--overrides, --label, --annotation).
	Overrides Overrides
}

// Build returns the pod for s. It fails only on a Spec that no pod can carry.
func Build(s Spec) (*corev1.Pod, error) {
	if s.Node == "" {
		return nil, fmt.Errorf("podspec: node name is required")
	}
	if s.Image == "" {
		s.Image = DefaultImage
	}
	if s.Entry == nil {
		s.Entry = Chroot{}
	}
	if s.HeartbeatTimeout <= 0 {
		s.HeartbeatTimeout = DefaultHeartbeatTimeout
	}
	pod := &corev1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: generateName(s.Node),
			Namespace:    s.Namespace,
			Labels: map[string]string{
				LabelManagedBy: ManagedByValue,
				LabelNode:      labelValue(s.Node),
			},
			Annotations: map[string]string{
				AnnotationNode: s.Node,
				AnnotationMode: string(s.Entry.Mode()),
				// Set at create, so the watchdog is armed from the container's first second.
				AnnotationHeartbeat: s.Heartbeat,
			},
		},
		Spec: corev1.PodSpec{
			NodeName:      s.Node,
			RestartPolicy: corev1.RestartPolicyNever,
			// Every taint, including NoExecute and the cordon taint: an admin needs the
			// shell most on a node that is tainted because something is wrong.
			Tolerations:                   []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
			TerminationGracePeriodSeconds: ptr.To[int64](0),
			// The shell acts on the node, never on the API as the pod's service account.
			AutomountServiceAccountToken: ptr.To(false),
			EnableServiceLinks:           ptr.To(false),
			PriorityClassName:            s.PriorityClassName,
			Containers: []corev1.Container{{
				Name:            ContainerName,
				Image:           s.Image,
				ImagePullPolicy: pullPolicy(s.Image, s.PullPolicy),
				Resources:       sessionResources(),
				Stdin:           false,
				TTY:             false,
			}},
		},
	}
	for k, v := range s.Annotations {
		pod.Annotations[k] = v
	}
	for _, name := range s.ImagePullSecrets {
		pod.Spec.ImagePullSecrets = append(pod.Spec.ImagePullSecrets, corev1.LocalObjectReference{Name: name})
	}
	if s.MaxLifetime > 0 {
		pod.Spec.ActiveDeadlineSeconds = ptr.To(int64((s.MaxLifetime + time.Second - 1) / time.Second))
	}
	if s.Reason != "" {
		pod.Annotations[AnnotationReason] = ReasonAnnotation(s.Reason)
	}
	s.Entry.Apply(pod)
	s.Entry.Watchdog(pod, s.HeartbeatTimeout)
	return applyOverrides(pod, s.Overrides)
}

// sessionResources requests a little, so the pod is Burstable: under memory pressure the
// kubelet evicts BestEffort pods and pods far over their requests first. No limits: a
// limit would OOM-kill the admin's tools (journalctl, a core dump copy) mid-task.
func sessionResources() corev1.ResourceRequirements {
	return corev1.ResourceRequirements{Requests: corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("10m"),
		corev1.ResourceMemory: resource.MustParse("64Mi"),
	}}
}

// generateName is "node-shell-<node>-", cut so that the final name stays a valid hostname.
// Dots become dashes: the apiserver warns on every create whose pod name is not a DNS
// label, and node names like ip-10-0-1-23.ec2.internal are common.
func generateName(node string) string {
	name := namePrefix + strings.ReplaceAll(strings.ToLower(node), ".", "-")
	if len(name) > maxGenerateName-1 {
		name = strings.TrimRight(name[:maxGenerateName-1], ".-")
	}
	return name + "-"
}

func pullPolicy(image string, policy corev1.PullPolicy) corev1.PullPolicy {
	if policy != "" {
		return policy
	}
	if hasPinnedTag(image) {
		return corev1.PullIfNotPresent
	}
	return corev1.PullAlways
}

// hasPinnedTag reports whether image names a digest or a tag other than latest.
func hasPinnedTag(image string) bool {
	if strings.Contains(image, "@") {
		return true
	}
	lastSlash := strings.LastIndex(image, "/")
	colon := strings.LastIndex(image, ":")
	if colon <= lastSlash {
		return false
	}
	return image[colon+1:] != "latest"
}
