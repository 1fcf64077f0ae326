package session

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	utilexec "k8s.io/client-go/util/exec"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/crash"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/diagnose"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/podspec"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/sessionlog"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/stream"
)

type fakeExecutor struct {
	mu   sync.Mutex
	reqs []stream.Request
	err  error
	// before, when set, runs first: a test's stand-in for a command that takes a while.
	before func()
	// untilCancelled makes Exec return only when its context ends, as a stream cut by it.
	untilCancelled bool
}

func (f *fakeExecutor) Exec(ctx context.Context, req stream.Request) error {
	if f.before != nil {
		f.before()
	}
	if f.untilCancelled {
		<-ctx.Done()
		return errors.New("stream cut")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reqs = append(f.reqs, req)
	return f.err
}

type recordingReporter struct {
	mu       sync.Mutex
	warnings []string
}

func (r *recordingReporter) Progress(string) {}
func (r *recordingReporter) Warning(msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.warnings = append(r.warnings, msg)
}

// harness is a fake cluster: creates get a name, UID and resourceVersion like the real
// apiserver gives them, and the watch replays the pod states a test scripts.
type harness struct {
	client   *fake.Clientset
	exec     *fakeExecutor
	reporter *recordingReporter
	watcher  *watch.FakeWatcher
	creates  int
}

func newHarness(t *testing.T, states ...func(*corev1.Pod)) *harness {
	t.Helper()
	h := &harness{client: fake.NewClientset(), exec: &fakeExecutor{}, reporter: &recordingReporter{}}
	h.watcher = watch.NewFakeWithChanSize(len(states)+1, false)
	h.client.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		h.creates++
		pod := a.(k8stesting.CreateAction).GetObject().(*corev1.Pod)
		pod.Name = pod.GenerateName + "abcde"
		pod.UID = types.UID("uid-1")
		pod.ResourceVersion = "10"
		return false, nil, nil // fall through to the tracker, which stores the pod
	})
	h.client.PrependWatchReactor("pods", func(k8stesting.Action) (bool, watch.Interface, error) {
		pods, _ := h.client.Tracker().List(schema.GroupVersionResource{Version: "v1", Resource: "pods"},
			schema.GroupVersionKind{Version: "v1", Kind: "Pod"}, "default")
		for _, item := range pods.(*corev1.PodList).Items {
			for _, state := range states {
				p := item.DeepCopy()
				state(p)
				h.watcher.Modify(p)
			}
		}
		return true, h.watcher, nil
	})
	return h
}

// testRun is one session as cmd runs it: Start, Exec, Close.
type testRun struct {
	*Session
	Pod     podspec.Spec
	Command []string
	Streams Streams
}

func (h *harness) session(cmd ...string) *testRun {
	return &testRun{
		Session: &Session{Client: h.client, Executor: h.exec, Reporter: h.reporter},
		Pod:     podspec.Spec{Node: "node-1", Namespace: "default", PriorityClassName: podspec.CriticalPriorityClass},
		Command: cmd,
		Streams: Streams{Out: &strings.Builder{}, ErrOut: &strings.Builder{}},
	}
}

func (r *testRun) Run(ctx context.Context) (int, error) {
	h, err := r.Start(ctx, Target{Pod: r.Pod, Command: r.Command}, podspec.Chroot{})
	if err != nil {
		return 0, err
	}
	defer h.Close()
	return h.Exec(ctx, ExecRequest{Command: r.Command, Terminal: r.Streams.Terminal()})
}

// assertNoPods fails unless every pod was deleted, and with the UID precondition.
func (h *harness) assertNoPods(t *testing.T) {
	t.Helper()
	pods, err := h.client.CoreV1().Pods("").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(pods.Items) != 0 {
		t.Errorf("%d pod(s) left behind: %s", len(pods.Items), pods.Items[0].Name)
	}
	for _, a := range h.client.Actions() {
		if d, ok := a.(k8stesting.DeleteAction); ok {
			opts := d.GetDeleteOptions()
			if opts.Preconditions == nil || opts.Preconditions.UID == nil || *opts.Preconditions.UID != "uid-1" {
				t.Errorf("delete without the UID precondition: %+v", opts)
			}
			if opts.GracePeriodSeconds != nil {
				t.Errorf("delete overrides the pod's grace period with %d; the pod's own (0) must apply", *opts.GracePeriodSeconds)
			}
		}
	}
}

func running(p *corev1.Pod) {
	p.Status.Phase = corev1.PodRunning
	p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: podspec.ContainerName, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}
}

func creating(p *corev1.Pod) {
	p.Status.Phase = corev1.PodPending
	p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: podspec.ContainerName, Image: podspec.DefaultImage,
		State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}}}
}

func imagePullFailed(p *corev1.Pod) {
	p.Status.Phase = corev1.PodPending
	p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: podspec.ContainerName, Image: "example.com/nope:1",
		State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ErrImagePull",
			Message: `failed to pull and unpack image "example.com/nope:1": example.com/nope:1: not found`}}}}
}

func TestRunPassesExitStatusThrough(t *testing.T) {
	for _, status := range []int{0, 1, 7, 127} {
		h := newHarness(t, creating, running)
		if status != 0 {
			h.exec.err = utilexec.CodeExitError{Err: errors.New("exit"), Code: status}
		}
		got, err := h.session("cat", "/etc/hostname").Run(context.Background())
		if err != nil || got != status {
			t.Errorf("Run = %d, %v; want %d, nil", got, err, status)
		}
		if len(h.exec.reqs) != 1 {
			t.Fatalf("exec called %d times, want 1", len(h.exec.reqs))
		}
		want := stream.Request{Namespace: "default", Pod: "node-shell-node-1-abcde", Container: "shell",
			Command: []string{"chroot", "/host", "cat", "/etc/hostname"}}
		got0 := h.exec.reqs[0]
		got0.Stdout, got0.Stderr = nil, nil
		inner, rec, ok := sessionlog.Unwrap(got0.Command)
		if !ok || rec.Node != "node-1" || rec.Command != "cat /etc/hostname" || rec.Mode != "chroot" || rec.Agent {
			t.Fatalf("exec argv %q: want the entry's argv in the node's session log wrapper, with the record of a chroot pod session", got0.Command)
		}
		got0.Command = inner
		if diff := cmp.Diff(want, got0); diff != "" {
			t.Errorf("exec request (-want +got):\n%s", diff)
		}
		h.assertNoPods(t)
	}
}

func TestRunFailsFastAndCleansUp(t *testing.T) {
	tests := []struct {
		name    string
		states  []func(*corev1.Pod)
		timeout time.Duration
		wantErr string
	}{
		{"image cannot be pulled", []func(*corev1.Pod){creating, imagePullFailed}, time.Minute, `cannot pull image "example.com/nope:1" (ErrImagePull: not found)`},
		{"pod failed at admission", []func(*corev1.Pod){func(p *corev1.Pod) {
			p.Status.Phase, p.Status.Reason = corev1.PodFailed, "OutOfpods"
		}}, time.Minute, "is at its pod limit"},
		{"pod deleted by someone else", []func(*corev1.Pod){func(p *corev1.Pod) {
			now := metav1.Now()
			p.DeletionTimestamp = &now
		}}, time.Minute, "was deleted while starting"},
		{"kubelet never picks it up", nil, 100 * time.Millisecond, "did not pick up the pod within 100ms"},
		{"stuck creating", []func(*corev1.Pod){creating}, 100 * time.Millisecond, "did not start within 100ms (container ContainerCreating"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, tc.states...)
			s := h.session("true")
			s.PodRunningTimeout = tc.timeout
			_, err := s.Run(context.Background())
			var p *diagnose.Problem
			if !errors.As(err, &p) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Run error = %v, want a diagnosed problem containing %q", err, tc.wantErr)
			}
			if len(h.exec.reqs) != 0 {
				t.Errorf("exec ran on a pod that never started")
			}
			h.assertNoPods(t)
		})
	}
}

func TestRunStreamErrorIsAFailureNotAStatus(t *testing.T) {
	h := newHarness(t, running)
	h.exec.err = errors.New("connection reset by peer")
	_, err := h.session("true").Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "connection reset by peer") {
		t.Fatalf("Run error = %v, want the stream error", err)
	}
	h.assertNoPods(t)
}

func TestRunCancelledReturnsCauseAndCleansUp(t *testing.T) {
	h := newHarness(t) // the pod never runs: the session waits until cancelled
	cause := errors.New("interrupted by terminated")
	ctx, cancel := context.WithCancelCause(context.Background())
	time.AfterFunc(50*time.Millisecond, func() { cancel(cause) })
	done := make(chan error, 1)
	go func() { _, err := h.session("true").Run(ctx); done <- err }()
	var err error
	select {
	case err = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run still waits 10s after it was cancelled")
	}
	if !errors.Is(err, cause) {
		t.Fatalf("Run error = %v, want the cancellation cause", err)
	}
	h.assertNoPods(t)
}

func TestRunWithoutPriorityWhenTheNamespaceRefusesIt(t *testing.T) {
	h := newHarness(t, running)
	h.client.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.(k8stesting.CreateAction).GetObject().(*corev1.Pod).Spec.PriorityClassName != "" {
			return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "",
				errors.New(`insufficient quota to match these scopes: [{PriorityClass In [system-node-critical]}]`))
		}
		return false, nil, nil
	})
	if _, err := h.session("true").Run(context.Background()); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if len(h.reporter.warnings) != 1 || !strings.Contains(h.reporter.warnings[0], "runs without it") {
		t.Errorf("warnings = %q, want one about the priority class", h.reporter.warnings)
	}
	h.assertNoPods(t)
}

// A namespace made moments ago refuses pods until its default ServiceAccount exists; the
// session waits for it instead of failing, and gives up with a diagnosis if it never comes.
func TestRunWaitsForTheDefaultServiceAccount(t *testing.T) {
	missingSA := apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "",
		errors.New(`error looking up service account default/default: serviceaccount "default" not found`))
	for _, refusals := range []int{3, serviceAccountRetries + 1} {
		h := newHarness(t, running)
		var attempts atomic.Int32
		h.client.PrependReactor("create", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
			if int(attempts.Add(1)) <= refusals {
				return true, nil, missingSA
			}
			return false, nil, nil
		})
		s := h.session("true")
		clk := clocktesting.NewFakeClock(time.Now())
		s.Clock = clk
		done := make(chan struct{})
		go func() { // time passes whenever the session waits
			for {
				select {
				case <-done:
					return
				case <-time.After(time.Millisecond):
					if clk.HasWaiters() {
						clk.Step(serviceAccountRetryInterval)
					}
				}
			}
		}()
		_, err := s.Run(context.Background())
		close(done)
		switch {
		case refusals <= serviceAccountRetries && err != nil:
			t.Errorf("%d refusals: Run = %v, want the session to wait them out", refusals, err)
		case refusals > serviceAccountRetries && (err == nil || !strings.Contains(err.Error(), "has no default ServiceAccount")):
			t.Errorf("%d refusals: Run = %v, want the missing ServiceAccount diagnosed", refusals, err)
		}
		if want := min(refusals, serviceAccountRetries+1); int(attempts.Load()) < want {
			t.Errorf("%d refusals: %d creates, want at least %d", refusals, attempts.Load(), want)
		}
		h.assertNoPods(t)
	}
}

func TestRunCreateRefusedByPodSecurity(t *testing.T) {
	h := newHarness(t)
	h.client.PrependReactor("create", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "x",
			errors.New(`violates PodSecurity "restricted:latest": host namespaces (hostNetwork=true, hostPID=true, hostIPC=true)`))
	})
	_, err := h.session("true").Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "Pod Security admission in namespace default refuses privileged pods (enforce=restricted:latest)") ||
		!strings.Contains(err.Error(), "-n node-shell") || strings.Contains(err.Error(), "kube-system") || strings.Contains(err.Error(), "enforce=privileged") {
		t.Fatalf("Run error = %v, want the Pod Security diagnosis with its fix", err)
	}
	if h.creates != 0 {
		t.Errorf("the refused create reached the tracker")
	}
}

func TestDeleteOfARecreatedPodIsRefused(t *testing.T) {
	h := newHarness(t, running)
	h.client.PrependReactor("delete", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewConflict(schema.GroupResource{Resource: "pods"}, "x", errors.New("precondition failed: UID in precondition"))
	})
	if _, err := h.session("true").Run(context.Background()); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if len(h.reporter.warnings) != 0 {
		t.Errorf("warnings = %q: a UID conflict means our pod is already gone", h.reporter.warnings)
	}
}

func TestDeleteFailureIsReportedWithTheCommandToRun(t *testing.T) {
	h := newHarness(t, running)
	h.client.PrependReactor("delete", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New("connection refused")
	})
	s := h.session("true")
	s.DeleteTimeout = time.Second // retried with backoff until then
	if _, err := s.Run(context.Background()); err != nil {
		t.Fatalf("Run: %v", err)
	}
	w := h.reporter.warnings
	if len(w) != 2 || !strings.Contains(w[0], "retrying for up to 1s") ||
		!strings.Contains(w[1], "kubectl delete pod -n default node-shell-node-1-abcde (without a heartbeat, its container stops by itself within 45s)") {
		t.Errorf("warnings = %q, want the retry notice, then the delete command and the self-expiry bound", w)
	}
}

func TestPanicInTheHeartbeatEndsTheSessionAndDeletesThePod(t *testing.T) {
	h := newHarness(t, running)
	h.client.PrependReactor("patch", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		panic("heartbeat bug")
	})
	h.exec.untilCancelled = true
	s := h.session("sleep", "60")
	s.Pod.HeartbeatTimeout = 40 * time.Millisecond // a renewal every 10 ms
	done := make(chan error, 1)
	go func() { _, err := s.Run(context.Background()); done <- err }()
	select {
	case err := <-done:
		var crashErr *crash.Error
		if !errors.As(err, &crashErr) || !strings.Contains(err.Error(), "heartbeat bug") {
			t.Fatalf("Run error = %v, want the heartbeat's panic as a *crash.Error", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the session went on after its heartbeat panicked")
	}
	h.assertNoPods(t)
}

// TestHandleRunsSeveralActionsAndClosesOnce: a held session runs one action after another
// on the same pod, and Close deletes it once however often it is called.
func TestHandleRunsSeveralActionsAndClosesOnce(t *testing.T) {
	h := newHarness(t, running)
	r := h.session()
	handle, err := r.Start(context.Background(), Target{Pod: r.Pod, Command: []string{"uptime"}}, podspec.Nsenter{})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	for _, cmd := range [][]string{{"uptime"}, {"dmesg"}} {
		if code, err := handle.Exec(context.Background(), ExecRequest{Command: cmd, Terminal: r.Streams.Terminal()}); code != 0 || err != nil {
			t.Fatalf("Exec %v = %d, %v", cmd, code, err)
		}
	}
	if err := errors.Join(handle.Close(), handle.Close()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if len(h.exec.reqs) != 2 || h.exec.reqs[0].Pod != handle.Pod().Name || h.exec.reqs[1].Pod != handle.Pod().Name {
		t.Fatalf("exec requests %+v, want two on pod %s", h.exec.reqs, handle.Pod().Name)
	}
	first, rec0, _ := sessionlog.Unwrap(h.exec.reqs[0].Command)
	got, rec1, ok := sessionlog.Unwrap(h.exec.reqs[1].Command)
	if !ok || first == nil || rec0.ID == rec1.ID {
		t.Fatalf("exec argvs %q, %q: want each in the session log wrapper, with IDs of their own", h.exec.reqs[0].Command, h.exec.reqs[1].Command)
	}
	if got[0] != "sh" || got[len(got)-1] != "dmesg" {
		t.Errorf("second exec argv %q, want the nsenter entry's argv for dmesg", got)
	}
	deletes := 0
	for _, a := range h.client.Actions() {
		if a.Matches("delete", "pods") {
			deletes++
		}
	}
	if deletes != 1 {
		t.Errorf("%d deletes, want 1", deletes)
	}
	h.assertNoPods(t)
}
