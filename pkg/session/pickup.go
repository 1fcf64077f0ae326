package session

import (
	"context"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/diagnose"
)

// DefaultPickupTimeout is how long a kubelet may take to report on a new pod before the
// session looks at the node. A healthy kubelet reports within a second or two; a busy one
// may take a few more.
const DefaultPickupTimeout = 12 * time.Second

// superviseKubelet fails a wait that is waiting for nothing: every PickupTimeout, as long
// as no kubelet status has arrived for the pod (seen is false), it gets the node, and if
// the node is not Ready it cancels ctx with the node's condition as the cause. A Ready
// node is given more time: its kubelet may just be slow, or the node's status not yet
// updated (the node controller waits 50 s before it marks a silent node NotReady), and
// the next check will tell. It costs no request when the kubelet reports in time.
func (s *Session) superviseKubelet(ctx context.Context, cancel context.CancelCauseFunc, node string, seen *atomic.Bool) {
	start := time.Now()
	ticker := time.NewTicker(s.PickupTimeout)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		if seen.Load() {
			return
		}
		n, err := s.Client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
		if err != nil || diagnose.Ready(n) {
			continue
		}
		if !seen.Load() {
			cancel(diagnose.KubeletAway(n, time.Since(start), time.Now()))
			return
		}
	}
}

// kubeletSeen reports whether the node's kubelet has written the pod's status. The
// apiserver creates a pod with phase Pending and nothing else; the kubelet's first status
// update adds the conditions, hostIP and startTime.
func kubeletSeen(pod *corev1.Pod) bool {
	return len(pod.Status.Conditions) > 0 || pod.Status.StartTime != nil || pod.Status.HostIP != "" ||
		len(pod.Status.ContainerStatuses) > 0 || (pod.Status.Phase != "" && pod.Status.Phase != corev1.PodPending)
}
