package leftover

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/podspec"
)

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// ours is a running node-shell pod, as Build makes it, created 10 minutes ago with a 45s
// heartbeat timeout; the apiserver recorded its last heartbeat hbAgo ago (managedFields).
// Its heartbeat annotation holds a client clock three hours slow: it must never matter.
func ours(hbAgo time.Duration, mutate ...func(*corev1.Pod)) *corev1.Pod {
	p, err := podspec.Build(podspec.Spec{Node: "n1", Namespace: "default", Heartbeat: podspec.FormatHeartbeat(now.Add(-3 * time.Hour))})
	if err != nil {
		panic(err)
	}
	p.Name = p.GenerateName + "abcde"
	p.CreationTimestamp = metav1.NewTime(now.Add(-10 * time.Minute))
	p.ManagedFields = []metav1.ManagedFieldsEntry{
		{Manager: "kubelet", Operation: metav1.ManagedFieldsOperationUpdate, Subresource: "status", Time: ptrTime(now)},
		{Manager: podspec.FieldManager, Operation: metav1.ManagedFieldsOperationUpdate, Time: ptrTime(now.Add(-hbAgo))},
	}
	p.Status = corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{
		Name: podspec.ContainerName, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}},
	}}}
	for _, m := range mutate {
		m(p)
	}
	return p
}

func ptrTime(t time.Time) *metav1.Time {
	mt := metav1.NewTime(t.Truncate(time.Second)) // managedFields times have whole seconds
	return &mt
}

func terminated(message string, code int32) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Status.Phase = corev1.PodSucceeded
		if code != 0 {
			p.Status.Phase = corev1.PodFailed
		}
		p.Status.ContainerStatuses[0].State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
			ExitCode: code, Reason: map[bool]string{true: "Completed", false: "Error"}[code == 0], Message: message,
		}}
	}
}

func TestJudge(t *testing.T) {
	tests := []struct {
		name string
		pod  *corev1.Pod
		now  time.Time // zero: the package's now
		want Verdict
	}{
		{
			name: "running, heartbeat recorded a few seconds ago: alive",
			pod:  ours(8 * time.Second),
			want: Verdict{State: StateAlive, Reason: "heartbeat 8s ago"},
		},
		{
			name: "running, heartbeat older than the timeout but within the margin: alive",
			pod:  ours(45*time.Second + StaleMargin),
			want: Verdict{State: StateAlive, Reason: "heartbeat 1m0s ago"},
		},
		{
			name: "a heartbeat value written by a client clock hours off does not matter",
			pod: ours(5*time.Second, func(p *corev1.Pod) {
				p.Annotations[podspec.AnnotationHeartbeat] = podspec.FormatHeartbeat(now.Add(-200 * time.Second))
			}),
			want: Verdict{State: StateAlive, Reason: "heartbeat 5s ago"},
		},
		{
			name: "a heartbeat value far in the future does not keep a dead session alive",
			pod: ours(time.Hour, func(p *corev1.Pod) {
				p.Annotations[podspec.AnnotationHeartbeat] = podspec.FormatHeartbeat(now.Add(24 * time.Hour))
			}),
			want: Verdict{State: StateStale, Reason: "no heartbeat for 1h0m0s (timeout 45s)", Remove: true},
		},
		{
			name: "a huge heartbeat-timeout annotation claims nothing: the watchdog's 45s counts",
			pod: ours(time.Hour, func(p *corev1.Pod) {
				p.Annotations[podspec.AnnotationHeartbeatTimeout] = "8760h"
			}),
			want: Verdict{State: StateStale, Reason: "no heartbeat for 1h0m0s (timeout 45s)", Remove: true},
		},
		{
			name: "a record ahead of the server's clock is not believed: judged from creation",
			pod:  ours(-2 * time.Hour),
			want: Verdict{State: StateStale, Reason: "its recorded heartbeat is in the future; created 10m0s ago", Remove: true},
		},
		{
			name: "a record a few seconds ahead (HA apiservers' clocks): alive",
			pod:  ours(-10 * time.Second),
			want: Verdict{State: StateAlive, Reason: "heartbeat 0s ago"},
		},
		{
			name: "the apiserver's time unknown: a running pod is never judged stale",
			pod:  ours(time.Hour),
			now:  time.Time{}.Add(1), // replaced below by the zero time
			want: Verdict{State: StateAlive, Reason: "the apiserver's time is unknown, so the heartbeat's age is too"},
		},
		{
			name: "starting (pulling the image) with a fresh heartbeat: alive",
			pod: ours(2*time.Second, func(p *corev1.Pod) {
				p.Status = corev1.PodStatus{Phase: corev1.PodPending}
			}),
			want: Verdict{State: StateAlive, Reason: "heartbeat 2s ago"},
		},
		{
			name: "running, heartbeat beyond timeout and margin: stale, removable",
			pod:  ours(time.Hour),
			want: Verdict{State: StateStale, Reason: "no heartbeat for 1h0m0s (timeout 45s)", Remove: true},
		},
		{
			name: "the watchdog's own timeout counts: a 10m watchdog keeps a 5m-old heartbeat alive",
			pod: ours(5*time.Minute, func(p *corev1.Pod) {
				p.Spec.Containers[0].Command[4] = "600"
			}),
			want: Verdict{State: StateAlive, Reason: "heartbeat 5m0s ago"},
		},
		{
			name: "pending since long ago, client gone: stale",
			pod: ours(20*time.Minute, func(p *corev1.Pod) {
				p.Status = corev1.PodStatus{Phase: corev1.PodPending}
			}),
			want: Verdict{State: StateStale, Reason: "no heartbeat for 20m0s (timeout 45s)", Remove: true},
		},
		{
			name: "no write recorded for node-shell's field manager: judged from its creation time",
			pod: ours(0, func(p *corev1.Pod) {
				p.ManagedFields = p.ManagedFields[:1]
			}),
			want: Verdict{State: StateStale, Reason: "no heartbeat since it was created 10m0s ago", Remove: true},
		},
		{
			name: "stopped by its watchdog: expired, even with a fresh heartbeat",
			pod:  ours(time.Second, terminated(podspec.WatchdogExpiredMessage+" from the client for 45s; stopping", 0)),
			want: Verdict{State: StateExpired, Reason: "stopped by its watchdog: no heartbeat from the client", Remove: true},
		},
		{
			name: "reached activeDeadlineSeconds: expired",
			pod: ours(time.Second, terminated("", 137), func(p *corev1.Pod) {
				p.Status.Reason = "DeadlineExceeded"
			}),
			want: Verdict{State: StateExpired, Reason: "reached its maximum lifetime", Remove: true},
		},
		{
			name: "container killed (the node rebooted): expired",
			pod:  ours(time.Hour, terminated("", 137)),
			want: Verdict{State: StateExpired, Reason: "container exited (Error, code 137)", Remove: true},
		},
		{
			name: "failed phase without container status (evicted): expired",
			pod: ours(time.Second, func(p *corev1.Pod) {
				p.Status = corev1.PodStatus{Phase: corev1.PodFailed, Reason: "Evicted"}
			}),
			want: Verdict{State: StateExpired, Reason: "pod failed: Evicted", Remove: true},
		},
		{
			name: "container terminated while the phase still says running: expired",
			pod: ours(time.Second, terminated("", 0), func(p *corev1.Pod) {
				p.Status.Phase = corev1.PodRunning
			}),
			want: Verdict{State: StateExpired, Reason: "container exited (Completed, code 0)", Remove: true},
		},
		{
			name: "terminating: left to its kubelet, never forced",
			pod: ours(time.Second, func(p *corev1.Pod) {
				ts := metav1.NewTime(now.Add(-time.Hour))
				p.DeletionTimestamp = &ts
			}),
			want: Verdict{State: StateTerminating, Reason: "deletion pending since 2026-03-01T11:00:00Z"},
		},
		{
			name: "foreign: no label, even if expired",
			pod: ours(time.Hour, terminated("", 1), func(p *corev1.Pod) {
				p.Labels = nil
			}),
			want: Verdict{State: StateForeign, Reason: "not a node-shell pod: no app.kubernetes.io/managed-by=kubectl-node-shell label"},
		},
		{
			name: "foreign: managed by something else",
			pod: ours(time.Hour, func(p *corev1.Pod) {
				p.Labels[podspec.LabelManagedBy] = "kubectl-debug"
			}),
			want: Verdict{State: StateForeign, Reason: "not a node-shell pod: no app.kubernetes.io/managed-by=kubectl-node-shell label"},
		},
		{
			name: "foreign: a StatefulSet's pod wearing our label, stale by every measure",
			pod: ours(time.Hour, func(p *corev1.Pod) {
				p.Name = "db-0"
				p.OwnerReferences = []metav1.OwnerReference{{Kind: "StatefulSet", Name: "db"}}
				p.ManagedFields = nil
			}),
			want: Verdict{State: StateForeign, Reason: "not a node-shell pod: owned by StatefulSet/db"},
		},
		{
			name: "foreign: our label and name on a pod of another shape",
			pod: ours(time.Hour, func(p *corev1.Pod) {
				p.Spec.Containers[0].Command = []string{"sleep", "infinity"}
			}),
			want: Verdict{State: StateForeign, Reason: "not a node-shell pod: its container does not run node-shell's watchdog"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			at := now
			if !tc.now.IsZero() {
				at = time.Time{}
			}
			if diff := cmp.Diff(tc.want, Judge(tc.pod, at)); diff != "" {
				t.Errorf("Judge (-want +got):\n%s", diff)
			}
		})
	}
}
