package agent

import (
	"context"
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/podspec"
)

// NotReady says why a node has no agent to take a session (none, or not ready yet).
type NotReady struct {
	Node   string
	Reason string
	// Pod is the node's agent pod that is not ready; nil when there is none.
	Pod *corev1.Pod
}

func (e *NotReady) Error() string {
	return fmt.Sprintf("node %s has no ready node-shell agent (%s)", e.Node, e.Reason)
}

// Find returns node's ready agent pod: one list of the agent's pods on that node (a field
// selector, so it costs the same on a large cluster). A *NotReady error says there is none
// ready; any other error is the list's.
func Find(ctx context.Context, client kubernetes.Interface, node string) (*corev1.Pod, error) {
	list, err := client.CoreV1().Pods(Namespace).List(ctx, metav1.ListOptions{
		LabelSelector: Selector,
		FieldSelector: fields.OneTermEqualSelector("spec.nodeName", node).String(),
	})
	if err != nil {
		return nil, err
	}
	reason := "no agent pod on it"
	var unready *corev1.Pod
	for i := range list.Items {
		p := &list.Items[i]
		if !podspec.IsAgent(p) || p.Spec.NodeName != node {
			continue
		}
		if Ready(p) {
			return p, nil
		}
		reason = fmt.Sprintf("pod %s is %s", p.Name, describe(p))
		unready = p
	}
	return nil, &NotReady{Node: node, Reason: reason, Pod: unready}
}

// describe is an agent pod's state in a few words.
func describe(p *corev1.Pod) string {
	if p.DeletionTimestamp != nil {
		return "being deleted"
	}
	for _, cs := range p.Status.ContainerStatuses {
		if w := cs.State.Waiting; w != nil && w.Reason != "" {
			return "waiting: " + w.Reason
		}
	}
	return "not ready (" + string(p.Status.Phase) + ")"
}

// NodeStatus is one node's line of `agent status`.
type NodeStatus struct {
	Node  string
	Pod   *corev1.Pod // nil: no agent pod on the node
	Ready bool
}

// Status pairs every node with its agent pod, in node order.
func Status(nodes []corev1.Node, pods []corev1.Pod) []NodeStatus {
	byNode := map[string]*corev1.Pod{}
	for i := range pods {
		p := &pods[i]
		if !podspec.IsAgent(p) {
			continue
		}
		// Of two (a rolling update), the ready one tells whether sessions get an agent.
		if old, ok := byNode[p.Spec.NodeName]; !ok || (!Ready(old) && Ready(p)) {
			byNode[p.Spec.NodeName] = p
		}
	}
	var out []NodeStatus
	for _, n := range nodes {
		p := byNode[n.Name]
		out = append(out, NodeStatus{Node: n.Name, Pod: p, Ready: p != nil && Ready(p)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Node < out[j].Node })
	return out
}
