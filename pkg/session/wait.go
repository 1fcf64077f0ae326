package session

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/crash"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/diagnose"
)

// waitRunning watches the pod from the version the create returned (one request, no list,
// no polling) until its container runs, and fails as soon as the pod's state says it never
// will. The watch resumes from the last version seen if the connection drops. If the pod
// is slow to run, the node's health is watched too (watchNodeHealth).
func (s *Session) waitRunning(ctx context.Context, pod *corev1.Pod) error {
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, s.PodRunningTimeout)
	defer cancel()
	ctx, giveUp := context.WithCancelCause(ctx)
	defer giveUp(nil)
	var seen atomic.Bool
	if s.PickupTimeout > 0 {
		crash.Go(func() { s.superviseKubelet(ctx, giveUp, pod.Spec.NodeName, &seen) }, s.crashed)
	}
	delay := healthWatchDelay
	crash.Go(func() { s.watchNodeHealth(ctx, giveUp, pod, delay) }, s.crashed)
	s.Reporter.Progress(progressOf(pod))
	pods := s.Client.CoreV1().Pods(pod.Namespace)
	selector := fields.OneTermEqualSelector("metadata.name", pod.Name).String()
	lw := &cache.ListWatch{
		WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
			opts.FieldSelector = selector
			return pods.Watch(ctx, opts)
		},
	}
	last := pod
	_, err := watchtools.Until(ctx, pod.ResourceVersion, lw, func(ev watch.Event) (bool, error) {
		switch ev.Type {
		case watch.Deleted:
			return false, diagnose.Deleted(pod)
		case watch.Error:
			return false, &diagnose.Problem{
				Cause: fmt.Sprintf("the apiserver ended the watch on pod %s/%s: %v", pod.Namespace, pod.Name, apierrors.FromObject(ev.Object)),
				Fix:   "try again; if it persists, check the apiserver (kubectl get --raw /readyz)",
			}
		}
		p, ok := ev.Object.(*corev1.Pod)
		if !ok {
			return false, nil
		}
		last = p
		if kubeletSeen(p) {
			seen.Store(true)
		}
		if problem := diagnose.PodProblem(p); problem != nil {
			return false, problem
		}
		s.Reporter.Progress(progressOf(p))
		return containerRunning(p), nil
	})
	switch {
	case err == nil:
		return nil
	case parent.Err() != nil:
		return context.Cause(parent)
	case errors.As(context.Cause(ctx), new(*diagnose.Problem)):
		return context.Cause(ctx)
	case ctx.Err() != nil:
		return diagnose.Stuck(last, s.PodRunningTimeout.String())
	}
	return err
}

func containerRunning(pod *corev1.Pod) bool {
	if pod.Status.Phase != corev1.PodRunning {
		return false
	}
	for _, cs := range pod.Status.ContainerStatuses {
		if cs.State.Running != nil {
			return true
		}
	}
	return false
}

// progressOf says in a few words what a starting pod waits for.
func progressOf(pod *corev1.Pod) string {
	node := pod.Spec.NodeName
	for _, cs := range pod.Status.ContainerStatuses {
		if w := cs.State.Waiting; w != nil && w.Reason != "" {
			if w.Reason == "ContainerCreating" {
				return fmt.Sprintf("starting container on node %s (pulling %s if needed)", node, cs.Image)
			}
			return fmt.Sprintf("waiting on node %s: %s", node, w.Reason)
		}
	}
	if !kubeletSeen(pod) {
		return "waiting for the kubelet on node " + node
	}
	return fmt.Sprintf("pod %s on node %s", pod.Status.Phase, node)
}
