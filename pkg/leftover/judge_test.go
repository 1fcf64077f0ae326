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

// ours is a running node-shell pod created 10 minutes ago with a 45s heartbeat timeout;
// its last heartbeat was hbAgo ago.
func ours(hbAgo time.Duration, mutate ...func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: "node-shell-n1-abcde", Namespace: "default",
			CreationTimestamp: metav1.NewTime(now.Add(-10 * time.Minute)),
			Labels:            map[string]string{podspec.LabelManagedBy: podspec.ManagedByValue},
			Annotations: map[string]string{
				podspec.AnnotationHeartbeat:        podspec.FormatHeartbeat(now.Add(-hbAgo)),
				podspec.AnnotationHeartbeatTimeout: "45s",
			},
		},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{
			Name: podspec.ContainerName, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}},
		}}},
	}
	for _, m := range mutate {
		m(p)
	}
	return p
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
		want Verdict
	}{
		{
			name: "running, heartbeat a few seconds old: alive",
			pod:  ours(8 * time.Second),
			want: Verdict{State: StateAlive, Reason: "heartbeat 8s ago"},
		},
		{
			name: "running, heartbeat older than the timeout but within the skew margin: alive",
			pod:  ours(45*time.Second + StaleMargin),
			want: Verdict{State: StateAlive, Reason: "heartbeat 2m45s ago"},
		},
		{
			name: "client clock ahead of ours: alive",
			pod:  ours(-30 * time.Second),
			want: Verdict{State: StateAlive, Reason: "heartbeat 0s ago"},
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
			name: "the pod's own timeout counts: a 10m timeout keeps a 5m-old heartbeat alive",
			pod: ours(5*time.Minute, func(p *corev1.Pod) {
				p.Annotations[podspec.AnnotationHeartbeatTimeout] = "10m0s"
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
			name: "no heartbeat annotation: judged from its creation time",
			pod: ours(0, func(p *corev1.Pod) {
				delete(p.Annotations, podspec.AnnotationHeartbeat)
			}),
			want: Verdict{State: StateStale, Reason: "no heartbeat since it was created 10m0s ago", Remove: true},
		},
		{
			name: "stopped by its watchdog: expired, even with a fresh-looking heartbeat",
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
			name: "terminating (its node is gone): removable",
			pod: ours(time.Second, func(p *corev1.Pod) {
				ts := metav1.NewTime(now.Add(-time.Hour))
				p.DeletionTimestamp = &ts
			}),
			want: Verdict{State: StateTerminating, Reason: "deletion pending since 2026-03-01T11:00:00Z", Remove: true},
		},
		{
			name: "foreign: no label, even if expired",
			pod: ours(time.Hour, terminated("", 1), func(p *corev1.Pod) {
				p.Labels = nil
			}),
			want: Verdict{State: StateForeign, Reason: "not created by node-shell"},
		},
		{
			name: "foreign: managed by something else",
			pod: ours(time.Hour, func(p *corev1.Pod) {
				p.Labels[podspec.LabelManagedBy] = "kubectl-debug"
			}),
			want: Verdict{State: StateForeign, Reason: "not created by node-shell"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, Judge(tc.pod, now)); diff != "" {
				t.Errorf("Judge (-want +got):\n%s", diff)
			}
		})
	}
}
