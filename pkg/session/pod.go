package session

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/diagnose"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/podspec"
)

// createPod creates pod. A cluster that refuses the priority class to this namespace
// (a ResourceQuota scoped to system-node-critical, or an old Priority admission rule) gets
// the pod without it: a shell that can be evicted beats no shell.
//
// A signal does not cut the create short: had the apiserver made the pod, the client would
// not learn its name and could not delete it. The create is bounded by its own timeout.
func (s *Session) createPod(ctx context.Context, pod *corev1.Pod) (*corev1.Pod, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), createTimeout)
	defer cancel()
	created, err := s.createWaitingForServiceAccount(ctx, pod)
	if err != nil && pod.Spec.PriorityClassName != "" && rejectsPriority(err) {
		s.Reporter.Warning(fmt.Sprintf("priority class %s is not allowed in namespace %s; the pod runs without it and can be evicted under node pressure",
			pod.Spec.PriorityClassName, pod.Namespace))
		pod = pod.DeepCopy()
		pod.Spec.PriorityClassName = ""
		created, err = s.createWaitingForServiceAccount(ctx, pod)
	}
	if err != nil {
		return nil, diagnose.CreateProblem(err, pod.Namespace, pod.Spec.NodeName)
	}
	return created, nil
}

// Retries of a create refused because the namespace has no default ServiceAccount yet.
const (
	serviceAccountRetries       = 10
	serviceAccountRetryInterval = 500 * time.Millisecond
)

// createWaitingForServiceAccount creates pod. In a namespace made moments ago, admission
// refuses every pod until the controller manager adds the default ServiceAccount (about a
// second later); that refusal is retried for a few seconds instead of failing the session.
func (s *Session) createWaitingForServiceAccount(ctx context.Context, pod *corev1.Pod) (*corev1.Pod, error) {
	pods := s.Client.CoreV1().Pods(pod.Namespace)
	opts := metav1.CreateOptions{FieldManager: podspec.FieldManager}
	created, err := pods.Create(ctx, pod, opts)
	for i := 0; i < serviceAccountRetries && err != nil && diagnose.MissingServiceAccount(err); i++ {
		select {
		case <-s.Clock.After(serviceAccountRetryInterval):
		case <-ctx.Done():
			return nil, err
		}
		created, err = pods.Create(ctx, pod, opts)
	}
	return created, err
}

func rejectsPriority(err error) bool {
	return apierrors.IsForbidden(err) && strings.Contains(strings.ToLower(err.Error()), "priority")
}

// Bounds of single requests at the edges of a session.
const (
	createTimeout = 30 * time.Second
	// deleteAttemptTimeout bounds one delete; DeleteTimeout bounds all of them.
	deleteAttemptTimeout = 10 * time.Second
	// The delete's retries back off from the first to the last delay.
	deleteFirstBackoff = 250 * time.Millisecond
	deleteMaxBackoff   = 4 * time.Second
)

// deletePod deletes the session's pod (its own grace period is 0, so at once), guarded by its UID so a
// pod that someone else created under the same name is never touched. It runs on its own
// context: the session's may already be cancelled by a signal. When the apiserver cannot
// be reached (it restarts, the network dropped), it retries with backoff for DeleteTimeout,
// says so once, and in the end tells the user the command to run and when the pod's
// watchdog stops the container anyway.
func (s *Session) deletePod(pod *corev1.Pod) error {
	deadline := s.Clock.Now().Add(s.DeleteTimeout)
	backoff := deleteFirstBackoff
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), min(deleteAttemptTimeout, deadline.Sub(s.Clock.Now())))
		err := s.Client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
			Preconditions: &metav1.Preconditions{UID: &pod.UID},
		})
		cancel()
		switch {
		case err == nil, apierrors.IsNotFound(err):
			return nil
		case apierrors.IsConflict(err):
			// The UID precondition failed: the name now belongs to another pod, ours is gone.
			return nil
		}
		left := deadline.Sub(s.Clock.Now())
		if !retriable(err) || left < backoff {
			return fmt.Errorf("could not delete pod %s/%s: %v; remove it with: kubectl delete pod -n %s %s (without a heartbeat, its container stops by itself within %s)",
				pod.Namespace, pod.Name, err, pod.Namespace, pod.Name, s.spec.HeartbeatTimeout)
		}
		if attempt == 1 {
			s.Reporter.Warning(fmt.Sprintf("cannot reach the cluster to delete pod %s/%s (%v); retrying for up to %s",
				pod.Namespace, pod.Name, err, left.Round(time.Second)))
		}
		s.Clock.Sleep(backoff)
		backoff = min(2*backoff, deleteMaxBackoff)
	}
}

// retriable tells a delete that may succeed later (no connection, a timeout, the
// apiserver overloaded or starting) from one refused for good.
func retriable(err error) bool {
	switch {
	case apierrors.IsForbidden(err), apierrors.IsUnauthorized(err), apierrors.IsBadRequest(err),
		apierrors.IsInvalid(err), apierrors.IsMethodNotSupported(err):
		return false
	}
	return true
}

// stoppedBy explains a session that ended because its pod stopped under it: the kubelet
// enforced the maximum lifetime, or the watchdog gave up on the heartbeat. It costs a GET or
// a few (the pod's status lags the kill by a moment), made only after an abnormal end; ""
// when the pod shows neither.
func (s *Session) stoppedBy(pod *corev1.Pod) string {
	for i := 0; i < 4; i++ {
		if i > 0 {
			s.Clock.Sleep(750 * time.Millisecond)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		p, err := s.Client.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
		cancel()
		if err != nil {
			return ""
		}
		if p.Status.Reason == "DeadlineExceeded" {
			return fmt.Sprintf("the pod reached its maximum lifetime (%s) and the kubelet stopped it; pass a larger --max-lifetime for longer sessions",
				s.spec.MaxLifetime)
		}
		running := false
		for _, cs := range p.Status.ContainerStatuses {
			if t := cs.State.Terminated; t != nil {
				if strings.HasPrefix(t.Message, podspec.WatchdogExpiredMessage) {
					return fmt.Sprintf("the pod stopped itself: its heartbeat was not renewed for %s; raise --heartbeat-timeout on a slow connection",
						s.spec.HeartbeatTimeout)
				}
				return ""
			}
			running = running || cs.State.Running != nil
		}
		if !running {
			return ""
		}
	}
	return ""
}

// mergeAnnotations is a new map with the annotations of all maps, later ones winning.
func mergeAnnotations(maps ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range maps {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}
