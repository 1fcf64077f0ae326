package preflight

import (
	"context"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/diagnose"
)

// maxSuggestions bounds the node names offered for a mistyped one.
const maxSuggestions = 3

func lookupNode(ctx context.Context, client kubernetes.Interface, name string) (*corev1.Node, error) {
	return client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
}

// nodeProblem explains a failed node lookup. For a node that does not exist it lists the
// nodes to suggest the closest names; a user who may not list nodes just gets no
// suggestions.
func nodeProblem(ctx context.Context, client kubernetes.Interface, name string, err error) *diagnose.Problem {
	switch {
	case apierrors.IsNotFound(err):
		var names []string
		if list, listErr := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{}); listErr == nil {
			for _, n := range list.Items {
				names = append(names, n.Name)
			}
		}
		return diagnose.NodeNotFound(name, suggest(name, names))
	case apierrors.IsForbidden(err):
		return diagnose.MissingAccess("", []diagnose.Permission{{Verb: "get", Resource: "nodes"}})
	}
	return &diagnose.Problem{
		Cause:  fmt.Sprintf("could not look up node %s: %s", name, err),
		Fix:    "check that the cluster is healthy (kubectl get --raw /readyz)",
		Detail: err.Error(), Err: err,
	}
}

// suggest returns the names nearest to typed: those at the smallest edit distance, if it
// is small enough to be a typo, up to maxSuggestions and sorted. A name that starts with
// what was typed counts as one edit away, for a node typed without its domain.
func suggest(typed string, names []string) []string {
	limit := max(2, len(typed)/3)
	best := limit + 1
	var closest []string
	for _, n := range names {
		d := distance(typed, n)
		if strings.HasPrefix(n, typed) {
			d = min(d, 1)
		}
		switch {
		case d < best:
			best, closest = d, []string{n}
		case d == best:
			closest = append(closest, n)
		}
	}
	sort.Strings(closest)
	if len(closest) > maxSuggestions {
		closest = closest[:maxSuggestions]
	}
	return closest
}

// distance is the Levenshtein distance between a and b, in bytes (node names are ASCII).
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
