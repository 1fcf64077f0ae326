package diagnose

import (
	"errors"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var podsGR = schema.GroupResource{Resource: "pods"}

// psaMessage is what a v1.34 apiserver answered for a node-shell pod in a namespace
// labeled pod-security.kubernetes.io/enforce=restricted (integration/e2e, -v 1).
const psaMessage = `pods "node-shell-127-0-0-1-x" is forbidden: violates PodSecurity "restricted:latest": ` +
	`host namespaces (hostNetwork=true, hostPID=true, hostIPC=true), privileged (container "shell" must not set securityContext.privileged=true)`

func TestCreateProblem(t *testing.T) {
	refused := &url.Error{Op: "Post", URL: "https://10.0.0.1:6443/api/v1/namespaces/ops/pods",
		Err: &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connect: connection refused")}}
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"pod security", apierrors.NewForbidden(podsGR, "", errors.New(strings.TrimPrefix(psaMessage, `pods "node-shell-127-0-0-1-x" is forbidden: `))),
			"Pod Security admission in namespace ops refuses privileged pods (enforce=restricted:latest); run sessions in node-shell's own namespace, " +
				"which only node admins may use: -n node-shell (a cluster admin creates it once with kubectl node-shell setup)"},
		{"webhook", apierrors.NewForbidden(podsGR, "", errors.New(`admission webhook "validate.kyverno.svc" denied the request: privileged pods are not allowed`)),
			`an admission webhook refused the pod in namespace ops: admission webhook "validate.kyverno.svc" denied the request: privileged pods are not allowed; run sessions in node-shell's own namespace (-n node-shell, made by kubectl node-shell setup); ` +
				`if the policy refuses it there too, ask the policy's owner to exempt that namespace for the node admins' users or groups, never a label`},
		{"admission policy", apierrors.NewForbidden(podsGR, "", errors.New(`ValidatingAdmissionPolicy 'require-team' with binding 'require-team' denied request: every pod needs a team label`)),
			`an admission policy refused the pod in namespace ops: policy require-team: every pod needs a team label; give the pod what the policy asks with --label, --annotation or --overrides`},
		{"quota", apierrors.NewForbidden(podsGR, "", errors.New("exceeded quota: pods, requested: pods=1, used: pods=10, limited: pods=10")),
			"a ResourceQuota in namespace ops refuses another pod: exceeded quota: pods, requested: pods=1, used: pods=10, limited: pods=10; use another namespace"},
		{"rbac", apierrors.NewForbidden(podsGR, "", errors.New(`User "alice" cannot create resource "pods" in API group "" in the namespace "ops"`)),
			"you may not create pods in namespace ops: " + `User "alice" cannot create resource "pods" in API group "" in the namespace "ops"; ask`},
		{"no default service account yet", apierrors.NewForbidden(podsGR, "", errors.New(`error looking up service account ops/default: serviceaccount "default" not found`)),
			"namespace ops has no default ServiceAccount, so admission refuses every pod there; if the namespace is new, try again in a moment"},
		{"namespace missing", apierrors.NewNotFound(schema.GroupResource{Resource: "namespaces"}, "ops"),
			"namespace ops does not exist; pass an existing namespace with -n"},
		{"credentials", apierrors.NewUnauthorized("Unauthorized"), "the cluster does not accept your credentials (401 Unauthorized)"},
		{"invalid", apierrors.NewInvalid(schema.GroupKind{Kind: "Pod"}, "x", nil), "the cluster rejected the pod for node n1 as invalid"},
		{"unreachable", refused, "could not create the node-shell pod in namespace ops: Post"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := CreateProblem(tc.err, "ops", "n1")
			if !strings.Contains(got.Error(), tc.want) {
				t.Errorf("CreateProblem =\n  %q\nwant it to contain\n  %q", got, tc.want)
			}
			if !errors.Is(got, tc.err) {
				t.Errorf("CreateProblem does not wrap the API error")
			}
			if got.Fix == "" {
				t.Errorf("CreateProblem %q has no fix", got)
			}
		})
	}
}

func TestRequestProblem(t *testing.T) {
	refused := &url.Error{Op: "Get", URL: "https://10.0.0.1:6443/api/v1/nodes/n1",
		Err: &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connect: connection refused")}}
	tests := []struct {
		name string
		err  error
		want string // "" means nil: not a connection or credentials problem
	}{
		{"refused", refused, "cannot reach the cluster at https://10.0.0.1:6443: dial tcp: connect: connection refused"},
		{"unauthorized", apierrors.NewUnauthorized("Unauthorized"), "the cluster does not accept your credentials"},
		{"not found", apierrors.NewNotFound(schema.GroupResource{Resource: "nodes"}, "n1"), ""},
		{"forbidden", apierrors.NewForbidden(schema.GroupResource{Resource: "nodes"}, "n1", errors.New("no")), ""},
	}
	for _, tc := range tests {
		got := RequestProblem(tc.err, "https://10.0.0.1:6443")
		switch {
		case tc.want == "" && got != nil:
			t.Errorf("%s: RequestProblem = %q, want nil", tc.name, got)
		case tc.want != "" && (got == nil || !strings.Contains(got.Error(), tc.want)):
			t.Errorf("%s: RequestProblem = %v, want %q", tc.name, got, tc.want)
		}
	}
}

func TestMissingAccess(t *testing.T) {
	tests := []struct {
		name    string
		missing []Permission
		want    string
	}{
		{"namespaced", []Permission{{Verb: "create", Resource: "pods/exec", Namespace: "ops"}},
			"you are not allowed to create pods/exec in namespace ops; ask your cluster admin for the node-shell Role and ClusterRole in " +
				RBACDocs + ", or use a namespace where you have them (-n)"},
		{"cluster", []Permission{{Verb: "get", Resource: "nodes"}},
			"you are not allowed to get nodes (cluster-wide); ask your cluster admin for the node-shell Role and ClusterRole in " + RBACDocs},
		{"both", []Permission{{Verb: "create", Resource: "pods", Namespace: "ops"}, {Verb: "watch", Resource: "pods", Namespace: "ops"}, {Verb: "get", Resource: "nodes"}},
			"you are not allowed to create pods, watch pods in namespace ops and get nodes (cluster-wide); "},
	}
	for _, tc := range tests {
		got := MissingAccess("ops", tc.missing).Error()
		if !strings.HasPrefix(got, tc.want) {
			t.Errorf("%s: MissingAccess =\n  %q\nwant it to start with\n  %q", tc.name, got, tc.want)
		}
		if tc.name == "cluster" && strings.HasSuffix(got, "(-n)") {
			t.Errorf("%s: a namespace cannot fix a cluster-wide permission: %q", tc.name, got)
		}
	}
}

func TestNodeMessages(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) metav1.Time { return metav1.NewTime(now.Add(-d)) }
	withReady := func(c *corev1.NodeCondition) *corev1.Node {
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}
		if c != nil {
			c.Type = corev1.NodeReady
			n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse}, *c}
		}
		return n
	}
	unknown := withReady(&corev1.NodeCondition{Status: corev1.ConditionUnknown, Reason: "NodeStatusUnknown",
		Message: "Kubelet stopped posting node status.", LastHeartbeatTime: at(95 * time.Second), LastTransitionTime: at(45 * time.Second)})
	notReady := withReady(&corev1.NodeCondition{Status: corev1.ConditionFalse, Reason: "KubeletNotReady",
		Message: "container runtime network not ready: NetworkReady=false", LastHeartbeatTime: at(3 * time.Second), LastTransitionTime: at(10 * time.Minute)})
	ready := withReady(&corev1.NodeCondition{Status: corev1.ConditionTrue, Reason: "KubeletReady"})

	if w := NodeNotReady(ready, now); w != "" || !Ready(ready) {
		t.Errorf("a Ready node: warning %q, Ready %v; want none, true", w, Ready(ready))
	}
	tests := []struct {
		node *corev1.Node
		want string
	}{
		{unknown, "node n1 is not ready (Ready=Unknown for 45s, NodeStatusUnknown: Kubelet stopped posting node status, last heartbeat 1m35s ago); trying anyway"},
		{notReady, "node n1 is not ready (Ready=False for 10m0s, KubeletNotReady: container runtime network not ready: NetworkReady=false, last heartbeat 3s ago); trying anyway"},
		{withReady(nil), "node n1 is not ready (it has no Ready condition: its kubelet never reported); trying anyway"},
	}
	for _, tc := range tests {
		if got := NodeNotReady(tc.node, now); got != tc.want {
			t.Errorf("NodeNotReady =\n  %q\nwant\n  %q", got, tc.want)
		}
		if Ready(tc.node) {
			t.Errorf("Ready(%v) = true", tc.node.Status.Conditions)
		}
	}
	got := KubeletAway(unknown, 12*time.Second+300*time.Millisecond, now).Error()
	want := "the kubelet on node n1 did not pick up the pod within 12s, and the node is not ready (Ready=Unknown for 45s, " +
		"NodeStatusUnknown: Kubelet stopped posting node status, last heartbeat 1m35s ago); the kubelet is down or cut off from the apiserver"
	if !strings.HasPrefix(got, want) {
		t.Errorf("KubeletAway =\n  %q\nwant it to start with\n  %q", got, want)
	}

	for _, tc := range []struct {
		closest []string
		want    string
	}{
		{nil, `node "n9" not found; list the nodes with: kubectl get nodes`},
		{[]string{"n1"}, `node "n9" not found; did you mean n1? (kubectl get nodes lists them all)`},
		{[]string{"n1", "n2"}, `node "n9" not found; did you mean one of n1, n2? (kubectl get nodes lists them all)`},
	} {
		if got := NodeNotFound("n9", tc.closest).Error(); got != tc.want {
			t.Errorf("NodeNotFound(%v) = %q, want %q", tc.closest, got, tc.want)
		}
	}
}

func TestExecProblem(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"forbidden", errors.New(`unable to upgrade connection: Forbidden (user=alice, verb=create, resource=pods, subresource=exec)`),
			"you are not allowed to create pods/exec in namespace ops; ask your cluster admin"},
		{"kubelet unreachable", errors.New(`error dialing backend: dial tcp 10.0.0.7:10250: i/o timeout`),
			"the apiserver cannot reach the kubelet on node n1 to exec: error dialing backend: dial tcp 10.0.0.7:10250: i/o timeout; the kubelet's port (10250)"},
		{"broken", errors.New("websocket: close 1006 (abnormal closure): unexpected EOF"),
			"the session's connection to pod ops/node-shell-n1-x on node n1 broke: websocket: close 1006 (abnormal closure): unexpected EOF; try again"},
	}
	for _, tc := range tests {
		got := ExecProblem(tc.err, "ops", "node-shell-n1-x", "n1")
		if !strings.HasPrefix(got.Error(), tc.want) || !errors.Is(got, tc.err) {
			t.Errorf("%s: ExecProblem =\n  %q\nwant it to start with\n  %q, wrapping the error", tc.name, got, tc.want)
		}
	}
}

func TestKubeconfigProblem(t *testing.T) {
	got := KubeconfigProblem(errors.New(`context "prod" does not exist`)).Error()
	if want := `cannot use the kubeconfig: context "prod" does not exist; check --kubeconfig, $KUBECONFIG and --context`; !strings.HasPrefix(got, want) {
		t.Errorf("KubeconfigProblem = %q, want %q…", got, want)
	}
}
