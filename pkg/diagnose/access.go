package diagnose

import (
	"fmt"
	"strings"
)

// RBACDocs is where the least-privilege Role and ClusterRole for node-shell are documented.
const RBACDocs = "https://github.com/kubectl-node-shell/kubectl-node-shell/blob/main/docs/rbac.md"

// Permission is one thing the user was found not to be allowed to do, in the words of
// `kubectl auth can-i`: Verb on Resource (with "/subresource"), in Namespace ("" for a
// cluster-scoped resource). Reason is the authorizer's explanation, often empty.
type Permission struct {
	Verb      string
	Resource  string
	Namespace string
	Reason    string
}

func (p Permission) String() string { return p.Verb + " " + p.Resource }

// MissingAccess explains that the user lacks permissions a session needs. It names every
// missing one at once, so a user asks their admin one time, not once per failure.
func MissingAccess(namespace string, missing []Permission) *Problem {
	var inNS, cluster, reasons []string
	for _, p := range missing {
		if p.Namespace == "" {
			cluster = append(cluster, p.String())
		} else {
			inNS = append(inNS, p.String())
		}
		if p.Reason != "" {
			reasons = append(reasons, p.String()+": "+p.Reason)
		}
	}
	var parts []string
	if len(inNS) > 0 {
		parts = append(parts, strings.Join(inNS, ", ")+" in namespace "+namespace)
	}
	if len(cluster) > 0 {
		parts = append(parts, strings.Join(cluster, ", ")+" (cluster-wide)")
	}
	fix := "ask your cluster admin for the node-shell Role and ClusterRole in " + RBACDocs
	if len(inNS) > 0 {
		fix += ", or use a namespace where you have them (-n)"
	}
	return &Problem{
		Cause:  "you are not allowed to " + strings.Join(parts, " and "),
		Fix:    fix,
		Detail: strings.Join(reasons, "; "),
	}
}

// Unreachable explains a request that got no answer from the cluster at all.
func Unreachable(server string, err error) *Problem {
	return &Problem{
		Cause:  fmt.Sprintf("cannot reach the cluster at %s: %s", server, condense(rootCause(err))),
		Fix:    "check --context/--kubeconfig and that the apiserver is up (kubectl get --raw /readyz)",
		Detail: err.Error(),
		Err:    err,
	}
}

// rootCause drops the "Get \"https://…\": " prefix Go's HTTP client puts before a dial error.
func rootCause(err error) string {
	msg := err.Error()
	if i := strings.LastIndex(msg, "\": "); i >= 0 {
		return msg[i+3:]
	}
	return msg
}
