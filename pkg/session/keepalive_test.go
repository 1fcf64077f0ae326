package session

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	utilexec "k8s.io/client-go/util/exec"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/podspec"
)

// patches returns the bodies of the pod patches the client sent, decoded.
func patches(t *testing.T, c *fake.Clientset) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, a := range c.Actions() {
		if p, ok := a.(k8stesting.PatchAction); ok && a.GetResource().Resource == "pods" {
			var body map[string]any
			if err := json.Unmarshal(p.GetPatch(), &body); err != nil {
				t.Fatal(err)
			}
			out = append(out, body)
		}
	}
	return out
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestHeartbeatRenewsEveryInterval(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default", UID: "uid-1"}}
	client := fake.NewClientset(pod.DeepCopy())
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	fc := clocktesting.NewFakeClock(start)
	h := &heartbeat{client: client, pod: pod, interval: 15 * time.Second, timeout: time.Minute, clock: fc, reporter: &recordingReporter{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); h.run(ctx) }()

	// One renewal per interval, and none in between.
	for i := 1; i <= 3; i++ {
		waitFor(t, "the timer", fc.HasWaiters)
		fc.Step(14 * time.Second)
		time.Sleep(20 * time.Millisecond)
		if n := len(patches(t, client)); n != i-1 {
			t.Fatalf("%d patches after %d intervals less a second, want %d", n, i, i-1)
		}
		fc.Step(time.Second)
		waitFor(t, "a renewal", func() bool { return len(patches(t, client)) == i })
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the heartbeat still runs 5s after its context ended")
	}

	want := []map[string]any{
		{"metadata": map[string]any{"uid": "uid-1", "annotations": map[string]any{podspec.AnnotationHeartbeat: "2026-03-01T12:00:15.000Z"}}},
		{"metadata": map[string]any{"uid": "uid-1", "annotations": map[string]any{podspec.AnnotationHeartbeat: "2026-03-01T12:00:30.000Z"}}},
		{"metadata": map[string]any{"uid": "uid-1", "annotations": map[string]any{podspec.AnnotationHeartbeat: "2026-03-01T12:00:45.000Z"}}},
	}
	if diff := cmp.Diff(want, patches(t, client)); diff != "" {
		t.Errorf("patches (-want +got):\n%s", diff)
	}
	for _, a := range client.Actions() {
		if p, ok := a.(k8stesting.PatchActionImpl); ok {
			if fm := p.GetPatchOptions().FieldManager; fm != podspec.FieldManager {
				t.Errorf("heartbeat patch with field manager %q, want %q (cleanup judges liveness by its managedFields time)", fm, podspec.FieldManager)
			}
		}
	}
}

func TestHeartbeatStopsWhenThePodIsGoneAndWarnsOnceWhenFailing(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default", UID: "uid-1"}}
	client := fake.NewClientset()
	calls := 0
	client.PrependReactor("patch", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		calls++
		if calls <= 3 {
			return true, nil, errors.New("connection refused")
		}
		return true, nil, apierrors.NewNotFound(schema.GroupResource{Resource: "pods"}, "p")
	})
	fc := clocktesting.NewFakeClock(time.Now())
	rep := &recordingReporter{}
	h := &heartbeat{client: client, pod: pod, interval: time.Second, timeout: 4 * time.Second, clock: fc, reporter: rep}
	done := make(chan struct{})
	go func() { defer close(done); h.run(context.Background()) }()
	deadline := time.After(5 * time.Second) // made once: a timer made in the loop would never fire
	for {
		select {
		case <-done:
			if calls != 4 {
				t.Errorf("%d renewals, want 4 (3 failures, then NotFound ends it)", calls)
			}
			if len(rep.warnings) != 1 || !strings.Contains(rep.warnings[0], "if this lasts 4s, the pod stops itself") {
				t.Errorf("warnings = %q, want one about failing renewals", rep.warnings)
			}
			return
		case <-deadline:
			t.Fatal("heartbeat still running after the pod was gone")
		default:
			if fc.HasWaiters() {
				fc.Step(time.Second)
			}
			time.Sleep(time.Millisecond)
		}
	}
}

func TestRunWritesTheAuditTrailAndArmsTheWatchdog(t *testing.T) {
	h := newHarness(t, running)
	h.client.PrependReactor("create", "selfsubjectreviews", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, &authenticationv1.SelfSubjectReview{Status: authenticationv1.SelfSubjectReviewStatus{
			UserInfo: authenticationv1.UserInfo{Username: "alice"}}}, nil
	})
	s := h.session("sh", "-c", "echo 'SECRET there'")
	s.Origin = Origin{User: "alice", ClientHost: "laptop-7", Version: "v1.2.3"}
	s.Pod.HeartbeatTimeout = 20 * time.Second
	if _, err := s.Run(context.Background()); err != nil {
		t.Fatalf("Run: %v", err)
	}
	var created *corev1.Pod
	for _, a := range h.client.Actions() {
		if c, ok := a.(k8stesting.CreateAction); ok && a.GetResource().Resource == "pods" {
			created = c.GetObject().(*corev1.Pod)
		}
	}
	got := created.Annotations
	if _, err := podspec.ParseHeartbeat(got[podspec.AnnotationHeartbeat]); err != nil {
		t.Errorf("first heartbeat %q: %v", got[podspec.AnnotationHeartbeat], err)
	}
	if _, err := time.Parse(time.RFC3339, got[podspec.AnnotationStartedAt]); err != nil {
		t.Errorf("started-at %q: %v", got[podspec.AnnotationStartedAt], err)
	}
	want := map[string]string{
		podspec.AnnotationCommand: "sh [arguments not recorded]", podspec.AnnotationClientHost: "laptop-7",
		podspec.AnnotationVersion: "v1.2.3", podspec.AnnotationHeartbeatTimeout: "20s",
		podspec.AnnotationUser: "alice",
	}
	for k, v := range got {
		if strings.Contains(v, "SECRET") {
			t.Errorf("annotation %s = %q holds the command's arguments", k, v)
		}
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("annotation %s = %q, want %q", k, got[k], v)
		}
	}
	if cmd := created.Spec.Containers[0].Command; cmd[len(cmd)-1] != "20" {
		t.Errorf("watchdog command %q, want a 20s timeout", cmd)
	}
	h.assertNoPods(t)
}

func TestRunSweepsLeftoversBesideTheSession(t *testing.T) {
	h := newHarness(t, running)
	// The harness replays the states for every pod of the namespace: make room for four.
	h.watcher = watch.NewFakeWithChanSize(8, false)
	leftover, err := podspec.Build(podspec.Spec{Node: "node-2", Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	leftover.Name, leftover.UID, leftover.ResourceVersion = leftover.GenerateName+"old", "uid-old", "3"
	leftover.Status = corev1.PodStatus{Phase: corev1.PodSucceeded}
	foreign := leftover.DeepCopy()
	foreign.Name, foreign.UID, foreign.Labels = "web", "uid-web", map[string]string{"app": "web"}
	// A StatefulSet's pod that wears our label and has stopped: not ours, never touched.
	lookalike := leftover.DeepCopy()
	lookalike.Name, lookalike.UID = "db-0", "uid-db"
	lookalike.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "db"}}
	for _, p := range []*corev1.Pod{leftover, foreign, lookalike} {
		if err := h.client.Tracker().Add(p); err != nil {
			t.Fatal(err)
		}
	}
	s := h.session("true")
	s.SweepLeftovers = true
	if _, err := s.Run(context.Background()); err != nil {
		t.Fatalf("Run: %v", err)
	}
	pods, _ := h.client.CoreV1().Pods("").List(context.Background(), metav1.ListOptions{})
	var left []string
	for _, p := range pods.Items {
		left = append(left, p.Name)
	}
	if diff := cmp.Diff([]string{"db-0", "web"}, left); diff != "" {
		t.Errorf("pods left (-want +got):\n%s", diff)
	}
	h.reporter.mu.Lock()
	defer h.reporter.mu.Unlock()
	want := "removed 1 leftover node-shell pod(s) in namespace default: node-shell-node-2-old on node node-2 (pod succeeded)"
	if len(h.reporter.warnings) != 1 || h.reporter.warnings[0] != want {
		t.Errorf("warnings = %q, want the one line %q", h.reporter.warnings, want)
	}
}

func TestSignalDuringCreateStillDeletesThePod(t *testing.T) {
	h := newHarness(t, running)
	ctx, cancel := context.WithCancelCause(context.Background())
	cause := errors.New("interrupted by terminated")
	h.client.PrependReactor("create", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		cancel(cause) // the signal arrives while the create is in flight
		return false, nil, nil
	})
	_, err := h.session("true").Run(ctx)
	if !errors.Is(err, cause) {
		t.Fatalf("Run error = %v, want the signal", err)
	}
	if h.creates != 1 {
		t.Errorf("%d pods created, want 1", h.creates)
	}
	if len(h.exec.reqs) != 0 {
		t.Errorf("exec ran after the signal")
	}
	h.assertNoPods(t)
}

func TestDeleteRetriesUntilTheAPIServerIsBack(t *testing.T) {
	h := newHarness(t, running)
	failures := 0
	h.client.PrependReactor("delete", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		if failures < 2 {
			failures++
			return true, nil, errors.New("dial tcp 127.0.0.1:6443: connect: connection refused")
		}
		return false, nil, nil
	})
	if _, err := h.session("true").Run(context.Background()); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if len(h.reporter.warnings) != 1 || !strings.Contains(h.reporter.warnings[0], "retrying for up to 30s") {
		t.Errorf("warnings = %q, want one retry notice and no failure", h.reporter.warnings)
	}
	h.assertNoPods(t)
}

func TestDeleteRefusedIsNotRetried(t *testing.T) {
	h := newHarness(t, running)
	deletes := 0
	h.client.PrependReactor("delete", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		deletes++
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "x", errors.New("RBAC"))
	})
	if _, err := h.session("true").Run(context.Background()); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if deletes != 1 || len(h.reporter.warnings) != 1 || !strings.Contains(h.reporter.warnings[0], "remove it with: kubectl delete pod") {
		t.Errorf("%d deletes, warnings %q; want 1 delete and the command to run", deletes, h.reporter.warnings)
	}
}

func TestQuoteCommand(t *testing.T) {
	tests := []struct {
		argv []string
		max  int
		want string
	}{
		{nil, 100, ""},
		{[]string{"journalctl", "-u", "kubelet", "-n", "50"}, 100, "journalctl -u kubelet -n 50"},
		{[]string{"sh", "-c", "echo $HOME; ls"}, 100, `sh -c 'echo $HOME; ls'`},
		{[]string{"echo", "it's"}, 100, `echo 'it'\''s'`},
		{[]string{"echo", ""}, 100, `echo ''`},
		{[]string{"echo", "ééééé"}, 11, "echo 'é…"},
	}
	for _, tc := range tests {
		if got := quoteCommand(tc.argv, tc.max); got != tc.want {
			t.Errorf("quoteCommand(%q, %d) = %q, want %q", tc.argv, tc.max, got, tc.want)
		}
	}
}

func TestRunExplainsAPodThatStoppedUnderTheSession(t *testing.T) {
	tests := []struct {
		name   string
		status corev1.PodStatus
		want   string
	}{
		{"maximum lifetime", corev1.PodStatus{Phase: corev1.PodFailed, Reason: "DeadlineExceeded"},
			"the pod reached its maximum lifetime (1h0m0s) and the kubelet stopped it"},
		{"watchdog", corev1.PodStatus{Phase: corev1.PodSucceeded, ContainerStatuses: []corev1.ContainerStatus{{
			Name: podspec.ContainerName, State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
				Message: podspec.WatchdogExpiredMessage + " from the client for 45s; stopping"}}}}},
			"the pod stopped itself: its heartbeat was not renewed for 45s"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, running)
			h.exec.err = utilexec.CodeExitError{Err: errors.New("killed"), Code: 137}
			h.client.PrependReactor("get", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
				return true, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: a.(k8stesting.GetAction).GetName()}, Status: tc.status}, nil
			})
			s := h.session("sleep", "3600")
			s.Pod.MaxLifetime = time.Hour
			if code, err := s.Run(context.Background()); code != 137 || err != nil {
				t.Fatalf("Run = %d, %v; want 137, nil", code, err)
			}
			if len(h.reporter.warnings) != 1 || !strings.Contains(h.reporter.warnings[0], tc.want) {
				t.Errorf("warnings = %q, want one containing %q", h.reporter.warnings, tc.want)
			}
		})
	}
}
