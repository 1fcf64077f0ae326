package target

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const id = "502a115f933a735eff723ca523c29d357d70c892e1370d178e8d48c65595a1ae"

func runningPod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-0", UID: "u1"},
		Spec:       corev1.PodSpec{NodeName: "n2", Containers: []corev1.Container{{Name: "app"}, {Name: "sidecar"}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{
			{Name: "app", ContainerID: "containerd://" + id, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}},
			{Name: "sidecar", ContainerID: "containerd://" + strings.Repeat("b", 64), State: corev1.ContainerState{
				Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}},
		}},
	}
}

func TestResolve(t *testing.T) {
	tests := []struct {
		name      string
		edit      func(*corev1.Pod)
		container string
		want      string // the container found, or the error
	}{
		{"first container by default", nil, "", "app"},
		{"named", nil, "app", "app"},
		{"kubectl's default-container annotation", func(p *corev1.Pod) {
			p.Annotations = map[string]string{"kubectl.kubernetes.io/default-container": "sidecar"}
		}, "", "container sidecar of pod shop/web-0 is not running (CrashLoopBackOff); see why with kubectl describe pod -n shop web-0"},
		{"pending", func(p *corev1.Pod) { p.Status.Phase = corev1.PodPending }, "",
			"pod shop/web-0 is Pending, not Running, so it has no process to enter; see why with kubectl describe pod -n shop web-0"},
		{"succeeded", func(p *corev1.Pod) { p.Status.Phase, p.Status.Reason = corev1.PodSucceeded, "Completed" }, "",
			"pod shop/web-0 is Succeeded, not Running (Completed), so it has no process to enter"},
		{"hostNetwork", func(p *corev1.Pod) { p.Spec.HostNetwork = true }, "",
			"pod shop/web-0 uses its node's network (hostNetwork), so its network namespace is node n2's own; run on the node instead: kubectl node-shell n2"},
		{"no such container", nil, "db", "pod shop/web-0 has no running container db; name one of its containers with -c: app, sidecar"},
		{"no runtime ID", func(p *corev1.Pod) { p.Status.ContainerStatuses[0].ContainerID = "" }, "",
			`container app of pod shop/web-0 has no runtime ID in its status ("")`},
		{"being deleted", func(p *corev1.Pod) { p.DeletionTimestamp = &metav1.Time{} }, "", "pod shop/web-0 is being deleted"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pod := runningPod()
			if tc.edit != nil {
				tc.edit(pod)
			}
			name, gotID, err := Resolve(pod, tc.container)
			got := name
			if err != nil {
				got = err.Error()
			}
			if !strings.HasPrefix(got, tc.want) {
				t.Errorf("Resolve = %q, want %q", got, tc.want)
			}
			if err == nil && gotID != id {
				t.Errorf("id %q, want %q", gotID, id)
			}
		})
	}
}

func TestParsePod(t *testing.T) {
	for in, want := range map[string]string{"pod/web-0": "web-0", "pods/a": "a", "po/b": "b", "node-1": "", "node/x": "", "deploy/web": ""} {
		name, ok := ParsePod(in)
		if name != want || ok != (want != "") {
			t.Errorf("ParsePod(%q) = %q, %v; want %q", in, name, ok, want)
		}
	}
}
