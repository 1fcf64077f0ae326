package cmd

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/clustersetup"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/diagnose"
)

// namespaceLookupTimeout bounds the one GET that looks for the dedicated namespace.
const namespaceLookupTimeout = 10 * time.Second

// chooseNamespace sends the session to the namespace `kubectl node-shell setup` made, when
// the user named none with -n and it exists with setup's label; the kubeconfig context's
// namespace does not count as naming one, since it is usually chosen for workloads. It runs
// before preflight, which checks access where the pod will go, and costs one GET (timed in
// docs/usage.md). Outside the dedicated namespace, it says once that others may take the
// session over there.
func (o *NodeShellOptions) chooseNamespace(ctx context.Context, r *reporter) error {
	if !o.namespaceFlagSet() && o.namespace != clustersetup.Namespace {
		dedicated, err := o.dedicatedNamespaceExists(ctx)
		if err != nil {
			return err
		}
		if dedicated {
			o.namespace = clustersetup.Namespace
		}
	}
	if o.namespace != clustersetup.Namespace && !o.Quiet {
		r.Warning(sharedNamespaceNotice(o.namespace))
	}
	return nil
}

// namespaceFlagSet reports whether -n/--namespace was given (non-empty) for the session pod;
// with a pod target it names the target's namespace instead (see completePodTarget).
func (o *NodeShellOptions) namespaceFlagSet() bool {
	return o.TargetPod == "" && o.configFlags.Namespace != nil && *o.configFlags.Namespace != ""
}

// dedicatedNamespaceExists looks the dedicated namespace up. Not there, or not visible to
// this user (Forbidden: not a node admin of setup's), it is not used. A cluster that cannot
// be reached is reported at once, instead of again by preflight after a second timeout.
func (o *NodeShellOptions) dedicatedNamespaceExists(ctx context.Context) (bool, error) {
	getCtx, cancel := context.WithTimeout(ctx, namespaceLookupTimeout)
	defer cancel()
	ns, err := o.client.CoreV1().Namespaces().Get(getCtx, clustersetup.Namespace, metav1.GetOptions{})
	switch {
	case err == nil:
		return clustersetup.IsDedicated(ns), nil
	case ctx.Err() != nil:
		return false, context.Cause(ctx)
	case apierrors.IsNotFound(err), apierrors.IsForbidden(err):
		return false, nil
	}
	if p := diagnose.RequestProblem(err, o.restConfig.Host); p != nil {
		return false, p
	}
	return false, nil // another answer from the cluster: preflight will hear it too
}

// sharedNamespaceNotice says what a session outside the dedicated namespace risks, and the
// fix, which makes access narrower, never wider.
func sharedNamespaceNotice(namespace string) string {
	return fmt.Sprintf("anyone who may exec into, attach to or patch pods in namespace %s can take over this root session; a cluster admin can run kubectl node-shell setup once to make namespace %s, which only node admins can enter and where sessions then go by default",
		namespace, clustersetup.Namespace)
}
