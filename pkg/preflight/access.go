package preflight

import (
	"context"
	"sync"

	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/diagnose"
)

// accessResult is what the reviews found: the permissions denied, or the error that kept
// them from finding out.
type accessResult struct {
	missing []diagnose.Permission
	err     error
}

// checkAccess asks the apiserver, one SelfSubjectAccessReview per attribute and all at
// once, whether the user may make each request. The review goes through the same
// authorizer chain (RBAC, webhooks, Node) as the requests themselves, so its answer is
// authoritative. A cluster that will not answer (reviews forbidden or not served) is not
// a reason to stop: the requests themselves will say.
func checkAccess(ctx context.Context, client kubernetes.Interface, attrs []authorizationv1.ResourceAttributes) accessResult {
	type answer struct {
		allowed bool
		reason  string
		err     error
	}
	answers := make([]answer, len(attrs))
	var wg sync.WaitGroup
	for i, a := range attrs {
		wg.Go(func() {
			review := &authorizationv1.SelfSubjectAccessReview{
				Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &a},
			}
			got, err := client.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, review, metav1.CreateOptions{})
			if err != nil {
				answers[i] = answer{err: err}
				return
			}
			reason := got.Status.Reason
			if got.Status.EvaluationError != "" {
				reason = joinNonEmpty(reason, got.Status.EvaluationError)
			}
			answers[i] = answer{allowed: got.Status.Allowed, reason: reason}
		})
	}
	wg.Wait()

	var res accessResult
	for i, ans := range answers {
		switch {
		case ans.err != nil && (apierrors.IsForbidden(ans.err) || apierrors.IsNotFound(ans.err) || apierrors.IsMethodNotSupported(ans.err)):
			return accessResult{} // no reviews here: skip the check
		case ans.err != nil:
			return accessResult{err: ans.err}
		case !ans.allowed:
			res.missing = append(res.missing, permission(attrs[i], ans.reason))
		}
	}
	return res
}

func permission(a authorizationv1.ResourceAttributes, reason string) diagnose.Permission {
	resource := a.Resource
	if a.Subresource != "" {
		resource += "/" + a.Subresource
	}
	if a.Group != "" {
		resource += "." + a.Group
	}
	return diagnose.Permission{Verb: a.Verb, Resource: resource, Namespace: a.Namespace, Reason: reason}
}

func joinNonEmpty(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "; " + b
}
