package e2e

import (
	"context"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// docsRBAC is the least-privilege RBAC file docs/rbac.md tells admins to apply.
func docsRBAC() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "docs", "examples", "node-shell-rbac.yaml")
}

// docsRBACGroup is the group the file's bindings name.
const docsRBACGroup = "node-shell-users"

// TestRBACPreflight: a user without access is told, in one round trip and before any pod
// exists, every permission they lack, and pointed to docs/rbac.md; a user with all but
// pods/exec is told exactly that. Once the docs' file is applied as it is, the same user
// runs a command.
func TestRBACPreflight(t *testing.T) {
	e := newE2E(t)
	user := "e2e-rbac-user"
	kubeconfig, err := e.cluster.MintKubeconfig(user, docsRBACGroup)
	if err != nil {
		t.Fatal(err)
	}
	node := e.Nodes()[1]
	// Requests on pods where the session would run; looking for a node agent (a list in
	// namespace node-shell) is a read elsewhere, and allowed before preflight.
	podRequests := func() int { return e.auditLines(user, `"resource":"pods"`, `"namespace":"`+e.namespace+`"`) }

	// No access at all.
	r := e.NodeShell(node, "--", "true").WithKubeconfig(kubeconfig).Run()
	e.assertFailed(r, 3*time.Second,
		"you are not allowed to create pods, watch pods, delete pods, patch pods, create pods/exec in namespace "+e.namespace+" and get nodes (cluster-wide)",
		"docs/rbac.md", "or use a namespace where you have them (-n)")
	r.AssertNoSession(t)

	// Everything but pods/exec.
	e.grant(user, rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"create", "watch", "delete", "patch"}})
	e.waitAllowed(kubeconfig, authorizationv1.ResourceAttributes{Verb: "delete", Resource: "pods", Namespace: e.namespace})
	r = e.NodeShell(node, "--", "true").WithKubeconfig(kubeconfig).Run()
	e.assertFailed(r, 3*time.Second, "you are not allowed to create pods/exec in namespace "+e.namespace+";", "docs/rbac.md")
	r.AssertNoSession(t)
	if n := podRequests(); n != 0 {
		t.Errorf("%d pod request(s) from %s although preflight failed, want none", n, user)
	}

	// The docs' file, exactly, and nothing else.
	e.revoke(user)
	apply := exec.Command(e.cluster.KubectlPath(), "--kubeconfig", e.kubeconfig, "apply", "-n", e.namespace, "-f", docsRBAC())
	if out, err := apply.CombinedOutput(); err != nil {
		t.Fatalf("kubectl apply %s: %v\n%s", docsRBAC(), err, out)
	}
	t.Cleanup(func() {
		_ = e.client.RbacV1().ClusterRoleBindings().Delete(context.Background(), "kubectl-node-shell:nodes", metav1.DeleteOptions{})
		_ = e.client.RbacV1().ClusterRoles().Delete(context.Background(), "kubectl-node-shell:nodes", metav1.DeleteOptions{})
	})
	e.waitAllowed(kubeconfig, authorizationv1.ResourceAttributes{Verb: "create", Resource: "pods", Subresource: "exec", Namespace: e.namespace})
	e.waitAllowed(kubeconfig, authorizationv1.ResourceAttributes{Verb: "get", Resource: "nodes"})
	r = e.NodeShell(node, "--", "cat", "/proc/sys/kernel/hostname").WithKubeconfig(kubeconfig).RunOK()
	r.AssertOnNode(t, node)
	if len(r.Stdout) == 0 {
		t.Errorf("no output from the command")
	}
	if n := e.auditLines(user, `"subresource":"exec"`, `"code":403`); n != 0 {
		t.Errorf("%d exec request(s) refused with the docs' role: its pods/exec verbs are not enough for a direct WebSocket exec", n)
	}
}

// grant gives user rule in the test's namespace, and get on nodes, through objects that
// revoke removes.
func (e *E2E) grant(user string, rule rbacv1.PolicyRule) {
	e.t.Helper()
	ctx := context.Background()
	subject := []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: user}}
	name := "e2e-grant-" + user
	_, err := e.client.RbacV1().Roles(e.namespace).Create(ctx, &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: []rbacv1.PolicyRule{rule}}, metav1.CreateOptions{})
	if err == nil {
		_, err = e.client.RbacV1().RoleBindings(e.namespace).Create(ctx, &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: name}, Subjects: subject,
			RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name}}, metav1.CreateOptions{})
	}
	if err == nil {
		_, err = e.client.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"nodes"}, Verbs: []string{"get"}}}}, metav1.CreateOptions{})
	}
	if err == nil {
		_, err = e.client.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: name}, Subjects: subject,
			RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name}}, metav1.CreateOptions{})
	}
	if err != nil {
		e.t.Fatalf("grant %s: %v", user, err)
	}
	e.t.Cleanup(func() { e.revoke(user) })
}

func (e *E2E) revoke(user string) {
	ctx := context.Background()
	name := "e2e-grant-" + user
	_ = e.client.RbacV1().RoleBindings(e.namespace).Delete(ctx, name, metav1.DeleteOptions{})
	_ = e.client.RbacV1().Roles(e.namespace).Delete(ctx, name, metav1.DeleteOptions{})
	_ = e.client.RbacV1().ClusterRoleBindings().Delete(ctx, name, metav1.DeleteOptions{})
	_ = e.client.RbacV1().ClusterRoles().Delete(ctx, name, metav1.DeleteOptions{})
}

// waitAllowed waits until the kubeconfig's user may do attrs: RBAC changes reach the
// apiserver's authorizer through an informer, a moment after the write.
func (e *E2E) waitAllowed(kubeconfig string, attrs authorizationv1.ResourceAttributes) {
	e.t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		e.t.Fatal(err)
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		review, err := client.AuthorizationV1().SelfSubjectAccessReviews().Create(context.Background(),
			&authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &attrs}}, metav1.CreateOptions{})
		if err == nil && review.Status.Allowed {
			return
		}
	}
	e.t.Fatalf("%s %s/%s still not allowed after 10 s", attrs.Verb, attrs.Resource, attrs.Subresource)
}
