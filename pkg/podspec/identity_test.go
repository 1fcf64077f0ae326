package podspec

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// created is what the apiserver returns for a pod Build made: generateName filled in.
func created(t *testing.T, mutate ...func(*corev1.Pod)) *corev1.Pod {
	t.Helper()
	p, err := Build(Spec{Node: "ip-10-0-1-23.ec2.internal", Namespace: "ops"})
	if err != nil {
		t.Fatal(err)
	}
	p.Name = p.GenerateName + "x7k2q"
	for _, m := range mutate {
		m(p)
	}
	return p
}

func TestIdentify(t *testing.T) {
	tests := []struct {
		name    string
		pod     *corev1.Pod
		wantErr string // "" means ours
	}{
		{"a pod Build made", created(t), ""},
		{"every mode's pod is ours", created(t, func(p *corev1.Pod) { p.Annotations[AnnotationMode] = "nsenter" }), ""},
		{"no label", created(t, func(p *corev1.Pod) { delete(p.Labels, LabelManagedBy) }), "no app.kubernetes.io/managed-by"},
		{"a StatefulSet's pod wearing our label", created(t, func(p *corev1.Pod) {
			p.OwnerReferences = []metav1.OwnerReference{{Kind: "StatefulSet", Name: "db", Controller: new(bool)}}
		}), "owned by StatefulSet/db"},
		{"the agent's pod", created(t, func(p *corev1.Pod) {
			p.Namespace, p.Labels[LabelComponent] = DedicatedNamespace, ComponentAgent
			p.OwnerReferences = []metav1.OwnerReference{{Kind: "DaemonSet", Name: AgentName, Controller: func() *bool { b := true; return &b }()}}
		}), "agent pod"},
		{"a tenant's pod dressed as the agent, outside the dedicated namespace", created(t, func(p *corev1.Pod) {
			p.Labels[LabelComponent] = ComponentAgent
			p.OwnerReferences = []metav1.OwnerReference{{Kind: "DaemonSet", Name: AgentName, Controller: func() *bool { b := true; return &b }()}}
		}), "owned by DaemonSet/" + AgentName},
		{"another name", created(t, func(p *corev1.Pod) { p.Name = "db-0" }), "is not node-shell's"},
		{"a name for another node", created(t, func(p *corev1.Pod) { p.Spec.NodeName = "other" }), "is not node-shell's"},
		{"a second container", created(t, func(p *corev1.Pod) {
			p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "app"})
		}), "containers"},
		{"an init container", created(t, func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "init"}}
		}), "containers"},
		{"another command", created(t, func(p *corev1.Pod) {
			p.Spec.Containers[0].Command = []string{"/bin/sh", "-c", "sleep 1d"}
		}), "watchdog"},
		{"the watchdog with a timeout that is not a number", created(t, func(p *corev1.Pod) {
			p.Spec.Containers[0].Command[4] = "forever"
		}), "watchdog"},
		{"not host PID", created(t, func(p *corev1.Pod) { p.Spec.HostPID = false }), "host-PID"},
		{"restarts", created(t, func(p *corev1.Pod) { p.Spec.RestartPolicy = corev1.RestartPolicyAlways }), "host-PID"},
		{"a second host path added", created(t, func(p *corev1.Pod) {
			p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/lib/db"}}})
		}), "volumes"},
		{"an extra volume of another kind (an override's) is still ours", created(t, func(p *corev1.Pod) {
			p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "tools", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
		}), ""},
		{"no heartbeat volume", created(t, func(p *corev1.Pod) { p.Spec.Volumes = p.Spec.Volumes[:1] }), "volumes"},
		{"another host path", created(t, func(p *corev1.Pod) { p.Spec.Volumes[0].HostPath.Path = "/var/lib/db" }), "volumes"},
	}
	for _, tc := range tests {
		err := Identify(tc.pod)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%s: Identify = %v, want ours", tc.name, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%s: Identify = %v, want an error containing %q", tc.name, err, tc.wantErr)
		}
	}
}

// A pod made by an earlier version, whose watchdog did not end its sessions' records, is
// still ours (gc removes it); any other script is not.
func TestIdentifyKnowsEarlierWatchdogs(t *testing.T) {
	for _, c := range []struct {
		script string
		ours   bool
	}{{watchdogScript, true}, {legacyWatchdogScripts[0], true}, {legacyWatchdogScripts[0] + "\necho pwned", false}} {
		p := created(t)
		p.Spec.Containers[0].Command[2] = c.script
		if err := Identify(p); (err == nil) != c.ours {
			t.Errorf("watchdog script %.40q…: Identify = %v, want ours=%v", c.script, err, c.ours)
		}
	}
}
