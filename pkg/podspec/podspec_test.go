package podspec

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"
)

// wantPod is the pod every test starts from: the default spec for node "node-1".
func wantPod() *corev1.Pod {
	return &corev1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: "node-shell-node-1-",
			Namespace:    "default",
			Labels:       map[string]string{LabelManagedBy: ManagedByValue, LabelNode: "node-1"},
			Annotations: map[string]string{
				AnnotationNode: "node-1", AnnotationMode: "chroot",
				AnnotationHeartbeat: "", AnnotationHeartbeatTimeout: "45s",
			},
		},
		Spec: corev1.PodSpec{
			NodeName:                      "node-1",
			RestartPolicy:                 corev1.RestartPolicyNever,
			Tolerations:                   []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
			TerminationGracePeriodSeconds: ptr.To[int64](0),
			AutomountServiceAccountToken:  ptr.To(false),
			EnableServiceLinks:            ptr.To(false),
			HostPID:                       true,
			HostNetwork:                   true,
			HostIPC:                       true,
			DNSPolicy:                     corev1.DNSClusterFirstWithHostNet,
			Volumes: []corev1.Volume{{
				Name:         "host-root",
				VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/"}},
			}, {
				Name: "node-shell-heartbeat",
				VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{
					Items: []corev1.DownwardAPIVolumeFile{{
						Path:     "heartbeat",
						FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.annotations['kubectl-node-shell.io/heartbeat']"},
					}},
				}},
			}},
			Containers: []corev1.Container{{
				Name:            ContainerName,
				Image:           DefaultImage,
				ImagePullPolicy: corev1.PullIfNotPresent,
				Command:         []string{"/bin/sh", "-c", watchdogScript, "node-shell-watchdog", "45"},
				Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
					corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("64Mi"),
				}},
				SecurityContext: &corev1.SecurityContext{Privileged: ptr.To(true), RunAsUser: ptr.To[int64](0)},
				VolumeMounts: []corev1.VolumeMount{
					{Name: "host-root", MountPath: "/host"},
					{Name: "node-shell-heartbeat", MountPath: "/run/node-shell", ReadOnly: true},
				},
			}},
		},
	}
}

func TestBuild(t *testing.T) {
	tests := []struct {
		name   string
		spec   Spec
		mutate func(*corev1.Pod)
	}{
		{
			name:   "defaults",
			spec:   Spec{Node: "node-1", Namespace: "default"},
			mutate: func(*corev1.Pod) {},
		},
		{
			name: "nsenter mode is recorded, pod is the same",
			spec: Spec{Node: "node-1", Namespace: "default", Entry: Nsenter{}},
			mutate: func(p *corev1.Pod) {
				p.Annotations[AnnotationMode] = "nsenter"
			},
		},
		{
			name: "latest image is pulled every time",
			spec: Spec{Node: "node-1", Namespace: "default", Image: "example.com/tools:latest"},
			mutate: func(p *corev1.Pod) {
				p.Spec.Containers[0].Image = "example.com/tools:latest"
				p.Spec.Containers[0].ImagePullPolicy = corev1.PullAlways
			},
		},
		{
			name: "untagged image on a registry with a port is pulled every time",
			spec: Spec{Node: "node-1", Namespace: "default", Image: "localhost:5000/tools"},
			mutate: func(p *corev1.Pod) {
				p.Spec.Containers[0].Image = "localhost:5000/tools"
				p.Spec.Containers[0].ImagePullPolicy = corev1.PullAlways
			},
		},
		{
			name: "digest is pinned",
			spec: Spec{Node: "node-1", Namespace: "default", Image: "busybox@sha256:" + strings.Repeat("a", 64)},
			mutate: func(p *corev1.Pod) {
				p.Spec.Containers[0].Image = "busybox@sha256:" + strings.Repeat("a", 64)
			},
		},
		{
			name: "explicit pull policy, pull secrets, priority, lifetime, extra annotations",
			spec: Spec{
				Node: "node-1", Namespace: "ops", PullPolicy: corev1.PullNever,
				ImagePullSecrets: []string{"regcred", "other"}, PriorityClassName: CriticalPriorityClass,
				MaxLifetime: 90*time.Minute + 500*time.Millisecond,
				Annotations: map[string]string{"example.com/who": "alice"},
			},
			mutate: func(p *corev1.Pod) {
				p.Namespace = "ops"
				p.Spec.Containers[0].ImagePullPolicy = corev1.PullNever
				p.Spec.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "regcred"}, {Name: "other"}}
				p.Spec.PriorityClassName = CriticalPriorityClass
				p.Spec.ActiveDeadlineSeconds = ptr.To[int64](5401)
				p.Annotations["example.com/who"] = "alice"
			},
		},
		{
			name: "watchdog timeout and first heartbeat, rounded up to whole seconds",
			spec: Spec{Node: "node-1", Namespace: "default", HeartbeatTimeout: 9500 * time.Millisecond, Heartbeat: "2026-01-02T03:04:05.000Z"},
			mutate: func(p *corev1.Pod) {
				p.Annotations[AnnotationHeartbeat] = "2026-01-02T03:04:05.000Z"
				p.Annotations[AnnotationHeartbeatTimeout] = "9.5s"
				p.Spec.Containers[0].Command[4] = "10"
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want := wantPod()
			tc.mutate(want)
			got, err := Build(tc.spec)
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("pod mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBuildErrors(t *testing.T) {
	if _, err := Build(Spec{Namespace: "default"}); err == nil {
		t.Error("Build without a node: want an error")
	}
}

func TestLongNodeNames(t *testing.T) {
	node := strings.Repeat("a", 60) + "." + strings.Repeat("b", 60) + ".example.com"
	pod, err := Build(Spec{Node: node, Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	if errs := validation.IsValidLabelValue(pod.Labels[LabelNode]); len(errs) > 0 {
		t.Errorf("node label %q invalid: %v", pod.Labels[LabelNode], errs)
	}
	if pod.Annotations[AnnotationNode] != node {
		t.Errorf("node annotation = %q, want the full name", pod.Annotations[AnnotationNode])
	}
	// The apiserver appends 5 characters to generateName; the result must be a DNS label.
	if errs := validation.IsDNS1123Label(pod.GenerateName + "abcde"); len(errs) > 0 {
		t.Errorf("generated name %q invalid: %v", pod.GenerateName+"abcde", errs)
	}
	other, _ := Build(Spec{Node: strings.Repeat("a", 60) + "." + strings.Repeat("c", 60) + ".example.com"})
	if other.Labels[LabelNode] == pod.Labels[LabelNode] {
		t.Errorf("two long node names share the label %q", pod.Labels[LabelNode])
	}
}
