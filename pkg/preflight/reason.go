package preflight

import (
	"context"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/clustersetup"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/diagnose"
)

// reasonLookupTimeout bounds the one GET of the node-shell namespace.
const reasonLookupTimeout = 10 * time.Second

// ReasonRequired reports whether the cluster asks every session for a reason: the namespace
// `kubectl node-shell setup --require-reason` made says so (clustersetup.RequiresReason).
// A namespace that is not there, or that this user may not read, requires nothing that the
// client can know of; a cluster that enforces it anyway does so by admission. One GET.
func ReasonRequired(ctx context.Context, client kubernetes.Interface, server string) (bool, error) {
	getCtx, cancel := context.WithTimeout(ctx, reasonLookupTimeout)
	defer cancel()
	ns, err := client.CoreV1().Namespaces().Get(getCtx, clustersetup.Namespace, metav1.GetOptions{})
	switch {
	case err == nil:
		return clustersetup.RequiresReason(ns), nil
	case ctx.Err() != nil:
		return false, context.Cause(ctx)
	case apierrors.IsNotFound(err), apierrors.IsForbidden(err):
		return false, nil
	}
	if p := diagnose.RequestProblem(err, server); p != nil {
		return false, p
	}
	return false, nil
}
