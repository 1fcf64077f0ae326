package preflight

import (
	"context"
	"fmt"
	"sort"
	"sync"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/pager"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/diagnose"
)

// Selection is which nodes a fleet runs on: the named ones, or those a label selector
// matches (All with no selector: every node).
type Selection struct {
	Names    []string
	Selector string
	All      bool
}

// FleetTarget is what a fleet is about to do: the requests each session makes, where,
// and on which nodes.
type FleetTarget struct {
	Namespace string
	Access    []authorizationv1.ResourceAttributes
	Server    string
	Nodes     Selection
	// Parallel bounds the node GETs in flight for named nodes.
	Parallel int
}

// Selected is one node of a fleet: the node, or why it cannot be used (a name the
// cluster does not know), which fails that node alone.
type Selected struct {
	Name string
	Node *corev1.Node
	Err  error
}

// nodeListPageSize keeps one page of a big cluster's nodes (tens of KiB each) to a few MiB.
const nodeListPageSize = 250

// Fleet checks access once for the whole fleet and resolves its nodes, in parallel: one
// round of reviews and one list (a selector) or one GET per named node. Errors that stop
// every node (no connection, missing permissions, a selector that matches nothing) come
// back as a *diagnose.Problem, in Run's order; a named node that does not exist is that
// node's failure only.
func Fleet(ctx context.Context, client kubernetes.Interface, t FleetTarget) ([]Selected, error) {
	var (
		wg       sync.WaitGroup
		access   accessResult
		selected []Selected
		nodesErr error
	)
	wg.Go(func() { access = checkAccess(ctx, client, t.Access) })
	wg.Go(func() {
		if len(t.Nodes.Names) > 0 {
			selected, nodesErr = getNodes(ctx, client, t.Nodes.Names, t.Parallel)
		} else {
			selected, nodesErr = listNodes(ctx, client, t.Nodes.Selector)
		}
	})
	wg.Wait()

	if err := ctx.Err(); err != nil {
		return nil, context.Cause(ctx)
	}
	for _, err := range []error{access.err, nodesErr} {
		if err != nil {
			if p := diagnose.RequestProblem(err, t.Server); p != nil {
				return nil, p
			}
		}
	}
	if len(access.missing) > 0 {
		return nil, diagnose.MissingAccess(t.Namespace, access.missing)
	}
	switch {
	case apierrors.IsForbidden(nodesErr) && len(t.Nodes.Names) > 0:
		return nil, diagnose.MissingAccess("", []diagnose.Permission{{Verb: "get", Resource: "nodes"}})
	case apierrors.IsForbidden(nodesErr):
		return nil, diagnose.MissingAccess("", []diagnose.Permission{{Verb: "list", Resource: "nodes"}})
	case nodesErr != nil:
		return nil, &diagnose.Problem{
			Cause:  fmt.Sprintf("could not look up the nodes: %s", nodesErr),
			Fix:    "check that the cluster is healthy (kubectl get --raw /readyz)",
			Detail: nodesErr.Error(), Err: nodesErr,
		}
	case len(selected) == 0 && t.Nodes.Selector != "":
		return nil, &diagnose.Problem{
			Cause: fmt.Sprintf("no node matches -l %s", t.Nodes.Selector),
			Fix:   fmt.Sprintf("check the labels with: kubectl get nodes -l '%s'", t.Nodes.Selector),
		}
	case len(selected) == 0:
		return nil, &diagnose.Problem{Cause: "the cluster has no nodes", Fix: "check the cluster with: kubectl get nodes"}
	}
	return selected, nil
}

// getNodes gets each named node, parallel at a time, in the order given (once each). A
// node that is not found is that node's failure; any other error is the fleet's.
func getNodes(ctx context.Context, client kubernetes.Interface, names []string, parallel int) ([]Selected, error) {
	var unique []string
	seen := map[string]bool{}
	for _, n := range names {
		if !seen[n] {
			seen[n] = true
			unique = append(unique, n)
		}
	}
	out := make([]Selected, len(unique))
	errs := make([]error, len(unique))
	slots := make(chan struct{}, max(parallel, 1))
	var wg sync.WaitGroup
	for i, name := range unique {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			node, err := lookupNode(ctx, client, name)
			out[i] = Selected{Name: name, Node: node}
			switch {
			case apierrors.IsNotFound(err):
				out[i] = Selected{Name: name, Err: diagnose.NodeNotFound(name, nil)}
			case err != nil:
				errs[i] = err
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// listNodes lists the nodes selector matches, page by page, sorted by name.
func listNodes(ctx context.Context, client kubernetes.Interface, selector string) ([]Selected, error) {
	p := pager.New(func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
		return client.CoreV1().Nodes().List(ctx, opts)
	})
	p.PageSize = nodeListPageSize
	var out []Selected
	err := p.EachListItem(ctx, metav1.ListOptions{LabelSelector: selector}, func(obj runtime.Object) error {
		node := obj.(*corev1.Node)
		out = append(out, Selected{Name: node.Name, Node: node})
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, err
}
