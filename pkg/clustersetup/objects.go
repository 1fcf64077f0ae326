// Package clustersetup builds the objects `kubectl node-shell setup` applies: a namespace
// kept for sessions, where only the node admins have rights, the RBAC that gives them
// exactly what a session needs, and an admission policy that lets only a session's creator
// change its pod. It does no I/O: every object is a function of Options, so the whole set is
// a golden file away (docs/examples/node-shell-setup.yaml).
package clustersetup

import (
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/podspec"
)

const (
	// Namespace is where setup puts sessions, and where node-shell sends them when the
	// user names no namespace and it exists with LabelDedicated.
	Namespace = podspec.DedicatedNamespace
	// Name is the name of every object setup makes, so one `kubectl get` per kind finds it,
	// but for LeaseName.
	Name = "kubectl-node-shell"
	// LeaseName names the Role and RoleBinding in kube-node-lease: a name of their own, so
	// setup's one line per object (kind/name, no namespace) tells them from the pods' pair.
	LeaseName = Name + "-leases"
	// FieldManager owns the fields setup applies (server-side apply).
	FieldManager = "kubectl-node-shell-setup"
)

// Labels on every object setup makes; on the namespace they mark it as node-shell's.
var Labels = map[string]string{podspec.LabelManagedBy: podspec.ManagedByValue}

// IsDedicated reports whether ns is the namespace setup made: the name and the label.
func IsDedicated(ns *corev1.Namespace) bool {
	return ns.Name == Namespace && ns.Labels[podspec.LabelManagedBy] == podspec.ManagedByValue
}

// Options are the inputs of the setup: who the node admins are, and whether the cluster
// serves ValidatingAdmissionPolicy (admissionregistration.k8s.io/v1, GA since 1.30).
type Options struct {
	Groups []string
	Users  []string
	// AdmissionPolicy adds the ValidatingAdmissionPolicy and its binding.
	AdmissionPolicy bool
	// RequireReason marks the namespace so that node-shell refuses a session without
	// --reason (AnnotationRequireReason).
	RequireReason bool
}

// AnnotationRequireReason on the namespace, "true", makes node-shell ask every session for a
// --reason. It is the client's check: docs/examples/node-shell-require-reason.yaml is the
// admission policy that enforces it whatever the client.
const AnnotationRequireReason = "kubectl-node-shell.io/require-reason"

// RequiresReason reports whether ns, setup's namespace, asks sessions for a reason.
func RequiresReason(ns *corev1.Namespace) bool {
	return IsDedicated(ns) && ns.Annotations[AnnotationRequireReason] == "true"
}

// Object is one object to apply, with the resource it is served as.
type Object struct {
	Resource schema.GroupVersionResource
	// Namespace is "" for a cluster-scoped object.
	Namespace string
	Object    runtime.Object
}

// Kind and name as kubectl prints them: "namespace/node-shell".
func (o Object) String() string {
	kind := strings.ToLower(o.Object.GetObjectKind().GroupVersionKind().Kind)
	if g := o.Resource.Group; g != "" {
		kind += "." + g
	}
	m, err := meta.Accessor(o.Object)
	if err != nil {
		return kind
	}
	return kind + "/" + m.GetName()
}

// Objects is the whole setup, in the order it is applied: the admission policy first, so it
// is in force before the namespace can hold a pod; then the namespace; then the RBAC that
// lets the node admins in, the optional lease watch in kube-node-lease last.
func Objects(o Options) []Object {
	var objs []Object
	if o.AdmissionPolicy {
		objs = append(objs,
			Object{Resource: admissionregistrationv1.SchemeGroupVersion.WithResource("validatingadmissionpolicies"), Object: Policy()},
			Object{Resource: admissionregistrationv1.SchemeGroupVersion.WithResource("validatingadmissionpolicybindings"), Object: PolicyBinding()},
		)
	}
	subjects := Subjects(o.Groups, o.Users)
	return append(objs,
		Object{Resource: corev1.SchemeGroupVersion.WithResource("namespaces"), Object: namespace(o.RequireReason)},
		Object{Resource: rbacv1.SchemeGroupVersion.WithResource("roles"), Namespace: Namespace, Object: role()},
		Object{Resource: rbacv1.SchemeGroupVersion.WithResource("rolebindings"), Namespace: Namespace, Object: roleBinding(subjects)},
		Object{Resource: rbacv1.SchemeGroupVersion.WithResource("clusterroles"), Object: clusterRole()},
		Object{Resource: rbacv1.SchemeGroupVersion.WithResource("clusterrolebindings"), Object: clusterRoleBinding(subjects)},
		Object{Resource: rbacv1.SchemeGroupVersion.WithResource("roles"), Namespace: corev1.NamespaceNodeLease, Object: leaseRole()},
		Object{Resource: rbacv1.SchemeGroupVersion.WithResource("rolebindings"), Namespace: corev1.NamespaceNodeLease, Object: leaseRoleBinding(subjects)},
	)
}

// Subjects are the node admins as RBAC subjects, groups first, in the order given.
func Subjects(groups, users []string) []rbacv1.Subject {
	var s []rbacv1.Subject
	for _, g := range groups {
		s = append(s, rbacv1.Subject{APIGroup: rbacv1.GroupName, Kind: rbacv1.GroupKind, Name: g})
	}
	for _, u := range users {
		s = append(s, rbacv1.Subject{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: u})
	}
	return s
}

// PodRules are the Role's rules: every request a session makes in its namespace
// (session.RequiredAccess), plus list pods, with which a session removes leftovers of
// killed ones, get pods/exec, the WebSocket exec of Kubernetes up to 1.34 (without it,
// node-shell falls back to SPDY), pods/portforward for `port-forward` (create; get for
// its WebSocket upgrade, as for exec), watch events, the kubelet's warnings about a pod
// slow to run (best effort), and create events.k8s.io events, each session's start and end
// on its pod (best effort). docs/rbac.md explains each; docs/examples/node-shell-rbac.yaml
// holds the same rules (a test checks).
func PodRules() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"create", "watch", "delete", "patch", "list"}},
		{APIGroups: []string{""}, Resources: []string{"pods/exec"}, Verbs: []string{"create", "get"}},
		{APIGroups: []string{""}, Resources: []string{"pods/portforward"}, Verbs: []string{"create", "get"}},
		{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"watch"}},
		{APIGroups: []string{"events.k8s.io"}, Resources: []string{"events"}, Verbs: []string{"create"}},
	}
}

// NodeRules are the cluster-wide rules: get a node before its pod is made, list nodes to
// suggest the closest names for a mistyped one, watch the node of a pod slow to run for its
// runtime going down (best effort).
func NodeRules() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"nodes"}, Verbs: []string{"get", "list", "watch"}},
	}
}

// LeaseRules are the rules in kube-node-lease: watch the Lease of a pod's node when the pod
// is slow to run, to find a dead kubelet in seconds (best effort).
func LeaseRules() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{
		{APIGroups: []string{coordinationv1.GroupName}, Resources: []string{"leases"}, Verbs: []string{"watch"}},
	}
}

// namespaceRule lets a node admin find the namespace, which is how node-shell decides to use it.
func namespaceRule() rbacv1.PolicyRule {
	return rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"namespaces"}, Verbs: []string{"get"}, ResourceNames: []string{Namespace}}
}

func objectMeta(namespace string) metav1.ObjectMeta {
	labels := map[string]string{}
	for k, v := range Labels {
		labels[k] = v
	}
	return metav1.ObjectMeta{Name: Name, Namespace: namespace, Labels: labels}
}

// namespace allows privileged pods by Pod Security, in all three modes, so that neither the
// cluster's default level nor a later change to it refuses or warns about sessions.
func namespace(requireReason bool) *corev1.Namespace {
	meta := objectMeta("")
	meta.Name = Namespace
	for _, mode := range []string{"enforce", "audit", "warn"} {
		meta.Labels["pod-security.kubernetes.io/"+mode] = "privileged"
	}
	if requireReason {
		meta.Annotations = map[string]string{AnnotationRequireReason: "true"}
	}
	return &corev1.Namespace{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"}, ObjectMeta: meta}
}

func role() *rbacv1.Role {
	return &rbacv1.Role{
		TypeMeta:   metav1.TypeMeta{APIVersion: rbacv1.SchemeGroupVersion.String(), Kind: "Role"},
		ObjectMeta: objectMeta(Namespace),
		Rules:      PodRules(),
	}
}

func roleBinding(subjects []rbacv1.Subject) *rbacv1.RoleBinding {
	return &rbacv1.RoleBinding{
		TypeMeta:   metav1.TypeMeta{APIVersion: rbacv1.SchemeGroupVersion.String(), Kind: "RoleBinding"},
		ObjectMeta: objectMeta(Namespace),
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: Name},
		Subjects:   subjects,
	}
}

func leaseRole() *rbacv1.Role {
	meta := objectMeta(corev1.NamespaceNodeLease)
	meta.Name = LeaseName
	return &rbacv1.Role{
		TypeMeta:   metav1.TypeMeta{APIVersion: rbacv1.SchemeGroupVersion.String(), Kind: "Role"},
		ObjectMeta: meta,
		Rules:      LeaseRules(),
	}
}

func leaseRoleBinding(subjects []rbacv1.Subject) *rbacv1.RoleBinding {
	meta := objectMeta(corev1.NamespaceNodeLease)
	meta.Name = LeaseName
	return &rbacv1.RoleBinding{
		TypeMeta:   metav1.TypeMeta{APIVersion: rbacv1.SchemeGroupVersion.String(), Kind: "RoleBinding"},
		ObjectMeta: meta,
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: LeaseName},
		Subjects:   subjects,
	}
}

func clusterRole() *rbacv1.ClusterRole {
	return &rbacv1.ClusterRole{
		TypeMeta:   metav1.TypeMeta{APIVersion: rbacv1.SchemeGroupVersion.String(), Kind: "ClusterRole"},
		ObjectMeta: objectMeta(""),
		Rules:      append(NodeRules(), namespaceRule()),
	}
}

func clusterRoleBinding(subjects []rbacv1.Subject) *rbacv1.ClusterRoleBinding {
	return &rbacv1.ClusterRoleBinding{
		TypeMeta:   metav1.TypeMeta{APIVersion: rbacv1.SchemeGroupVersion.String(), Kind: "ClusterRoleBinding"},
		ObjectMeta: objectMeta(""),
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: Name},
		Subjects:   subjects,
	}
}
