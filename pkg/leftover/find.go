package leftover

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/podspec"
)

// listParallelism bounds the per-namespace lists when the user may not list across them.
const listParallelism = 8

// Found is what a search for node-shell pods saw.
type Found struct {
	Pods []corev1.Pod
	// Forbidden are the namespaces that refused a list, when a cluster-wide list was refused
	// and namespaces were searched one by one; they were skipped.
	Forbidden []string
	// OnlyIn is set when the user may list neither pods in all namespaces nor namespaces:
	// only this namespace was searched.
	OnlyIn string
}

// FindIn lists the node-shell pods of one namespace.
func FindIn(ctx context.Context, client kubernetes.Interface, namespace string) (Found, error) {
	pods, err := listOurs(ctx, client, namespace)
	if err != nil {
		return Found{}, fmt.Errorf("list node-shell pods in namespace %s: %w", namespace, err)
	}
	return Found{Pods: pods}, nil
}

// FindAll lists the node-shell pods of every namespace the user may list pods in: one
// cluster-wide list when allowed, else one list per namespace (skipping those that refuse),
// else, when even namespaces cannot be listed, the fallback namespace alone.
func FindAll(ctx context.Context, client kubernetes.Interface, fallback string) (Found, error) {
	pods, err := listOurs(ctx, client, metav1.NamespaceAll)
	if err == nil {
		return Found{Pods: pods}, nil
	}
	if !apierrors.IsForbidden(err) {
		return Found{}, fmt.Errorf("list node-shell pods in all namespaces: %w", err)
	}
	nsList, err := client.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	if apierrors.IsForbidden(err) {
		found, err := FindIn(ctx, client, fallback)
		found.OnlyIn = fallback
		return found, err
	}
	if err != nil {
		return Found{}, fmt.Errorf("list namespaces: %w", err)
	}
	var found Found
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	sem := make(chan struct{}, listParallelism)
	for _, ns := range nsList.Items {
		wg.Add(1)
		sem <- struct{}{}
		go func(ns string) {
			defer func() { <-sem; wg.Done() }()
			pods, err := listOurs(ctx, client, ns)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case apierrors.IsForbidden(err):
				found.Forbidden = append(found.Forbidden, ns)
			case err != nil && firstErr == nil:
				firstErr = fmt.Errorf("list node-shell pods in namespace %s: %w", ns, err)
			default:
				found.Pods = append(found.Pods, pods...)
			}
		}(ns.Name)
	}
	wg.Wait()
	sort.Strings(found.Forbidden)
	sortPods(found.Pods)
	return found, firstErr
}

func listOurs(ctx context.Context, client kubernetes.Interface, namespace string) ([]corev1.Pod, error) {
	list, err := client.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: podspec.ManagedBySelector})
	if err != nil {
		return nil, err
	}
	// The agent's pods carry our label but are no session's: list and gc leave them out.
	pods := list.Items[:0]
	for i := range list.Items {
		if !podspec.IsAgent(&list.Items[i]) {
			pods = append(pods, list.Items[i])
		}
	}
	sortPods(pods)
	return pods, nil
}

func sortPods(pods []corev1.Pod) {
	sort.Slice(pods, func(i, j int) bool {
		if pods[i].Namespace != pods[j].Namespace {
			return pods[i].Namespace < pods[j].Namespace
		}
		return pods[i].Name < pods[j].Name
	})
}

// ErrChanged says a pod changed after it was judged (a heartbeat came in, its status moved
// on): it was left alone, to be judged again next time.
var ErrChanged = errors.New("the pod changed since it was judged; left alone")

// Remove deletes exactly the version of pod that was judged: the UID and resourceVersion
// preconditions make the apiserver refuse if the name now belongs to another pod, or if the
// pod changed since (a late heartbeat). The pod's own grace period applies (node-shell's
// pods have 0): cleanup never forces a deletion. A pod already gone is not an error.
func Remove(ctx context.Context, client kubernetes.Interface, pod *corev1.Pod) error {
	err := client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
		Preconditions: &metav1.Preconditions{UID: &pod.UID, ResourceVersion: &pod.ResourceVersion},
	})
	switch {
	case err == nil, apierrors.IsNotFound(err):
		return nil
	case apierrors.IsConflict(err):
		return ErrChanged
	}
	return fmt.Errorf("delete pod %s/%s: %w", pod.Namespace, pod.Name, err)
}

// Removed is one pod a sweep deleted, and why.
type Removed struct {
	Pod     corev1.Pod
	Verdict Verdict
}

// Sweep removes the leftovers of one namespace: it is what a session start runs in the
// background, so it returns what it removed (for the caller to say) but never fails the
// session. now is the apiserver's clock, read after the list (see Judge).
func Sweep(ctx context.Context, client kubernetes.Interface, namespace string, now func() time.Time) []Removed {
	found, err := FindIn(ctx, client, namespace)
	if err != nil {
		return nil
	}
	at := now()
	var removed []Removed
	for i := range found.Pods {
		pod := &found.Pods[i]
		v := Judge(pod, at)
		if !v.Remove {
			continue
		}
		if Remove(ctx, client, pod) == nil {
			removed = append(removed, Removed{Pod: *pod, Verdict: v})
		}
	}
	return removed
}
