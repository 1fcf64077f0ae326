package clustersetup

import (
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/podspec"
)

// The policy's CEL. A session's pod names its creator in podspec.AnnotationUser, set at
// create; the policy holds the client to it and lets nobody else change the pod.
const (
	// creatorVar is the user the pod named before this request ("" on a create, or if none).
	creatorVar = `oldObject != null && has(oldObject.metadata.annotations) && "` + podspec.AnnotationUser + `" in oldObject.metadata.annotations ? oldObject.metadata.annotations["` + podspec.AnnotationUser + `"] : ""`
	// claimedVar is the user the pod names after this request.
	claimedVar = `object != null && has(object.metadata.annotations) && "` + podspec.AnnotationUser + `" in object.metadata.annotations ? object.metadata.annotations["` + podspec.AnnotationUser + `"] : ""`
)

// agentByItsController matches the DaemonSet controller's own writes of the node agent's
// pods (kubectl node-shell agent install): they name no creator, since the controller makes
// them, and are shared by every agent session. Anyone else's change to them is still
// refused, as to any pod that names no creator, so they are the controller's alone. The
// controller runs as its service account (--use-service-account-credentials) or as the
// controller manager.
const agentByItsController = `!(request.userInfo.username in ["system:serviceaccount:kube-system:daemon-set-controller", "system:kube-controller-manager"] && ` +
	`has(object.metadata.labels) && "` + podspec.LabelComponent + `" in object.metadata.labels && object.metadata.labels["` + podspec.LabelComponent + `"] == "` + podspec.ComponentAgent + `")`

// Policy is the ValidatingAdmissionPolicy that makes each session's pod its creator's alone:
//   - CREATE of a pod: its annotation kubectl-node-shell.io/user must be the authenticated
//     user, so the name on the pod is not a claim but a fact;
//   - UPDATE of a pod or of any of its subresources (ephemeralcontainers, resize, and any
//     added later) but status: only that user, and the annotation cannot change. So nobody
//     else may swap the image, add an ephemeral container, or rewrite the heartbeat.
//
// pods/status is left out: the kubelet and controllers write it. DELETE is left out: ending
// someone's session (gc, a stuck pod) is not taking it over. CONNECT (exec, attach) cannot be
// judged here: the apiserver hands a policy the PodExecOptions or PodAttachOptions as the
// object and no old object, so the pod's annotation is out of sight. Exec into a session is
// kept to the node admins by RBAC alone (docs/security.md).
func Policy() *admissionregistrationv1.ValidatingAdmissionPolicy {
	rule := func(op admissionregistrationv1.OperationType, resources ...string) admissionregistrationv1.NamedRuleWithOperations {
		return admissionregistrationv1.NamedRuleWithOperations{RuleWithOperations: admissionregistrationv1.RuleWithOperations{
			Operations: []admissionregistrationv1.OperationType{op},
			Rule: admissionregistrationv1.Rule{
				APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: resources,
			},
		}}
	}
	return &admissionregistrationv1.ValidatingAdmissionPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: admissionregistrationv1.SchemeGroupVersion.String(), Kind: "ValidatingAdmissionPolicy"},
		ObjectMeta: objectMeta(""),
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: ptr.To(admissionregistrationv1.Fail),
			MatchConstraints: &admissionregistrationv1.MatchResources{
				ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{
					rule(admissionregistrationv1.Create, "pods"),
					rule(admissionregistrationv1.Update, "pods", "pods/*"),
				},
			},
			MatchConditions: []admissionregistrationv1.MatchCondition{
				{Name: "not-status", Expression: `!has(request.subResource) || request.subResource != "status"`},
				{Name: "not-the-agent-by-its-controller", Expression: agentByItsController},
			},
			Variables: []admissionregistrationv1.Variable{
				{Name: "creator", Expression: creatorVar},
				{Name: "claimed", Expression: claimedVar},
			},
			Validations: []admissionregistrationv1.Validation{
				{
					Expression: `request.operation != "CREATE" || variables.claimed == request.userInfo.username`,
					MessageExpression: `"namespace " + request.namespace + " holds only node-shell sessions: a pod must carry the annotation ` +
						podspec.AnnotationUser + ` naming its creator, " + request.userInfo.username + ", as kubectl node-shell sets it"`,
					Reason: ptr.To(metav1.StatusReasonForbidden),
				},
				{
					Expression: `request.operation != "UPDATE" || (variables.creator != "" && variables.creator == request.userInfo.username)`,
					MessageExpression: `variables.creator == "" ? "this pod names no creator (annotation ` + podspec.AnnotationUser +
						`), so nobody may change it; delete it instead" : "only " + variables.creator + ", who started this session, may change its pod"`,
					Reason: ptr.To(metav1.StatusReasonForbidden),
				},
				{
					Expression: `request.operation != "UPDATE" || variables.claimed == variables.creator`,
					Message:    "the annotation " + podspec.AnnotationUser + " names the session's creator and cannot change",
					Reason:     ptr.To(metav1.StatusReasonForbidden),
				},
			},
		},
	}
}

// PolicyBinding puts Policy in force, denying, in Namespace only.
func PolicyBinding() *admissionregistrationv1.ValidatingAdmissionPolicyBinding {
	return &admissionregistrationv1.ValidatingAdmissionPolicyBinding{
		TypeMeta:   metav1.TypeMeta{APIVersion: admissionregistrationv1.SchemeGroupVersion.String(), Kind: "ValidatingAdmissionPolicyBinding"},
		ObjectMeta: objectMeta(""),
		Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName:        Name,
			ValidationActions: []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny},
			MatchResources: &admissionregistrationv1.MatchResources{
				NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{corev1.LabelMetadataName: Namespace}},
			},
		},
	}
}
