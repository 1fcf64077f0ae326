package agent

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/podspec"
)

// The agent's pod is the session pod's shape: the same privileges, host namespaces, /host
// mount, tolerations and resources, so a session behaves the same on either.
func TestDaemonSetHasTheSessionPodsShape(t *testing.T) {
	ds, err := DaemonSet(Options{Image: "registry.example/busybox:1.37", PriorityClassName: "system-node-critical"})
	if err != nil {
		t.Fatal(err)
	}
	session, err := podspec.Build(podspec.Spec{Node: "n", Namespace: Namespace, Image: "registry.example/busybox:1.37", PriorityClassName: "system-node-critical"})
	if err != nil {
		t.Fatal(err)
	}
	got, want := ds.Spec.Template.Spec, session.Spec
	if diff := cmp.Diff(want.Containers[0].SecurityContext, got.Containers[0].SecurityContext); diff != "" {
		t.Errorf("security context (-session +agent):\n%s", diff)
	}
	if !got.HostPID || !got.HostNetwork || !got.HostIPC || got.DNSPolicy != want.DNSPolicy {
		t.Errorf("host namespaces: %+v", got)
	}
	if diff := cmp.Diff(want.Tolerations, got.Tolerations); diff != "" || len(got.Tolerations) != 1 || got.Tolerations[0].Operator != corev1.TolerationOpExists {
		t.Errorf("tolerations must be every taint's (-session +agent):\n%s", diff)
	}
	if diff := cmp.Diff(want.Containers[0].Resources, got.Containers[0].Resources); diff != "" {
		t.Errorf("resources (-session +agent):\n%s", diff)
	}
	if len(got.Volumes) != 1 || got.Volumes[0].HostPath == nil || got.Volumes[0].HostPath.Path != "/" ||
		len(got.Containers[0].VolumeMounts) != 1 || got.Containers[0].VolumeMounts[0].MountPath != podspec.HostMount {
		t.Errorf("volumes %+v, mounts %+v: want only the node's / at %s", got.Volumes, got.Containers[0].VolumeMounts, podspec.HostMount)
	}
	if got.NodeName != "" || got.RestartPolicy != corev1.RestartPolicyAlways || got.ActiveDeadlineSeconds != nil {
		t.Errorf("nodeName %q, restartPolicy %s, deadline %v: a DaemonSet's pod has none, Always, none", got.NodeName, got.RestartPolicy, got.ActiveDeadlineSeconds)
	}
	if got.AutomountServiceAccountToken == nil || *got.AutomountServiceAccountToken {
		t.Error("the agent must not carry an API token")
	}
	if got.PriorityClassName != "system-node-critical" || got.Containers[0].Image != "registry.example/busybox:1.37" {
		t.Errorf("priority %q, image %q: want the options'", got.PriorityClassName, got.Containers[0].Image)
	}
	if diff := cmp.Diff(Labels, ds.Spec.Template.Labels); diff != "" || !cmp.Equal(ds.Spec.Selector.MatchLabels, Labels) {
		t.Errorf("template labels (-want +got):\n%s", diff)
	}
}

func agentPod(node string, ready bool) corev1.Pod {
	p := corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: Name + "-" + node, Namespace: Namespace, Labels: Labels, UID: "uid-" + "node",
			OwnerReferences: []metav1.OwnerReference{{Kind: "DaemonSet", Name: Name, Controller: ptr.To(true)}},
		},
		Spec:   corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: podspec.ContainerName, Image: podspec.DefaultImage}}},
		Status: corev1.PodStatus{Phase: corev1.PodPending},
	}
	if ready {
		p.Status.Phase = corev1.PodRunning
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: podspec.ContainerName, Ready: true, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}
	}
	return p
}

func TestFind(t *testing.T) {
	ready, pending := agentPod("n1", true), agentPod("n2", false)
	impostor := agentPod("n3", true)
	impostor.OwnerReferences = nil // labelled, but no DaemonSet's
	client := fake.NewClientset(&ready, &pending, &impostor)
	ctx := context.Background()
	if p, err := Find(ctx, client, "n1"); err != nil || p.Name != ready.Name {
		t.Errorf("Find(n1) = %v, %v; want the ready agent", p, err)
	}
	var nr *NotReady
	if _, err := Find(ctx, client, "n2"); !errors.As(err, &nr) || nr.Reason != "pod "+pending.Name+" is not ready (Pending)" {
		t.Errorf("Find(n2) error = %v; want not ready, pending", err)
	}
	if _, err := Find(ctx, client, "n3"); !errors.As(err, &nr) || nr.Reason != "no agent pod on it" {
		t.Errorf("Find(n3) error = %v; a pod the DaemonSet does not control is no agent", err)
	}
}

func TestStatus(t *testing.T) {
	nodes := []corev1.Node{{ObjectMeta: metav1.ObjectMeta{Name: "n2"}}, {ObjectMeta: metav1.ObjectMeta{Name: "n1"}}, {ObjectMeta: metav1.ObjectMeta{Name: "n3"}}}
	got := Status(nodes, []corev1.Pod{agentPod("n1", true), agentPod("n2", false)})
	if len(got) != 3 || got[0].Node != "n1" || !got[0].Ready || got[1].Node != "n2" || got[1].Ready || got[1].Pod == nil || got[2].Pod != nil {
		t.Errorf("Status = %+v; want n1 ready, n2 not ready, n3 without agent", got)
	}
}
