package session

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/diagnose"
)

func withHealthWatchDelay(t *testing.T, d time.Duration) {
	old := healthWatchDelay
	healthWatchDelay = d
	t.Cleanup(func() { healthWatchDelay = old })
}

// healthWatches are the watches a session opens on its node's health, driven by the test;
// opened receives each watch's action as it is made.
type healthWatches struct {
	lease, node, events *watch.RaceFreeFakeWatcher
	opened              chan k8stesting.WatchAction
}

func watchHealth(h *harness) *healthWatches {
	w := &healthWatches{lease: watch.NewRaceFreeFake(), node: watch.NewRaceFreeFake(), events: watch.NewRaceFreeFake(), opened: make(chan k8stesting.WatchAction, 10)}
	for resource, fw := range map[string]*watch.RaceFreeFakeWatcher{"leases": w.lease, "nodes": w.node, "events": w.events} {
		h.client.PrependWatchReactor(resource, func(a k8stesting.Action) (bool, watch.Interface, error) {
			w.opened <- a.(k8stesting.WatchAction)
			return true, fw, nil
		})
	}
	return w
}

// awaitOpened waits for the session's watch on resource and returns its action.
func (w *healthWatches) awaitOpened(t *testing.T, resource string) k8stesting.WatchAction {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case a := <-w.opened:
			if a.GetResource().Resource == resource {
				return a
			}
		case <-timeout:
			t.Fatalf("the session never watched %s", resource)
		}
	}
}

type fixedServerClock struct{ now time.Time }

func (c fixedServerClock) Now() (time.Time, bool) { return c.now, true }

func nodeLease(durationSeconds int32, renewed time.Time) *coordinationv1.Lease {
	return &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: "node-1", Namespace: corev1.NamespaceNodeLease, ResourceVersion: "20"},
		Spec: coordinationv1.LeaseSpec{
			HolderIdentity: ptr.To("node-1"), LeaseDurationSeconds: ptr.To(durationSeconds),
			RenewTime: &metav1.MicroTime{Time: renewed},
		},
	}
}

func runAsync(s *testRun) <-chan error {
	done := make(chan error, 1)
	go func() {
		_, err := s.Run(context.Background())
		done <- err
	}()
	return done
}

// TestDeadKubeletEndsTheWait: the kubelet's Lease, seen once, is not renewed again: the
// session gives up after one and a half renew intervals (here 1.5 s of a 4 s lease), naming
// the kubelet and the lease's age by the apiserver's clock, and deletes the pod.
func TestDeadKubeletEndsTheWait(t *testing.T) {
	withHealthWatchDelay(t, 0)
	h := newHarness(t, creating)
	w := watchHealth(h)
	s := h.session("true")
	serverNow := time.Now()
	s.ServerClock = fixedServerClock{serverNow.Add(30 * time.Second)} // the apiserver's clock is ahead: its age counts
	done := runAsync(s)
	a := w.awaitOpened(t, "leases")
	if a.GetNamespace() != "kube-node-lease" || a.GetWatchRestrictions().Fields.String() != "metadata.name=node-1" {
		t.Errorf("lease watch in %q for %q, want kube-node-lease, metadata.name=node-1", a.GetNamespace(), a.GetWatchRestrictions().Fields)
	}
	if rv := a.GetWatchRestrictions().ResourceVersion; rv != "" {
		t.Errorf("lease watch from version %q, want the current state (none)", rv)
	}
	seen := time.Now()
	w.lease.Add(nodeLease(4, serverNow.Add(-5*time.Second)))
	err := <-done
	waited := time.Since(seen)
	var p *diagnose.Problem
	want := "the kubelet on node node-1 is not running or cannot reach the apiserver: its lease (kube-node-lease/node-1) has not been renewed for 35s (a live kubelet renews it every 1s)"
	if !errors.As(err, &p) || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("Run error = %v\nwant a problem starting with %q", err, want)
	}
	if waited < 1500*time.Millisecond || waited > 4*time.Second {
		t.Errorf("gave up %v after the lease was seen, want 1.5s (one and a half renew intervals)", waited)
	}
	h.assertNoPods(t)
}

// TestLiveKubeletKeepsTheWait: a lease renewed every interval never ends the wait, however
// old the apiserver's clock says it is (the node's clock may be behind): the session waits
// until --pod-running-timeout.
func TestLiveKubeletKeepsTheWait(t *testing.T) {
	withHealthWatchDelay(t, 0)
	h := newHarness(t, creating)
	w := watchHealth(h)
	s := h.session("true")
	s.PodRunningTimeout = 3 * time.Second
	s.ServerClock = fixedServerClock{time.Now().Add(time.Hour)}
	done := runAsync(s)
	w.awaitOpened(t, "leases")
	renewals := time.NewTicker(time.Second) // the lease's renew interval
	defer renewals.Stop()
	w.lease.Add(nodeLease(4, time.Now()))
	for {
		select {
		case now := <-renewals.C:
			w.lease.Modify(nodeLease(4, now))
			continue
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), "did not start within 3s") {
				t.Fatalf("Run error = %v, want the pod-running timeout", err)
			}
		}
		break
	}
	h.assertNoPods(t)
}

// TestRuntimeDownEndsTheWait: the node reports its container runtime down: the session
// gives up at once naming the runtime, never the image.
func TestRuntimeDownEndsTheWait(t *testing.T) {
	withHealthWatchDelay(t, 0)
	h := newHarness(t, creating)
	w := watchHealth(h)
	done := runAsync(h.session("true"))
	a := w.awaitOpened(t, "nodes")
	if a.GetWatchRestrictions().Fields.String() != "metadata.name=node-1" {
		t.Errorf("node watch for %q, want metadata.name=node-1", a.GetWatchRestrictions().Fields)
	}
	n := node(corev1.ConditionTrue)
	n.ResourceVersion = "30"
	w.node.Add(n.DeepCopy())
	n.Status.Conditions[0].Status, n.Status.Conditions[0].Reason, n.Status.Conditions[0].Message = corev1.ConditionFalse, "KubeletNotReady", "container runtime is down"
	changed := time.Now()
	w.node.Modify(n)
	err := <-done
	want := "the container runtime on node node-1 is down (Ready=False for "
	if err == nil || !strings.HasPrefix(err.Error(), want) || strings.Contains(err.Error(), "image") {
		t.Fatalf("Run error = %v\nwant it to start with %q, and no image hint", err, want)
	}
	if d := time.Since(changed); d > time.Second {
		t.Errorf("gave up %v after the node's condition, want at once", d)
	}
	h.assertNoPods(t)
}

// TestPodEventEndsTheWait: a Warning event about the pod that proves it cannot start ends
// the wait at once, with the event's message; the watch selects the pod's own events.
func TestPodEventEndsTheWait(t *testing.T) {
	withHealthWatchDelay(t, 0)
	h := newHarness(t, creating)
	w := watchHealth(h)
	done := runAsync(h.session("true"))
	a := w.awaitOpened(t, "events")
	if a.GetNamespace() != "default" || a.GetWatchRestrictions().Fields.String() != "involvedObject.uid=uid-1" {
		t.Errorf("event watch in %q for %q, want default, involvedObject.uid=uid-1", a.GetNamespace(), a.GetWatchRestrictions().Fields)
	}
	ev := func(kind, reason, msg string) *corev1.Event {
		return &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "e", Namespace: "default", ResourceVersion: "40"}, Type: kind, Reason: reason, Message: msg}
	}
	w.events.Add(ev(corev1.EventTypeNormal, "Pulled", "Container image already present on machine"))
	sent := time.Now()
	w.events.Add(ev(corev1.EventTypeWarning, "FailedCreatePodSandBox", "Failed to create pod sandbox: mkdir /var/log/pods/default_x_uid-1: no space left on device"))
	err := <-done
	want := "node node-1 is out of disk space: the filesystem that holds /var/log/pods/default_x_uid-1 is full (FailedCreatePodSandBox: mkdir /var/log/pods/default_x_uid-1: no space left on device)"
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("Run error = %v\nwant it to start with %q", err, want)
	}
	if d := time.Since(sent); d > time.Second {
		t.Errorf("gave up %v after the event, want at once", d)
	}
	h.assertNoPods(t)
}

// TestHealthWatchesAreBestEffort: a user who may not watch leases, nodes or events gets
// the session all the same: each watch is tried once, and the pod that runs is used.
func TestHealthWatchesAreBestEffort(t *testing.T) {
	withHealthWatchDelay(t, 0)
	h := newHarness(t) // the pod runs when the test says
	refused := make(chan string, 10)
	for _, resource := range []string{"leases", "nodes", "events"} {
		h.client.PrependWatchReactor(resource, func(a k8stesting.Action) (bool, watch.Interface, error) {
			refused <- a.GetResource().Resource
			return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: a.GetResource().Resource}, "", errors.New("RBAC: access denied"))
		})
	}
	s := h.session("true")
	done := runAsync(s)
	for range 3 {
		select {
		case <-refused:
		case <-time.After(5 * time.Second):
			t.Fatal("the session did not try its three health watches")
		}
	}
	pods, _ := h.client.Tracker().List(schema.GroupVersionResource{Version: "v1", Resource: "pods"}, schema.GroupVersionKind{Version: "v1", Kind: "Pod"}, "default")
	p := pods.(*corev1.PodList).Items[0].DeepCopy()
	running(p)
	h.watcher.Modify(p)
	if err := <-done; err != nil {
		t.Fatalf("Run error = %v, want the session to run without its health watches", err)
	}
	select {
	case r := <-refused:
		t.Errorf("watch of %s retried after a refusal", r)
	default:
	}
	h.assertNoPods(t)
}

// TestHealthySessionMakesNoHealthRequests: a pod that runs before healthWatchDelay costs no
// request on leases, nodes or events.
func TestHealthySessionMakesNoHealthRequests(t *testing.T) {
	h := newHarness(t, creating, running)
	if _, err := h.session("true").Run(context.Background()); err != nil {
		t.Fatalf("Run: %v", err)
	}
	for _, a := range h.client.Actions() {
		// Creating events is the session's own record (event.go), not a health request.
		if r := a.GetResource().Resource; r == "leases" || r == "nodes" || r == "events" && a.GetVerb() != "create" {
			t.Errorf("a healthy session made a request on %s: %s", r, a.GetVerb())
		}
	}
}
