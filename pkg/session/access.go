package session

import (
	authorizationv1 "k8s.io/api/authorization/v1"
)

// Action is something run on a started session (ExecRequest; port-forward and copy next).
// It declares the requests it makes, so preflight checks exactly what a run needs.
type Action interface {
	RequiredAccess(namespace string) []authorizationv1.ResourceAttributes
}

// RequiredAccess is every request a session with these actions makes, as authorization
// attributes: the lifecycle's (StartAccess) and each action's, once each. Preflight asks
// the apiserver about each before the pod is created, so a user who lacks one learns it at
// once instead of after the pod is up (TestRequiredAccessCoversRun checks the list).
func RequiredAccess(namespace string, actions ...Action) []authorizationv1.ResourceAttributes {
	all := StartAccess(namespace)
	seen := map[authorizationv1.ResourceAttributes]bool{}
	for _, a := range all {
		seen[a] = true
	}
	for _, action := range actions {
		for _, a := range action.RequiredAccess(namespace) {
			if !seen[a] {
				seen[a] = true
				all = append(all, a)
			}
		}
	}
	return all
}

// StartAccess is what Start and Close need. It must list exactly what they call; when
// the lifecycle makes a new kind of request, add it here.
//
// The verbs, and who needs them:
//   - create, watch, delete pods: createPod, waitRunning (a watch from the create's
//     resourceVersion, no list or get), deletePod;
//   - patch pods: the heartbeat (keepalive.go), without which the pod's watchdog stops
//     the container mid-session;
//   - get nodes: preflight's node lookup, and the pickup check in waitRunning.
//
// Not listed, because a session goes on without them: the SelfSubjectReview that names
// the user in the audit annotations (every authenticated user may make one), and the
// sweep of leftover pods (list pods), which is best effort, and the watches on the node's
// Lease, the node and the pod's events (nodewatch.go), which only make a failure faster.
func StartAccess(namespace string) []authorizationv1.ResourceAttributes {
	pods := func(verb string) authorizationv1.ResourceAttributes {
		return authorizationv1.ResourceAttributes{Namespace: namespace, Verb: verb, Resource: "pods"}
	}
	return []authorizationv1.ResourceAttributes{
		pods("create"),
		pods("watch"),
		pods("delete"),
		pods("patch"),
		{Verb: "get", Resource: "nodes"},
	}
}
