package preflight

import (
	"context"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// RunPod gets the pod, checks the access (get pods in the target's namespace among it) and
// then reads the node the pod is bound to.
func TestRunPod(t *testing.T) {
	podAccess := append(append([]authorizationv1.ResourceAttributes(nil), access...),
		authorizationv1.ResourceAttributes{Namespace: "shop", Verb: "get", Resource: "pods"})
	target := Target{Namespace: "ops", Access: podAccess, Server: "https://10.0.0.1:6443"}
	web := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-0"}, Spec: corev1.PodSpec{NodeName: "n2"}}
	lost := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "lost"}, Spec: corev1.PodSpec{NodeName: "gone"}}

	client, _ := cluster(nil, "n1", "n2")
	for _, p := range []*corev1.Pod{web, lost} {
		if _, err := client.CoreV1().Pods("shop").Create(context.Background(), p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	pod, node, err := RunPod(context.Background(), client, target, PodTarget{Namespace: "shop", Name: "web-0"})
	if err != nil || pod.Name != "web-0" || node.Name != "n2" {
		t.Fatalf("RunPod = %v, %v, %v; want web-0 on n2", pod, node, err)
	}
	if _, _, err := RunPod(context.Background(), client, target, PodTarget{Namespace: "shop", Name: "absent"}); err == nil ||
		err.Error() != "pod shop/absent not found; list the pods with kubectl get pods -n shop (-n names the target pod's namespace)" {
		t.Errorf("absent pod: %v", err)
	}
	if _, _, err := RunPod(context.Background(), client, target, PodTarget{Namespace: "shop", Name: "lost"}); err == nil ||
		err.Error()[:len(`node "gone" not found`)] != `node "gone" not found` {
		t.Errorf("pod on a node that is gone: %v", err)
	}

	denied, _ := cluster(map[string]bool{"get pods/": true, "create pods/exec": true}, "n2")
	_, _, err = RunPod(context.Background(), denied, target, PodTarget{Namespace: "shop", Name: "web-0"})
	want := "you are not allowed to create pods/exec in namespace ops and get pods in namespace shop"
	if err == nil || len(err.Error()) < len(want) || err.Error()[:len(want)] != want {
		t.Errorf("denied: %v; want it to start %q", err, want)
	}
}
