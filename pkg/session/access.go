package session

import (
	authorizationv1 "k8s.io/api/authorization/v1"
)

// RequiredAccess is every request a session makes, as authorization attributes: preflight
// asks the apiserver about each before the pod is created, so a user who lacks one learns
// it at once instead of after the pod is up. It must list exactly what Run calls; when the
// lifecycle makes a new kind of request, add it here (TestRequiredAccessCoversRun checks).
//
// The verbs, and who needs them:
//   - create, watch, delete pods: createPod, waitRunning (a watch from the create's
//     resourceVersion, no list or get), deletePod;
//   - patch pods: the heartbeat (keepalive.go), without which the pod's watchdog stops
//     the container mid-session;
//   - create pods/exec: the exec. The WebSocket upgrade is a GET, which apiservers up to
//     1.34 authorize as "get pods/exec"; when that is denied, the executor falls back to
//     SPDY, a POST, authorized as "create". So create is what every version needs; get
//     only saves the fallback's extra round trip (docs/rbac.md grants both);
//   - get nodes: preflight's node lookup, and the pickup check in waitRunning.
//
// Not listed, because a session goes on without them: the SelfSubjectReview that names
// the user in the audit annotations (every authenticated user may make one), and the
// sweep of leftover pods (list pods), which is best effort, and the watches on the node's
// Lease, the node and the pod's events (nodewatch.go), which only make a failure faster.
func RequiredAccess(namespace string) []authorizationv1.ResourceAttributes {
	pods := func(verb, sub string) authorizationv1.ResourceAttributes {
		return authorizationv1.ResourceAttributes{Namespace: namespace, Verb: verb, Resource: "pods", Subresource: sub}
	}
	return []authorizationv1.ResourceAttributes{
		pods("create", ""),
		pods("watch", ""),
		pods("delete", ""),
		pods("patch", ""),
		pods("create", "exec"),
		{Verb: "get", Resource: "nodes"},
	}
}
