package localcluster

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// BindDaemonSetPods stands in for the scheduler the local cluster does not run (its tests'
// pods name their node): until ctx ends it binds each unscheduled pod in namespace that
// matches selector and whose required node affinity names exactly one node by
// metadata.name, as the DaemonSet controller writes them, to that node. It returns once the
// watch is open.
func BindDaemonSetPods(ctx context.Context, client kubernetes.Interface, namespace, selector string) error {
	w, err := client.CoreV1().Pods(namespace).Watch(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return err
	}
	go func() {
		defer w.Stop()
		for ev := range w.ResultChan() {
			p, ok := ev.Object.(*corev1.Pod)
			if !ok || p.Spec.NodeName != "" || p.DeletionTimestamp != nil {
				continue
			}
			if node := affinityNode(p); node != "" {
				_ = client.CoreV1().Pods(namespace).Bind(ctx, &corev1.Binding{
					ObjectMeta: metav1.ObjectMeta{Name: p.Name, UID: p.UID},
					Target:     corev1.ObjectReference{Kind: "Node", Name: node},
				}, metav1.CreateOptions{})
			}
		}
	}()
	return nil
}

// affinityNode is the one node a DaemonSet pod's required node affinity names, or "".
func affinityNode(p *corev1.Pod) string {
	if p.Spec.Affinity == nil || p.Spec.Affinity.NodeAffinity == nil {
		return ""
	}
	req := p.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution
	if req == nil || len(req.NodeSelectorTerms) != 1 || len(req.NodeSelectorTerms[0].MatchFields) != 1 {
		return ""
	}
	f := req.NodeSelectorTerms[0].MatchFields[0]
	if f.Key != "metadata.name" || f.Operator != corev1.NodeSelectorOpIn || len(f.Values) != 1 {
		return ""
	}
	return f.Values[0]
}
