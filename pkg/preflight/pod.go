package preflight

import (
	"context"
	"fmt"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/diagnose"
)

// PodTarget names the pod a session enters from its node.
type PodTarget struct {
	Namespace, Name string
}

// RunPod is Run for a session aimed at pod p: the access reviews (t.Access, which should
// include get pods in p's namespace) and the pod's GET in parallel, then the GET of the node
// the pod is bound to, since only the pod names it. t.Node is ignored.
func RunPod(ctx context.Context, client kubernetes.Interface, t Target, p PodTarget) (*corev1.Pod, *corev1.Node, error) {
	var (
		wg     sync.WaitGroup
		access accessResult
		pod    *corev1.Pod
		podErr error
	)
	wg.Go(func() { access = checkAccess(ctx, client, t.Access) })
	wg.Go(func() { pod, podErr = client.CoreV1().Pods(p.Namespace).Get(ctx, p.Name, metav1.GetOptions{}) })
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, nil, context.Cause(ctx)
	}
	for _, err := range []error{access.err, podErr} {
		if err != nil {
			if prob := diagnose.RequestProblem(err, t.Server); prob != nil {
				return nil, nil, prob
			}
		}
	}
	if len(access.missing) > 0 {
		return nil, nil, missingPodAccess(t.Namespace, p.Namespace, access.missing)
	}
	switch {
	case apierrors.IsNotFound(podErr):
		return nil, nil, &diagnose.Problem{
			Cause: fmt.Sprintf("pod %s/%s not found", p.Namespace, p.Name),
			Fix:   fmt.Sprintf("list the pods with kubectl get pods -n %s (-n names the target pod's namespace)", p.Namespace), Err: podErr}
	case apierrors.IsForbidden(podErr):
		return nil, nil, diagnose.MissingAccess(p.Namespace, []diagnose.Permission{{Verb: "get", Resource: "pods", Namespace: p.Namespace}})
	case podErr != nil:
		return nil, nil, &diagnose.Problem{Cause: fmt.Sprintf("could not get pod %s/%s: %s", p.Namespace, p.Name, podErr), Fix: "retry in a moment", Err: podErr}
	case pod.Spec.NodeName == "":
		return pod, nil, nil // not scheduled: the caller's judgement of the pod says so
	}
	node, err := lookupNode(ctx, client, pod.Spec.NodeName)
	if err != nil {
		if prob := diagnose.RequestProblem(err, t.Server); prob != nil {
			return nil, nil, prob
		}
		return nil, nil, nodeProblem(ctx, client, pod.Spec.NodeName, err)
	}
	return pod, node, nil
}

// missingPodAccess is MissingAccess for a session in namespace whose target pod is in
// target: each permission is named with its own namespace.
func missingPodAccess(namespace, target string, missing []diagnose.Permission) *diagnose.Problem {
	var inTarget, rest []diagnose.Permission
	for _, m := range missing {
		if m.Namespace == target && target != namespace {
			inTarget = append(inTarget, m)
		} else {
			rest = append(rest, m)
		}
	}
	switch {
	case len(inTarget) == 0:
		return diagnose.MissingAccess(namespace, rest)
	case len(rest) == 0:
		return diagnose.MissingAccess(target, inTarget)
	}
	prob := diagnose.MissingAccess(namespace, rest)
	prob.Cause += " and " + strings.TrimPrefix(diagnose.MissingAccess(target, inTarget).Cause, "you are not allowed to ")
	return prob
}
