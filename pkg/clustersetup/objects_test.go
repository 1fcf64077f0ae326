package clustersetup

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/forward"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/session"
)

var update = flag.Bool("update", false, "rewrite docs/examples/node-shell-setup.yaml from the builders")

func TestObjectsInApplyOrder(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want []string
	}{
		{
			name: "with the admission policy",
			opts: Options{Groups: []string{"node-admins"}, AdmissionPolicy: true},
			want: []string{
				"validatingadmissionpolicy.admissionregistration.k8s.io/kubectl-node-shell",
				"validatingadmissionpolicybinding.admissionregistration.k8s.io/kubectl-node-shell",
				"namespace/node-shell",
				"role.rbac.authorization.k8s.io/kubectl-node-shell",
				"rolebinding.rbac.authorization.k8s.io/kubectl-node-shell",
				"clusterrole.rbac.authorization.k8s.io/kubectl-node-shell",
				"clusterrolebinding.rbac.authorization.k8s.io/kubectl-node-shell",
				"role.rbac.authorization.k8s.io/kubectl-node-shell-leases",
				"rolebinding.rbac.authorization.k8s.io/kubectl-node-shell-leases",
			},
		},
		{
			name: "a cluster without ValidatingAdmissionPolicy",
			opts: Options{Users: []string{"alice"}},
			want: []string{
				"namespace/node-shell",
				"role.rbac.authorization.k8s.io/kubectl-node-shell",
				"rolebinding.rbac.authorization.k8s.io/kubectl-node-shell",
				"clusterrole.rbac.authorization.k8s.io/kubectl-node-shell",
				"clusterrolebinding.rbac.authorization.k8s.io/kubectl-node-shell",
				"role.rbac.authorization.k8s.io/kubectl-node-shell-leases",
				"rolebinding.rbac.authorization.k8s.io/kubectl-node-shell-leases",
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, o := range Objects(tc.opts) {
				got = append(got, o.String())
				u, err := Unstructured(o.Object)
				if err != nil {
					t.Fatal(err)
				}
				if u.GetNamespace() != o.Namespace {
					t.Errorf("%s: metadata.namespace %q, applied in %q", o, u.GetNamespace(), o.Namespace)
				}
				if u.GetLabels()["app.kubernetes.io/managed-by"] != "kubectl-node-shell" {
					t.Errorf("%s: labels %v, want managed-by kubectl-node-shell", o, u.GetLabels())
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("objects (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSubjectsAreExactlyTheNodeAdmins(t *testing.T) {
	objs := Objects(Options{Groups: []string{"node-admins", "sre"}, Users: []string{"alice"}})
	want := []rbacv1.Subject{
		{APIGroup: rbacv1.GroupName, Kind: "Group", Name: "node-admins"},
		{APIGroup: rbacv1.GroupName, Kind: "Group", Name: "sre"},
		{APIGroup: rbacv1.GroupName, Kind: "User", Name: "alice"},
	}
	roles := map[string]string{} // namespace: the Role's name
	for _, o := range objs {
		if r, ok := o.Object.(*rbacv1.Role); ok {
			roles[r.Namespace] = r.Name
		}
	}
	var bindings int
	for _, o := range objs {
		switch b := o.Object.(type) {
		case *rbacv1.RoleBinding:
			bindings++
			if diff := cmp.Diff(want, b.Subjects); diff != "" {
				t.Errorf("RoleBinding %s/%s subjects (-want +got):\n%s", b.Namespace, b.Name, diff)
			}
			if b.RoleRef != (rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: roles[b.Namespace]}) || b.Name != b.RoleRef.Name {
				t.Errorf("RoleBinding %s/%s roleRef %+v, want the Role %q of its namespace, of its own name", b.Namespace, b.Name, b.RoleRef, roles[b.Namespace])
			}
		case *rbacv1.ClusterRoleBinding:
			bindings++
			if diff := cmp.Diff(want, b.Subjects); diff != "" {
				t.Errorf("ClusterRoleBinding subjects (-want +got):\n%s", diff)
			}
			if b.RoleRef != (rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: Name}) {
				t.Errorf("ClusterRoleBinding roleRef %+v", b.RoleRef)
			}
		}
	}
	if bindings != 3 {
		t.Errorf("%d bindings, want a RoleBinding in %s and in %s, and a ClusterRoleBinding", bindings, Namespace, corev1.NamespaceNodeLease)
	}
	if roles[Namespace] != Name || roles[corev1.NamespaceNodeLease] != LeaseName {
		t.Errorf("Roles by namespace %v, want %s in %s and %s in %s", roles, Name, Namespace, LeaseName, corev1.NamespaceNodeLease)
	}
}

func TestNamespaceAllowsPrivilegedPodsAndIsMarked(t *testing.T) {
	var ns *corev1.Namespace
	for _, o := range Objects(Options{Groups: []string{"g"}}) {
		if n, ok := o.Object.(*corev1.Namespace); ok {
			ns = n
		}
	}
	if ns == nil {
		t.Fatal("no namespace among the objects")
	}
	for _, mode := range []string{"enforce", "audit", "warn"} {
		if got := ns.Labels["pod-security.kubernetes.io/"+mode]; got != "privileged" {
			t.Errorf("pod-security.kubernetes.io/%s = %q, want privileged", mode, got)
		}
	}
	if !IsDedicated(ns) {
		t.Errorf("IsDedicated(%v) = false for the namespace setup makes", ns.Labels)
	}
	for name, n := range map[string]*corev1.Namespace{
		"same name, no label":  {ObjectMeta: metav1.ObjectMeta{Name: Namespace}},
		"label, another name":  {ObjectMeta: metav1.ObjectMeta{Name: "ops", Labels: ns.Labels}},
		"label, another value": {ObjectMeta: metav1.ObjectMeta{Name: Namespace, Labels: map[string]string{"app.kubernetes.io/managed-by": "helm"}}},
	} {
		if IsDedicated(n) {
			t.Errorf("%s: IsDedicated = true", name)
		}
	}
}

// TestPodRulesAreExactlyASession: the Roles grant every request a session makes
// (session.RequiredAccess) and, beyond them, only the documented extras: the optional rows
// of docs/rbac.md.
func TestPodRulesAreExactlyASession(t *testing.T) {
	granted := map[string]bool{}
	for _, r := range append(append(PodRules(), NodeRules()...), LeaseRules()...) {
		for _, res := range r.Resources {
			for _, v := range r.Verbs {
				for _, g := range r.APIGroups {
					name := res
					if g != "" {
						name += "." + g
					}
					granted[v+" "+name] = true
				}
			}
		}
	}
	want := map[string]bool{
		"list pods":                        true, // the sweep of leftovers
		"get pods/exec":                    true, // the WebSocket exec up to 1.34
		"get pods/portforward":             true, // the WebSocket port-forward
		"list nodes":                       true, // closest names for a mistyped node
		"watch leases.coordination.k8s.io": true, // a dead kubelet, for a pod slow to run
		"watch nodes":                      true, // its runtime down
		"watch events":                     true, // the kubelet's warnings about the pod
		"create events.events.k8s.io":      true, // each session's start and end, on its pod
	}
	for _, a := range session.RequiredAccess("ns", session.ExecRequest{}, forward.PortForwardRequest{}) {
		res := a.Resource
		if a.Subresource != "" {
			res += "/" + a.Subresource
		}
		want[a.Verb+" "+res] = true
	}
	if diff := cmp.Diff(sorted(want), sorted(granted)); diff != "" {
		t.Errorf("granted (-want +got):\n%s", diff)
	}
}

// TestDocsRBACExampleHasTheSameRules: docs/examples/node-shell-rbac.yaml, the file for
// admins who apply RBAC by hand, grants what setup grants.
func TestDocsRBACExampleHasTheSameRules(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "docs", "examples", "node-shell-rbac.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	rules := map[string][]rbacv1.PolicyRule{}
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		var obj struct {
			Kind  string              `json:"kind"`
			Rules []rbacv1.PolicyRule `json:"rules"`
		}
		if err := yaml.Unmarshal(doc, &obj); err != nil {
			t.Fatal(err)
		}
		if _, twice := rules[obj.Kind]; twice {
			t.Fatalf("two %ss in the file: this test tells them apart by kind only", obj.Kind)
		}
		if obj.Kind != "" {
			rules[obj.Kind] = obj.Rules
		}
	}
	if diff := cmp.Diff(PodRules(), rules["Role"]); diff != "" {
		t.Errorf("the docs' Role differs from PodRules (-code +docs):\n%s", diff)
	}
	if diff := cmp.Diff(NodeRules(), rules["ClusterRole"]); diff != "" {
		t.Errorf("the docs' ClusterRole differs from NodeRules (-code +docs):\n%s", diff)
	}
}

// manifestHeader starts docs/examples/node-shell-setup.yaml.
const manifestHeader = `# What kubectl node-shell setup applies, for a cluster that serves ValidatingAdmissionPolicy,
# with the group node-shell-users as node admins. Generated by
#   kubectl node-shell setup --group node-shell-users --dry-run=client -o yaml
# (go test ./pkg/clustersetup -update rewrites it; a test fails when it differs).
# Review it, or put your own groups in the three bindings and apply it with
#   kubectl apply --server-side --field-manager=kubectl-node-shell-setup -f node-shell-setup.yaml
# docs/security.md explains each object.
`

// TestManifestIsTheDocsExample: the docs' manifest is what the builders make.
func TestManifestIsTheDocsExample(t *testing.T) {
	got, err := Manifest(Objects(Options{Groups: []string{"node-shell-users"}, AdmissionPolicy: true}))
	if err != nil {
		t.Fatal(err)
	}
	got = append([]byte(manifestHeader), got...)
	path := filepath.Join("..", "..", "docs", "examples", "node-shell-setup.yaml")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s is out of date; run go test ./pkg/clustersetup -update (-file +builders):\n%s", path, diff)
	}
	for _, noise := range []string{"creationTimestamp", "status:"} {
		if bytes.Contains(got, []byte(noise)) {
			t.Errorf("the manifest has %q, which nobody set", noise)
		}
	}
}

func sorted(m map[string]bool) []string {
	var s []string
	for k := range m {
		s = append(s, k)
	}
	sort.Strings(s)
	return s
}
