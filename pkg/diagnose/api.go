package diagnose

import (
	"errors"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/podspec"
)

// CreateProblem explains why the apiserver refused to create the session's pod.
func CreateProblem(err error, namespace, node string) *Problem {
	msg := err.Error()
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		msg = status.Status().Message
	}
	switch {
	case MissingServiceAccount(err):
		return &Problem{
			Cause:  fmt.Sprintf("namespace %s has no default ServiceAccount, so admission refuses every pod there", namespace),
			Fix:    "if the namespace is new, try again in a moment; otherwise kube-controller-manager, which creates it, is not running",
			Detail: msg, Err: err,
		}
	case apierrors.IsForbidden(err) && strings.Contains(msg, "PodSecurity"):
		return &Problem{
			Cause: fmt.Sprintf("Pod Security admission in namespace %s refuses privileged pods (%s)", namespace, podSecurityLevel(msg)),
			Fix: fmt.Sprintf("run sessions in node-shell's own namespace, which only node admins may use: -n %s (a cluster admin creates it once with kubectl node-shell setup)",
				podspec.DedicatedNamespace),
			Detail: msg, Err: err,
		}
	case apierrors.IsForbidden(err) && strings.Contains(msg, "ValidatingAdmissionPolicy '"):
		return &Problem{
			Cause:  fmt.Sprintf("an admission policy refused the pod in namespace %s: %s", namespace, condense(policyDenial(forbiddenReason(msg)))),
			Fix:    "give the pod what the policy asks with --label, --annotation or --overrides, or once per cluster in the config file (kubectl node-shell config set --help; docs/usage.md, \"Your cluster has policies\")",
			Detail: msg, Err: err,
		}
	case apierrors.IsForbidden(err) && strings.Contains(msg, "admission webhook"):
		return &Problem{
			Cause:  fmt.Sprintf("an admission webhook refused the pod in namespace %s: %s", namespace, condense(forbiddenReason(msg))),
			Fix:    fmt.Sprintf("run sessions in node-shell's own namespace (-n %s, made by kubectl node-shell setup); if the policy refuses it there too, ask the policy's owner to exempt that namespace for the node admins' users or groups, never a label", podspec.DedicatedNamespace),
			Detail: msg, Err: err,
		}
	case apierrors.IsForbidden(err) && strings.Contains(msg, "exceeded quota"):
		return &Problem{
			Cause:  fmt.Sprintf("a ResourceQuota in namespace %s refuses another pod: %s", namespace, condense(forbiddenReason(msg))),
			Fix:    "use another namespace (-n) or raise the quota",
			Detail: msg, Err: err,
		}
	case apierrors.IsForbidden(err):
		return &Problem{
			Cause:  fmt.Sprintf("you may not create pods in namespace %s: %s", namespace, condense(forbiddenReason(msg))),
			Fix:    "ask your cluster admin for the node-shell Role in " + RBACDocs + ", or use a namespace where you have it (-n)",
			Detail: msg, Err: err,
		}
	case apierrors.IsNotFound(err):
		return &Problem{
			Cause:  fmt.Sprintf("namespace %s does not exist", namespace),
			Fix:    "pass an existing namespace with -n",
			Detail: msg, Err: err,
		}
	case apierrors.IsUnauthorized(err):
		return &Problem{
			Cause:  "the cluster does not accept your credentials (401 Unauthorized)",
			Fix:    "log in again or check --kubeconfig/--context",
			Detail: msg, Err: err,
		}
	case apierrors.IsInvalid(err):
		return &Problem{
			Cause:  fmt.Sprintf("the cluster rejected the pod for node %s as invalid: %s", node, condense(msg)),
			Fix:    "check --image, --image-pull-secret and the node name",
			Detail: msg, Err: err,
		}
	}
	return &Problem{
		Cause:  fmt.Sprintf("could not create the node-shell pod in namespace %s: %s", namespace, condense(msg)),
		Fix:    "check that the cluster is reachable (kubectl get --raw /readyz)",
		Detail: msg, Err: err,
	}
}

// forbiddenReason drops the `pods "x" is forbidden: ` that starts a Forbidden message: the
// cause already says what was refused.
// policyDenial is "policy NAME: MESSAGE" for a ValidatingAdmissionPolicy's
// "ValidatingAdmissionPolicy 'NAME' with binding 'B' denied request: MESSAGE".
func policyDenial(msg string) string {
	const prefix, marker = "ValidatingAdmissionPolicy '", " denied request: "
	i, j := strings.Index(msg, prefix), strings.Index(msg, marker)
	if i < 0 || j < i {
		return msg
	}
	name, _, _ := strings.Cut(msg[i+len(prefix):], "'")
	return "policy " + name + ": " + msg[j+len(marker):]
}

func forbiddenReason(msg string) string {
	const marker = " is forbidden: "
	if i := strings.Index(msg, marker); i >= 0 {
		return msg[i+len(marker):]
	}
	return msg
}

// podSecurityLevel extracts `restricted:latest` from a PodSecurity message.
func podSecurityLevel(msg string) string {
	const marker = `violates PodSecurity "`
	i := strings.Index(msg, marker)
	if i < 0 {
		return "policy violation"
	}
	rest := msg[i+len(marker):]
	if j := strings.IndexByte(rest, '"'); j >= 0 {
		return "enforce=" + rest[:j]
	}
	return "policy violation"
}

// RequestProblem explains a failed read-only request (preflight, node lookups) when the
// failure is about the connection or the credentials, not the object; nil otherwise.
func RequestProblem(err error, server string) *Problem {
	var status apierrors.APIStatus
	switch {
	case apierrors.IsUnauthorized(err):
		return &Problem{
			Cause:  "the cluster does not accept your credentials (401 Unauthorized)",
			Fix:    "log in again or check --kubeconfig/--context",
			Detail: err.Error(), Err: err,
		}
	case !errors.As(err, &status):
		return Unreachable(server, err)
	}
	return nil
}

// ExecProblem explains an exec into the session's pod that failed or broke off: the
// session's own stream, not the remote command (whose exit status passes through).
func ExecProblem(err error, namespace, pod, node string) *Problem {
	msg := err.Error()
	switch {
	case apierrors.IsForbidden(err) || strings.Contains(msg, "Forbidden"):
		p := MissingAccess(namespace, []Permission{{Verb: "create", Resource: "pods/exec", Namespace: namespace}})
		p.Detail, p.Err = msg, err
		return p
	case kubeletHop(msg) && strings.Contains(msg, "x509: "):
		return &Problem{
			Cause: fmt.Sprintf("the apiserver rejects the serving certificate of the kubelet on node %s (%s): the kubelet's certificate is at fault, not your credentials",
				node, x509Reason(msg)),
			Fix:    fmt.Sprintf("renew the kubelet's serving certificate on node %s through %s (or approve its pending CSR: kubectl get csr), signed by the CA the apiserver trusts (--kubelet-certificate-authority) and naming the node's address", node, nodeConsole),
			Detail: msg, Err: err,
		}
	case kubeletHop(msg) && strings.Contains(msg, "remote error: tls: "):
		return &Problem{
			Cause: fmt.Sprintf("the kubelet on node %s refuses the apiserver's client certificate (%s): a certificate between the apiserver and the kubelet is at fault, not your credentials",
				node, condense(msg[strings.Index(msg, "remote error: tls: "):])),
			Fix:    "the kubelet's client CA (authentication.x509.clientCAFile) must trust the apiserver's --kubelet-client-certificate; fix it through " + nodeConsole,
			Detail: msg, Err: err,
		}
	case kubeletHop(msg):
		return &Problem{
			Cause:  fmt.Sprintf("the apiserver cannot reach the kubelet on node %s to exec: %s", node, condense(msg)),
			Fix:    "the kubelet's port (10250) must be reachable from the control plane; check the node's firewall and the kubelet",
			Detail: msg, Err: err,
		}
	}
	return &Problem{
		Cause:  fmt.Sprintf("the session's connection to pod %s/%s on node %s broke: %s", namespace, pod, node, condense(msg)),
		Fix:    "try again; a proxy or load balancer in front of the apiserver may cut long or idle connections",
		Detail: msg, Err: err,
	}
}

// kubeletHop reports an error of the apiserver's connection to a kubelet (exec, logs and
// port-forward go through it), as opposed to the client's own connection to the apiserver:
// the apiserver's "Internal error occurred: error sending request: Post https://NODE:10250/exec/…".
func kubeletHop(msg string) bool {
	return strings.Contains(msg, "error dialing backend") || strings.Contains(msg, ":10250") ||
		strings.Contains(msg, "Internal error occurred: error sending request")
}

// x509Reason keeps what Go's verifier says is wrong with a certificate: "x509: certificate
// has expired or is not yet valid: …", "x509: certificate signed by unknown authority".
func x509Reason(msg string) string {
	return condense(msg[strings.Index(msg, "x509: "):])
}

// KubeconfigProblem explains a kubeconfig that cannot be used; no request has been sent.
func KubeconfigProblem(err error) *Problem {
	return &Problem{
		Cause: "cannot use the kubeconfig: " + condense(err.Error()),
		Fix:   "check --kubeconfig, $KUBECONFIG and --context (kubectl config get-contexts)",
		Err:   err,
	}
}

// MissingServiceAccount reports a create refused because the namespace has no default
// ServiceAccount (yet): the ServiceAccount admission plugin's "error looking up service account".
func MissingServiceAccount(err error) bool {
	return apierrors.IsForbidden(err) && strings.Contains(err.Error(), "error looking up service account")
}
