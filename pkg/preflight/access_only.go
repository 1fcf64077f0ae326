package preflight

import (
	"context"

	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/diagnose"
)

// Access checks only attrs, in parallel, for a command that acts on no node (agent
// install): nil, or a *diagnose.Problem naming every missing permission (namespace is where
// the namespaced ones apply) or why the cluster could not be asked.
func Access(ctx context.Context, client kubernetes.Interface, namespace, server string, attrs []authorizationv1.ResourceAttributes) error {
	res := checkAccess(ctx, client, attrs)
	if err := ctx.Err(); err != nil {
		return context.Cause(ctx)
	}
	if res.err != nil {
		if p := diagnose.RequestProblem(res.err, server); p != nil {
			return p
		}
		return res.err
	}
	if len(res.missing) > 0 {
		return diagnose.MissingAccess(namespace, res.missing)
	}
	return nil
}
