package leftover

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/podspec"
)

// named gives p a namespace and a name: ours keep node-shell's name prefix (Identify
// checks it), and names() shows them without it.
func named(ns, name string, p *corev1.Pod) *corev1.Pod {
	p.Namespace, p.UID, p.ResourceVersion = ns, types.UID("uid-"+ns+"-"+name), "7"
	p.Name = p.GenerateName + name
	return p
}

func names(pods []corev1.Pod) []string {
	var out []string
	for _, p := range pods {
		out = append(out, p.Namespace+"/"+strings.TrimPrefix(p.Name, p.GenerateName))
	}
	return out
}

func forbidden(resource string) error {
	return apierrors.NewForbidden(schema.GroupResource{Resource: resource}, "", errors.New("RBAC: denied"))
}

func TestFindAllFallsBackToTheNamespacesTheUserMayList(t *testing.T) {
	ns := func(name string) *corev1.Namespace {
		return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	}
	client := fake.NewClientset(ns("a"), ns("b"), ns("secret"),
		named("a", "node-shell-1", ours(0)), named("b", "node-shell-2", ours(0)), named("secret", "node-shell-3", ours(0)),
		named("a", "web", ours(0, func(p *corev1.Pod) { p.Labels = map[string]string{"app": "web"} })))
	client.PrependReactor("list", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if ns := a.GetNamespace(); ns == "" || ns == "secret" {
			return true, nil, forbidden("pods")
		}
		return false, nil, nil
	})
	found, err := FindAll(context.Background(), client, "a")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"a/node-shell-1", "b/node-shell-2"}, names(found.Pods)); diff != "" {
		t.Errorf("pods (-want +got):\n%s", diff)
	}
	if found.OnlyIn != "" || !cmp.Equal(found.Forbidden, []string{"secret"}) {
		t.Errorf("OnlyIn=%q Forbidden=%v, want \"\" [secret]", found.OnlyIn, found.Forbidden)
	}

	// Without the right to list namespaces, only the fallback namespace is searched.
	client.PrependReactor("list", "namespaces", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, forbidden("namespaces")
	})
	found, err = FindAll(context.Background(), client, "b")
	if err != nil || !cmp.Equal(names(found.Pods), []string{"b/node-shell-2"}) || found.OnlyIn != "b" {
		t.Errorf("FindAll with no namespace list = %v, OnlyIn %q, %v; want b/node-shell-2 from b alone", names(found.Pods), found.OnlyIn, err)
	}
}

func TestSweepRemovesOnlyLeftoversWithPreconditions(t *testing.T) {
	client := fake.NewClientset(
		named("default", "alive", ours(5*time.Second)),
		named("default", "expired", ours(0, terminated(podspec.WatchdogExpiredMessage, 0))),
		named("default", "stale", ours(3*time.Hour)),
		named("default", "foreign", ours(3*time.Hour, terminated("", 1), func(p *corev1.Pod) { p.Labels = nil })),
		named("default", "db-0", ours(3*time.Hour, func(p *corev1.Pod) {
			p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "db"}}
		})),
		named("other", "expired-elsewhere", ours(0, terminated("", 1))),
	)
	removed := Sweep(context.Background(), client, "default", func() time.Time { return now })
	var removedPods []corev1.Pod
	for _, r := range removed {
		removedPods = append(removedPods, r.Pod)
		if !r.Verdict.Remove || r.Verdict.Reason == "" {
			t.Errorf("removed %s with verdict %+v", r.Pod.Name, r.Verdict)
		}
	}
	if diff := cmp.Diff([]string{"default/expired", "default/stale"}, names(removedPods)); diff != "" {
		t.Errorf("removed (-want +got):\n%s", diff)
	}
	left, _ := client.CoreV1().Pods("").List(context.Background(), metav1.ListOptions{})
	if diff := cmp.Diff([]string{"default/alive", "default/db-0", "default/foreign", "other/expired-elsewhere"}, names(left.Items)); diff != "" {
		t.Errorf("left (-want +got):\n%s", diff)
	}
	for _, a := range client.Actions() {
		d, ok := a.(k8stesting.DeleteAction)
		if !ok {
			continue
		}
		pre := d.GetDeleteOptions().Preconditions
		wantUID := "uid-default-" + strings.TrimPrefix(d.GetName(), "node-shell-n1-")
		if d.GetDeleteOptions().GracePeriodSeconds != nil {
			t.Errorf("delete of %s overrides the grace period: %d", d.GetName(), *d.GetDeleteOptions().GracePeriodSeconds)
		}
		if pre == nil || pre.UID == nil || string(*pre.UID) != wantUID || pre.ResourceVersion == nil || *pre.ResourceVersion != "7" {
			t.Errorf("delete of %s: preconditions %+v, want UID %s and resourceVersion 7", d.GetName(), pre, wantUID)
		}
	}
}

func TestRemoveLeavesAPodThatChanged(t *testing.T) {
	client := fake.NewClientset()
	client.PrependReactor("delete", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewConflict(schema.GroupResource{Resource: "pods"}, "x", errors.New("precondition failed"))
	})
	if err := Remove(context.Background(), client, named("default", "x", ours(0))); !errors.Is(err, ErrChanged) {
		t.Errorf("Remove = %v, want ErrChanged", err)
	}
	if err := Remove(context.Background(), fake.NewClientset(), named("default", "gone", ours(0))); err != nil {
		t.Errorf("Remove of a pod already gone = %v, want nil", err)
	}
}

// The agent's pods carry our label but are no session's: a search leaves them out, so list
// shows and gc judges only sessions' pods. A pod merely labelled as the agent is still found.
func TestFindLeavesTheAgentsPodsOut(t *testing.T) {
	isController := true
	agentPod := named(podspec.DedicatedNamespace, "agent", ours(0, func(p *corev1.Pod) {
		p.Labels[podspec.LabelComponent] = podspec.ComponentAgent
		p.OwnerReferences = []metav1.OwnerReference{{Kind: "DaemonSet", Name: podspec.AgentName, Controller: &isController}}
	}))
	dressedUp := named(podspec.DedicatedNamespace, "dressed-up", ours(0, func(p *corev1.Pod) {
		p.Labels[podspec.LabelComponent] = podspec.ComponentAgent
	}))
	session := named(podspec.DedicatedNamespace, "node-shell-1", ours(0))
	found, err := FindIn(context.Background(), fake.NewClientset(agentPod, dressedUp, session), podspec.DedicatedNamespace)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"node-shell/dressed-up", "node-shell/node-shell-1"}, names(found.Pods)); diff != "" {
		t.Errorf("found (-want +got):\n%s", diff)
	}
}
