package preflight

import (
	"context"
	"errors"
	"net"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/diagnose"
)

var access = []authorizationv1.ResourceAttributes{
	{Namespace: "ops", Verb: "create", Resource: "pods"},
	{Namespace: "ops", Verb: "create", Resource: "pods", Subresource: "exec"},
	{Verb: "get", Resource: "nodes"},
}

func readyNode(name string) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}}}
}

// cluster is a fake apiserver whose authorizer denies what deny lists ("verb resource/sub").
func cluster(deny map[string]bool, nodes ...string) (*fake.Clientset, *atomic.Int32) {
	var objs []runtime.Object
	for _, n := range nodes {
		objs = append(objs, readyNode(n))
	}
	client := fake.NewClientset(objs...)
	reviews := &atomic.Int32{}
	client.PrependReactor("create", "selfsubjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		reviews.Add(1)
		review := a.(k8stesting.CreateAction).GetObject().(*authorizationv1.SelfSubjectAccessReview)
		attrs := review.Spec.ResourceAttributes
		key := attrs.Verb + " " + attrs.Resource + "/" + attrs.Subresource
		review.Status.Allowed = !deny[key]
		if deny[key] {
			review.Status.Reason = "no RBAC policy matched"
		}
		return true, review, nil
	})
	return client, reviews
}

func run(t *testing.T, client *fake.Clientset, node string) (*corev1.Node, error) {
	t.Helper()
	return Run(context.Background(), client, Target{Namespace: "ops", Node: node, Access: access, Server: "https://10.0.0.1:6443"})
}

func TestRunAllowedAndNodeFound(t *testing.T) {
	client, reviews := cluster(nil, "worker-1")
	node, err := run(t, client, "worker-1")
	if err != nil || node.Name != "worker-1" {
		t.Fatalf("Run = %v, %v; want the node", node, err)
	}
	if n := reviews.Load(); n != int32(len(access)) {
		t.Errorf("%d reviews, want one per permission (%d)", n, len(access))
	}
}

func TestRunNamesEveryMissingPermission(t *testing.T) {
	client, _ := cluster(map[string]bool{"create pods/exec": true, "get nodes/": true, "create pods/": true}, "worker-1")
	_, err := run(t, client, "worker-1")
	want := "you are not allowed to create pods, create pods/exec in namespace ops and get nodes (cluster-wide); " +
		"ask your cluster admin for the node-shell Role and ClusterRole in " + diagnose.RBACDocs +
		", or use a namespace where you have them (-n)"
	if err == nil || err.Error() != want {
		t.Fatalf("Run error =\n  %v\nwant\n  %s", err, want)
	}
	var p *diagnose.Problem
	if !errors.As(err, &p) || !strings.Contains(p.Detail, "create pods/exec: no RBAC policy matched") {
		t.Errorf("detail = %q, want the authorizer's reasons", p.Detail)
	}
}

func TestRunOnlyClusterScopedMissing(t *testing.T) {
	client, _ := cluster(map[string]bool{"get nodes/": true}, "worker-1")
	_, err := run(t, client, "worker-1")
	if err == nil || !strings.HasPrefix(err.Error(), "you are not allowed to get nodes (cluster-wide); ask your cluster admin") ||
		strings.Contains(err.Error(), "-n)") {
		t.Fatalf("Run error = %v; want get nodes named and no namespace advice", err)
	}
}

func TestRunUnknownNodeSuggestsTheClosest(t *testing.T) {
	client, _ := cluster(nil, "worker-1", "worker-2", "ip-10-0-1-23.ec2.internal")
	tests := []struct{ typed, want string }{
		{"worker-3", `node "worker-3" not found; did you mean one of worker-1, worker-2? (kubectl get nodes lists them all)`},
		{"wroker-1", `node "wroker-1" not found; did you mean worker-1?`},
		{"ip-10-0-1-23", `node "ip-10-0-1-23" not found; did you mean ip-10-0-1-23.ec2.internal?`},
		{"database-7", `node "database-7" not found; list the nodes with: kubectl get nodes`},
	}
	for _, tc := range tests {
		if _, err := run(t, client, tc.typed); err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("Run(%s) error =\n  %v\nwant\n  %s", tc.typed, err, tc.want)
		}
	}
}

func TestRunUnknownNodeWithoutListAccess(t *testing.T) {
	client, _ := cluster(nil, "worker-1")
	client.PrependReactor("list", "nodes", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "nodes"}, "", errors.New("no"))
	})
	_, err := run(t, client, "worker-2")
	if want := `node "worker-2" not found; list the nodes with: kubectl get nodes`; err == nil || err.Error() != want {
		t.Fatalf("Run error = %v, want %s", err, want)
	}
}

func TestRunMissingAccessComesBeforeTheNode(t *testing.T) {
	client, _ := cluster(map[string]bool{"create pods/exec": true}, "worker-1")
	if _, err := run(t, client, "worker-9"); err == nil || !strings.Contains(err.Error(), "not allowed to create pods/exec") {
		t.Fatalf("Run error = %v, want the missing permission first", err)
	}
}

func TestRunWithoutReviewsTrustsTheRequests(t *testing.T) {
	client, _ := cluster(nil, "worker-1")
	client.PrependReactor("create", "selfsubjectaccessreviews", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Group: "authorization.k8s.io", Resource: "selfsubjectaccessreviews"}, "", errors.New("no"))
	})
	if node, err := run(t, client, "worker-1"); err != nil || node == nil {
		t.Fatalf("Run = %v, %v; want the check skipped", node, err)
	}
	// The node lookup still tells a denied get apart.
	client.PrependReactor("get", "nodes", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "nodes"}, "worker-1", errors.New("no"))
	})
	if _, err := run(t, client, "worker-1"); err == nil || !strings.Contains(err.Error(), "not allowed to get nodes (cluster-wide)") {
		t.Fatalf("Run error = %v, want get nodes named", err)
	}
}

func TestRunUnreachableAndUnauthorized(t *testing.T) {
	refused := &url.Error{Op: "Post", URL: "https://10.0.0.1:6443/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
		Err: &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connect: connection refused")}}
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"refused", refused, "cannot reach the cluster at https://10.0.0.1:6443: dial tcp: connect: connection refused; check --context/--kubeconfig"},
		{"unauthorized", apierrors.NewUnauthorized("Unauthorized"), "the cluster does not accept your credentials (401 Unauthorized); log in again"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			client, _ := cluster(nil, "worker-1")
			fail := func(k8stesting.Action) (bool, runtime.Object, error) { return true, nil, tc.err }
			client.PrependReactor("*", "*", fail)
			_, err := run(t, client, "worker-1")
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("Run error =\n  %v\nwant\n  %s", err, tc.want)
			}
		})
	}
}

func TestSuggest(t *testing.T) {
	names := []string{"127.0.0.1", "127.0.0.2", "127.0.0.3", "gpu-node-a", "gpu-node-b", "gpu-node-c", "gpu-node-d"}
	tests := []struct {
		typed string
		want  []string
	}{
		{"127.0.0.33", []string{"127.0.0.3"}},
		{"127.0.0.9", []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"}},
		{"gpu-node-x", []string{"gpu-node-a", "gpu-node-b", "gpu-node-c"}}, // at most three
		{"gpu-node", []string{"gpu-node-a", "gpu-node-b", "gpu-node-c"}},   // a prefix
		{"etcd-0", nil},
	}
	for _, tc := range tests {
		if diff := cmp.Diff(tc.want, suggest(tc.typed, names)); diff != "" {
			t.Errorf("suggest(%q) (-want +got):\n%s", tc.typed, diff)
		}
	}
}

func TestDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{{"", "", 0}, {"abc", "", 3}, {"kitten", "sitting", 3}, {"worker-1", "wroker-1", 2}, {"node", "node", 0}} {
		if got := distance(tc.a, tc.b); got != tc.want {
			t.Errorf("distance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}
