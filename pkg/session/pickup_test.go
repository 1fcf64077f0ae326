package session

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/diagnose"
)

func node(ready corev1.ConditionStatus) *corev1.Node {
	ago := metav1.NewTime(time.Now().Add(-90 * time.Second))
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "node-1"},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{
			Type: corev1.NodeReady, Status: ready, Reason: "NodeStatusUnknown", Message: "Kubelet stopped posting node status.",
			LastHeartbeatTime: ago, LastTransitionTime: ago,
		}}},
	}
}

// TestSilentKubeletOnANotReadyNodeEndsTheWait: the pod gets no status from the kubelet,
// and the node is not Ready: the session gives up after PickupTimeout, not at
// PodRunningTimeout, with the node's condition, and deletes the pod.
func TestSilentKubeletOnANotReadyNodeEndsTheWait(t *testing.T) {
	h := newHarness(t) // no kubelet: the pod never changes
	if err := h.client.Tracker().Add(node(corev1.ConditionUnknown)); err != nil {
		t.Fatal(err)
	}
	s := h.session("true")
	s.PickupTimeout, s.PodRunningTimeout = 50*time.Millisecond, time.Minute
	start := time.Now()
	_, err := s.Run(context.Background())
	var p *diagnose.Problem
	want := "the kubelet on node node-1 did not pick up the pod within 0s, and the node is not ready (Ready=Unknown for 1m30s, " +
		"NodeStatusUnknown: Kubelet stopped posting node status, last heartbeat 1m30s ago)"
	if !errors.As(err, &p) || !strings.Contains(err.Error(), want) {
		t.Fatalf("Run error = %v\nwant a problem containing %q", err, want)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("gave up after %v, want about PickupTimeout", d)
	}
	h.assertNoPods(t)
}

// TestSilentKubeletOnAReadyNodeIsGivenTime: a node that still looks Ready may just have a
// slow kubelet (or a status not yet marked stale): the session keeps waiting, checking the
// node every PickupTimeout, until PodRunningTimeout.
func TestSilentKubeletOnAReadyNodeIsGivenTime(t *testing.T) {
	h := newHarness(t)
	if err := h.client.Tracker().Add(node(corev1.ConditionTrue)); err != nil {
		t.Fatal(err)
	}
	s := h.session("true")
	s.PickupTimeout, s.PodRunningTimeout = 20*time.Millisecond, 300*time.Millisecond
	_, err := s.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "did not pick up the pod within 300ms") {
		t.Fatalf("Run error = %v, want the pod-running timeout", err)
	}
	gets := 0
	for _, a := range h.client.Actions() {
		if a.Matches("get", "nodes") {
			gets++
		}
	}
	if gets < 2 {
		t.Errorf("node checked %d times in 300ms at a 20ms interval, want several", gets)
	}
	h.assertNoPods(t)
}

// TestRequiredAccessCoversRun: every request a session makes through the clientset is in
// RequiredAccess (or is one a session goes on without), so preflight's verdict is the
// session's. The exec goes through the executor, so it is checked by name.
func TestRequiredAccessCoversRun(t *testing.T) {
	h := newHarness(t, creating, running)
	if err := h.client.Tracker().Add(node(corev1.ConditionTrue)); err != nil {
		t.Fatal(err)
	}
	if _, err := h.session("true").Run(context.Background()); err != nil {
		t.Fatalf("Run: %v", err)
	}
	required := map[string]bool{}
	for _, a := range RequiredAccess("default", ExecRequest{}) {
		required[a.Verb+" "+a.Resource+"/"+a.Subresource] = true
	}
	// The session's Events are best effort: a session goes on without them.
	optional := map[string]bool{"create selfsubjectreviews/": true, "list pods/": true, "create events/": true}
	for _, a := range h.client.Actions() {
		key := a.GetVerb() + " " + a.GetResource().Resource + "/" + a.GetSubresource()
		if !required[key] && !optional[key] {
			t.Errorf("Run made a request RequiredAccess does not list: %s (%T)", key, a)
		}
	}
	if !required["create pods/exec"] {
		t.Errorf("RequiredAccess lacks create pods/exec")
	}
}

type portForwardLike struct{}

func (portForwardLike) RequiredAccess(ns string) []authorizationv1.ResourceAttributes {
	return []authorizationv1.ResourceAttributes{
		{Namespace: ns, Verb: "create", Resource: "pods", Subresource: "portforward"},
		{Namespace: ns, Verb: "create", Resource: "pods", Subresource: "exec"},
	}
}

// TestRequiredAccessIsTheUnionOfTheActions: the lifecycle's access, then each action's,
// every attribute once, so preflight asks about each exactly once.
func TestRequiredAccessIsTheUnionOfTheActions(t *testing.T) {
	got := RequiredAccess("ops", ExecRequest{}, portForwardLike{}, ExecRequest{})
	var keys []string
	for _, a := range got {
		keys = append(keys, a.Namespace+" "+a.Verb+" "+a.Resource+"/"+a.Subresource)
	}
	want := []string{"ops create pods/", "ops watch pods/", "ops delete pods/", "ops patch pods/", " get nodes/",
		"ops create pods/exec", "ops create pods/portforward"}
	if diff := cmp.Diff(want, keys); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
