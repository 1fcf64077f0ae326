package session

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/diagnose"
)

// createPod creates pod. A cluster that refuses the priority class to this namespace
// (a ResourceQuota scoped to system-node-critical, or an old Priority admission rule) gets
// the pod without it: a shell that can be evicted beats no shell.
func (s *Session) createPod(ctx context.Context, pod *corev1.Pod) (*corev1.Pod, error) {
	pods := s.Client.CoreV1().Pods(pod.Namespace)
	created, err := pods.Create(ctx, pod, metav1.CreateOptions{})
	if err != nil && pod.Spec.PriorityClassName != "" && rejectsPriority(err) {
		s.Reporter.Warning(fmt.Sprintf("priority class %s is not allowed in namespace %s; the pod runs without it and can be evicted under node pressure",
			pod.Spec.PriorityClassName, pod.Namespace))
		pod = pod.DeepCopy()
		pod.Spec.PriorityClassName = ""
		created, err = pods.Create(ctx, pod, metav1.CreateOptions{})
	}
	if err != nil {
		return nil, diagnose.CreateProblem(err, pod.Namespace, pod.Spec.NodeName)
	}
	return created, nil
}

func rejectsPriority(err error) bool {
	return apierrors.IsForbidden(err) && strings.Contains(strings.ToLower(err.Error()), "priority")
}

// deletePod deletes the session's pod at once (grace period 0), guarded by its UID so a
// pod that someone else created under the same name is never touched. It runs on its own
// context: the session's may already be cancelled by a signal.
func (s *Session) deletePod(pod *corev1.Pod) error {
	ctx, cancel := context.WithTimeout(context.Background(), s.DeleteTimeout)
	defer cancel()
	err := s.Client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: ptr.To[int64](0),
		Preconditions:      &metav1.Preconditions{UID: &pod.UID},
	})
	switch {
	case err == nil, apierrors.IsNotFound(err):
		return nil
	case apierrors.IsConflict(err):
		// The UID precondition failed: the name now belongs to another pod, ours is gone.
		return nil
	default:
		return fmt.Errorf("could not delete pod %s/%s: %v; remove it with: kubectl delete pod -n %s %s",
			pod.Namespace, pod.Name, err, pod.Namespace, pod.Name)
	}
}
