package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/remotecommand"

	"github.com/kubectl-node-shell/kubectl-node-shell/integration/localcluster"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/clustersetup"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/podspec"
)

// attackerImage is what an intruder swaps into a session's pod: it would run privileged,
// with the node's / at /host.
const attackerImage = "docker.io/library/node-shell-e2e-intruder:1"

// TestSetupKeepsSessionsToTheNodeAdmins: in the recommended setup, a node admin's session
// goes to namespace node-shell without -n; a user with edit (and ephemeral containers) in
// the workload namespace cannot exec into, attach to, patch or add an ephemeral container
// to it; another node admin, and a cluster admin, cannot swap its image or add a container
// (the admission policy); the session ends normally. setup itself is idempotent, and a user
// without rights is told in one line that a cluster admin must run it.
func TestSetupKeepsSessionsToTheNodeAdmins(t *testing.T) {
	e := newE2E(t)
	ctx := context.Background()
	e.removeSetup() // a failed earlier run may have left it
	t.Cleanup(e.removeSetup)
	node := e.Nodes()[1]

	// A user with no rights: one line, nothing made.
	nobody := e.mint("e2e-setup-nobody")
	r := e.setup(nobody, "--group", "node-admins").Run()
	e.assertFailed(r, 5*time.Second, "you are not allowed to get validatingadmissionpolicies.admissionregistration.k8s.io (cluster-wide)",
		"a cluster admin must run kubectl node-shell setup")
	if lines := strings.Count(string(r.Stderr), "\n"); lines != 1 {
		t.Errorf("stderr has %d lines, want the one refusal: %q", lines, r.Stderr)
	}
	if _, err := e.client.CoreV1().Namespaces().Get(ctx, clustersetup.Namespace, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("namespace %s after a refused setup: %v, want not found", clustersetup.Namespace, err)
	}

	// The cluster admin runs it; a second run changes nothing.
	r = e.setup(e.kubeconfig, "--group", "node-admins").RunOK()
	e.assertSetupLines(r, "created")
	e.assertPolicyTypeChecks() // its status is written once, after the create
	versions := e.setupVersions()
	r = e.setup(e.kubeconfig, "--group", "node-admins").RunOK()
	e.assertSetupLines(r, "unchanged")
	if again := e.setupVersions(); fmt.Sprint(again) != fmt.Sprint(versions) {
		t.Errorf("resourceVersions after the second run %v, want unchanged %v", again, versions)
	}
	e.waitPolicyInForce()

	// A node admin's session lands in node-shell, on the node asked for, without -n.
	creator := e.mintClient("e2e-node-admin", "node-admins")
	e.waitAllowed(creator.path, authorizationv1.ResourceAttributes{Verb: "create", Resource: "pods", Subresource: "exec", Namespace: clustersetup.Namespace})
	e.waitAllowed(creator.path, authorizationv1.ResourceAttributes{Verb: "get", Resource: "namespaces", Name: clustersetup.Namespace})
	// The optional watches that name a broken node fast (docs/rbac.md), exactly as the session
	// makes them: by name (leases, nodes) or by field (events).
	e.waitAllowed(creator.path, authorizationv1.ResourceAttributes{Verb: "watch", Group: "coordination.k8s.io", Resource: "leases", Namespace: corev1.NamespaceNodeLease, Name: node})
	e.waitAllowed(creator.path, authorizationv1.ResourceAttributes{Verb: "watch", Resource: "nodes", Name: node})
	e.waitAllowed(creator.path, authorizationv1.ResourceAttributes{Verb: "watch", Resource: "events", Namespace: clustersetup.Namespace})
	e.timeNamespaceLookup(creator)
	session := e.NodeShellAnyNamespace("--heartbeat-timeout", "8s", node, "--", "sleep", "30").WithKubeconfig(creator.path).Start()
	pod := e.waitPodIn(clustersetup.Namespace, 30*time.Second)
	if pod.Namespace != clustersetup.Namespace || pod.Spec.NodeName != node {
		t.Fatalf("session pod %s/%s on node %q, want namespace %s and node %s", pod.Namespace, pod.Name, pod.Spec.NodeName, clustersetup.Namespace, node)
	}
	if u := pod.Annotations[podspec.AnnotationUser]; u != "e2e-node-admin" {
		t.Errorf("pod annotation %s = %q, want e2e-node-admin", podspec.AnnotationUser, u)
	}
	e.pushIntruderImage()

	// A user with edit, and ephemeral containers, in the workload namespace.
	tenant := e.workloadEditor("e2e-tenant-editor")
	for name, attack := range e.attacks(tenant, pod) {
		err := attack()
		if !isForbidden(err) || !strings.Contains(err.Error(), "cannot") {
			t.Errorf("tenant with edit in %s: %s: %v; want Forbidden by RBAC", e.namespace, name, err)
		}
	}

	// Another node admin, and a cluster admin: RBAC lets them patch pods there, the policy
	// does not let them change someone else's session.
	other := e.mintClient("e2e-node-admin-2", "node-admins")
	if err := patchImage(other.client, pod); !isPolicyDenial(err, "only e2e-node-admin, who started this session, may change its pod") {
		t.Errorf("another node admin swapping the image: %v; want the policy's refusal", err)
	}
	if err := addEphemeralContainer(other.client, pod); !isForbidden(err) {
		t.Errorf("another node admin adding an ephemeral container: %v; want Forbidden", err)
	}
	admin := clientFor{client: e.client} // localcluster-admin, in system:masters
	if err := patchImage(admin.client, pod); !isPolicyDenial(err, "only e2e-node-admin, who started this session, may change its pod") {
		t.Errorf("a cluster admin swapping the image: %v; want the policy's refusal", err)
	}
	if err := addEphemeralContainer(admin.client, pod); !isPolicyDenial(err, "only e2e-node-admin, who started this session, may change its pod") {
		t.Errorf("a cluster admin adding an ephemeral container: %v; want the policy's refusal", err)
	}
	// Not even the creator may hand the session to someone else's name.
	if err := patchAnnotation(creator.client, pod, podspec.AnnotationUser, "e2e-node-admin-2"); !isPolicyDenial(err, "names the session's creator and cannot change") {
		t.Errorf("the creator renaming the session's user: %v; want the policy's refusal", err)
	}
	// Only sessions, named for their creator, may be created there.
	if err := createDryRun(creator.client, plainPod(node, nil)); !isPolicyDenial(err, "a pod must carry the annotation kubectl-node-shell.io/user naming its creator, e2e-node-admin") {
		t.Errorf("a node admin creating an unnamed pod: %v; want the policy's refusal", err)
	}
	if err := createDryRun(creator.client, plainPod(node, map[string]string{podspec.AnnotationUser: "e2e-node-admin-2"})); !isPolicyDenial(err, "naming its creator, e2e-node-admin") {
		t.Errorf("a node admin creating a pod in another's name: %v; want the policy's refusal", err)
	}
	// The documented limit: exec is a CONNECT, which the policy cannot tie to the pod's
	// creator (docs/security.md). Node admins may enter each other's sessions; RBAC keeps
	// everyone else out.
	if _, err := other.exec(pod, false, "true"); err != nil {
		t.Errorf("another node admin's exec: %v; the docs say RBAC alone governs exec, and node admins have it", err)
	}

	// The session was never taken over: its image and containers are as built, and it ends
	// normally, heartbeats included (the creator's patches pass the policy).
	got, err := e.client.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Spec.Containers[0].Image != pod.Spec.Containers[0].Image || len(got.Spec.EphemeralContainers) != 0 {
		t.Errorf("session pod changed: image %s, %d ephemeral containers", got.Spec.Containers[0].Image, len(got.Spec.EphemeralContainers))
	}
	if status := session.Wait(60 * time.Second); status != 0 {
		t.Fatalf("session status %d, want 0; stderr %q", status, session.Stderr())
	}
	if s := session.Stderr(); s != "" {
		t.Errorf("session stderr %q, want nothing (no notice in the dedicated namespace, no heartbeat trouble)", s)
	}
	e.waitPodGoneIn(clustersetup.Namespace, pod.Name, 10*time.Second)
}

// TestSessionInASharedNamespaceCanBeTakenOver: the attack setup prevents, mounted where it
// is not in place. A session in a namespace where a tenant has edit (and ephemeral
// containers) is entered, extended and hijacked by that tenant; the session said so in its
// notice.
func TestSessionInASharedNamespaceCanBeTakenOver(t *testing.T) {
	e := newE2E(t)
	node := e.Nodes()[2]
	session := e.NodeShell("--heartbeat-timeout", "8s", node, "--", "sleep", "60").Start()
	pod := e.waitSessionPod(30 * time.Second)
	if pod.Spec.NodeName != node {
		t.Fatalf("session pod on node %q, want %s", pod.Spec.NodeName, node)
	}
	e.pushIntruderImage()
	tenant := e.workloadEditor("e2e-tenant-intruder")

	// Root on the node: the tenant reads a file only root on the host may read.
	out, err := tenant.exec(pod, false, "sh", "-c", "test -r /host/etc/shadow && id -u")
	if err != nil || strings.TrimSpace(out) != "0" {
		t.Errorf("tenant's exec into the session: %q, %v; want root with the node at /host", out, err)
	}
	if err := addEphemeralContainer(tenant.client, pod); err != nil {
		t.Errorf("tenant's ephemeral container: %v; want it accepted", err)
	}
	if err := patchImage(tenant.client, pod); err != nil {
		t.Errorf("tenant's image swap: %v; want it accepted", err)
	}
	session.Wait(90 * time.Second) // the swapped image restarts the container: the session breaks
	notice := "warning: anyone who may exec into, attach to or patch pods in namespace " + e.namespace + " can take over this root session; a cluster admin can run kubectl node-shell setup"
	if !strings.HasPrefix(session.Stderr(), notice) {
		t.Errorf("session stderr %q, want it to start with the notice %q", session.Stderr(), notice)
	}
	e.waitPodGone(pod.Name, 30*time.Second)
}

// --- helpers ---

// setup is `kubectl-node_shell setup ARGS` as the kubeconfig's user.
func (e *E2E) setup(kubeconfig string, args ...string) *Invocation {
	e.t.Helper()
	return e.NodeShellAnyNamespace(append([]string{"setup"}, args...)...).WithKubeconfig(kubeconfig)
}

// assertSetupLines checks setup printed each object once, in order, with result.
func (e *E2E) assertSetupLines(r Result, result string) {
	e.t.Helper()
	// The objects as the builders list them (their names and order are pinned by
	// pkg/clustersetup's own tests); this cluster serves ValidatingAdmissionPolicy.
	var want []string
	for _, o := range clustersetup.Objects(clustersetup.Options{AdmissionPolicy: true}) {
		want = append(want, o.String()+" "+result)
	}
	if got := strings.TrimSpace(string(r.Stdout)); got != strings.Join(want, "\n") {
		e.t.Errorf("setup printed:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
	if len(r.Stderr) != 0 {
		e.t.Errorf("setup stderr %q, want nothing", r.Stderr)
	}
}

// setupVersions are the resourceVersions of setup's objects.
func (e *E2E) setupVersions() []string {
	e.t.Helper()
	ctx := context.Background()
	c := e.client
	var versions []string
	add := func(m metav1.Object, err error) {
		if err != nil {
			e.t.Fatalf("get setup object: %v", err)
		}
		versions = append(versions, fmt.Sprintf("%T=%s", m, m.GetResourceVersion()))
	}
	add(c.AdmissionregistrationV1().ValidatingAdmissionPolicies().Get(ctx, clustersetup.Name, metav1.GetOptions{}))
	add(c.AdmissionregistrationV1().ValidatingAdmissionPolicyBindings().Get(ctx, clustersetup.Name, metav1.GetOptions{}))
	add(c.CoreV1().Namespaces().Get(ctx, clustersetup.Namespace, metav1.GetOptions{}))
	add(c.RbacV1().Roles(clustersetup.Namespace).Get(ctx, clustersetup.Name, metav1.GetOptions{}))
	add(c.RbacV1().RoleBindings(clustersetup.Namespace).Get(ctx, clustersetup.Name, metav1.GetOptions{}))
	add(c.RbacV1().ClusterRoles().Get(ctx, clustersetup.Name, metav1.GetOptions{}))
	add(c.RbacV1().ClusterRoleBindings().Get(ctx, clustersetup.Name, metav1.GetOptions{}))
	add(c.RbacV1().Roles(corev1.NamespaceNodeLease).Get(ctx, clustersetup.LeaseName, metav1.GetOptions{}))
	add(c.RbacV1().RoleBindings(corev1.NamespaceNodeLease).Get(ctx, clustersetup.LeaseName, metav1.GetOptions{}))
	ns, _ := c.CoreV1().Namespaces().Get(ctx, clustersetup.Namespace, metav1.GetOptions{})
	for _, f := range ns.ManagedFields {
		if f.Manager != clustersetup.FieldManager || f.Operation != metav1.ManagedFieldsOperationApply {
			continue
		}
		return versions
	}
	e.t.Errorf("namespace %s has no fields applied by %s: %+v", clustersetup.Namespace, clustersetup.FieldManager, ns.ManagedFields)
	return versions
}

// assertPolicyTypeChecks waits for the apiserver's type check of the policy's CEL against
// the Pod schema, and fails on any warning it has.
func (e *E2E) assertPolicyTypeChecks() {
	e.t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		p, err := e.client.AdmissionregistrationV1().ValidatingAdmissionPolicies().Get(ctx, clustersetup.Name, metav1.GetOptions{})
		if err != nil || p.Status.ObservedGeneration != p.Generation || p.Status.TypeChecking == nil {
			return false, nil
		}
		for _, w := range p.Status.TypeChecking.ExpressionWarnings {
			e.t.Errorf("policy type check: %s: %s", w.FieldRef, w.Warning)
		}
		return true, nil
	})
	if err != nil {
		e.t.Fatalf("the policy's type check did not finish: %v", err)
	}
}

// waitPolicyInForce waits until the apiserver enforces the policy (its informer has it):
// a server dry run of a pod that names nobody is refused by it.
func (e *E2E) waitPolicyInForce() {
	e.t.Helper()
	start := time.Now()
	var last error
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		last = createDryRun(e.client, plainPod(e.Nodes()[0], nil))
		return isPolicyDenial(last, "holds only node-shell sessions"), nil
	})
	if err != nil {
		e.t.Fatalf("the policy is not in force after 30s; last dry run: %v", last)
	}
	e.t.Logf("policy in force %v after setup", time.Since(start).Round(time.Millisecond))
}

// timeNamespaceLookup logs what the session's look-up of the dedicated namespace costs: on
// a new connection, as the plugin's first request makes it, and on an open one.
func (e *E2E) timeNamespaceLookup(c clientFor) {
	e.t.Helper()
	get := func(cfg *rest.Config) time.Duration {
		client, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			e.t.Fatal(err)
		}
		start := time.Now()
		if _, err := client.CoreV1().Namespaces().Get(context.Background(), clustersetup.Namespace, metav1.GetOptions{}); err != nil {
			e.t.Fatalf("node admin's GET namespace %s: %v", clustersetup.Namespace, err)
		}
		return time.Since(start)
	}
	median := func(sample func() time.Duration) time.Duration {
		var times []time.Duration
		for range 21 {
			times = append(times, sample())
		}
		sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
		return times[len(times)/2]
	}
	open := rest.CopyConfig(c.config)
	open.QPS = -1 // no client-side rate limit: it would be the measurement
	fresh := func() time.Duration {
		cfg := rest.CopyConfig(open)
		cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper { return rt } // not shared: a connection of its own
		return get(cfg)
	}
	warm := func() time.Duration { return get(open) }
	e.t.Logf("GET namespace %s as a node admin, median of 21: %v on a new connection, %v on an open one",
		clustersetup.Namespace, median(fresh).Round(10*time.Microsecond), median(warm).Round(10*time.Microsecond))
}

// removeSetup deletes what setup makes and waits for the namespace to be gone, since other
// tests share the cluster.
func (e *E2E) removeSetup() {
	ctx := context.Background()
	c := e.client
	_ = c.AdmissionregistrationV1().ValidatingAdmissionPolicyBindings().Delete(ctx, clustersetup.Name, metav1.DeleteOptions{})
	_ = c.AdmissionregistrationV1().ValidatingAdmissionPolicies().Delete(ctx, clustersetup.Name, metav1.DeleteOptions{})
	_ = c.RbacV1().ClusterRoleBindings().Delete(ctx, clustersetup.Name, metav1.DeleteOptions{})
	_ = c.RbacV1().ClusterRoles().Delete(ctx, clustersetup.Name, metav1.DeleteOptions{})
	// kube-node-lease outlives the test: its objects go one by one, not with a namespace.
	for _, err := range []error{
		c.RbacV1().RoleBindings(corev1.NamespaceNodeLease).Delete(ctx, clustersetup.LeaseName, metav1.DeleteOptions{}),
		c.RbacV1().Roles(corev1.NamespaceNodeLease).Delete(ctx, clustersetup.LeaseName, metav1.DeleteOptions{}),
	} {
		if err != nil && !apierrors.IsNotFound(err) {
			e.t.Errorf("remove setup's lease RBAC in %s: %v", corev1.NamespaceNodeLease, err)
		}
	}
	_ = c.CoreV1().Namespaces().Delete(ctx, clustersetup.Namespace, metav1.DeleteOptions{})
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := c.CoreV1().Namespaces().Get(ctx, clustersetup.Namespace, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	if err != nil {
		e.t.Errorf("namespace %s still there 2 minutes after its delete", clustersetup.Namespace)
	}
}

// waitPodGoneIn waits until the pod no longer exists in namespace.
func (e *E2E) waitPodGoneIn(namespace, name string, timeout time.Duration) {
	e.t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		_, err := e.client.CoreV1().Pods(namespace).Get(ctx, name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	if err != nil {
		e.t.Errorf("pod %s/%s still there %v after the session ended", namespace, name, timeout)
	}
}

func (e *E2E) pushIntruderImage() {
	e.t.Helper()
	spec := localcluster.ImageSpec{Files: map[string][]byte{"/intruder": []byte("not node-shell's\n")}}
	if err := e.cluster.PushBusyboxImage(context.Background(), attackerImage, spec); err != nil {
		e.t.Fatalf("push %s: %v", attackerImage, err)
	}
}

// clientFor is a user's client, and their kubeconfig for exec.
type clientFor struct {
	client kubernetes.Interface
	config *rest.Config
	path   string
}

func (e *E2E) mint(user string, groups ...string) string {
	e.t.Helper()
	path, err := e.cluster.MintKubeconfig(user, groups...)
	if err != nil {
		e.t.Fatal(err)
	}
	return path
}

func (e *E2E) mintClient(user string, groups ...string) clientFor {
	e.t.Helper()
	path := e.mint(user, groups...)
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		e.t.Fatal(err)
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	return clientFor{client: client, config: cfg, path: path}
}

// workloadEditor is a user with the edit ClusterRole, and ephemeral containers, in the
// test's namespace: a tenant's usual rights.
func (e *E2E) workloadEditor(user string) clientFor {
	e.t.Helper()
	ctx := context.Background()
	c := e.mintClient(user)
	subject := []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: user}}
	debug := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: user + "-debug"}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"pods/ephemeralcontainers"}, Verbs: []string{"get", "patch", "update"}},
	}}
	if _, err := e.client.RbacV1().Roles(e.namespace).Create(ctx, debug, metav1.CreateOptions{}); err != nil {
		e.t.Fatal(err)
	}
	for _, ref := range []rbacv1.RoleRef{
		{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "edit"},
		{APIGroup: rbacv1.GroupName, Kind: "Role", Name: debug.Name},
	} {
		b := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: user + "-" + strings.ToLower(ref.Kind) + "-" + ref.Name}, Subjects: subject, RoleRef: ref}
		if _, err := e.client.RbacV1().RoleBindings(e.namespace).Create(ctx, b, metav1.CreateOptions{}); err != nil {
			e.t.Fatal(err)
		}
	}
	e.waitAllowed(c.path, authorizationv1.ResourceAttributes{Verb: "create", Resource: "pods", Subresource: "exec", Namespace: e.namespace})
	e.waitAllowed(c.path, authorizationv1.ResourceAttributes{Verb: "patch", Resource: "pods", Subresource: "ephemeralcontainers", Namespace: e.namespace})
	return c
}

// attacks are the ways to take over a running pod, each as c.
func (e *E2E) attacks(c clientFor, pod *corev1.Pod) map[string]func() error {
	return map[string]func() error{
		"exec (SPDY, create pods/exec)":   func() error { _, err := c.exec(pod, false, "true"); return err },
		"exec (WebSocket, get pods/exec)": func() error { _, err := c.exec(pod, true, "true"); return err },
		"attach":                          func() error { return c.attach(pod) },
		"patch the image":                 func() error { return patchImage(c.client, pod) },
		"add an ephemeral container":      func() error { return addEphemeralContainer(c.client, pod) },
	}
}

// exec runs command in the pod's container as c, over SPDY (a POST) or WebSocket (a GET),
// and returns its stdout.
func (c clientFor) exec(pod *corev1.Pod, websocket bool, command ...string) (string, error) {
	req := c.client.CoreV1().RESTClient().Post().Resource("pods").Namespace(pod.Namespace).Name(pod.Name).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{Container: podspec.ContainerName, Command: command, Stdout: true, Stderr: true}, scheme.ParameterCodec)
	var out, errOut bytes.Buffer
	err := c.stream(req.URL().String(), websocket, remotecommand.StreamOptions{Stdout: &out, Stderr: &errOut})
	if err != nil && errOut.Len() > 0 {
		err = fmt.Errorf("%w (stderr %q)", err, errOut.String())
	}
	return out.String(), err
}

// attach attaches to the pod's container as c, for a moment.
func (c clientFor) attach(pod *corev1.Pod) error {
	req := c.client.CoreV1().RESTClient().Post().Resource("pods").Namespace(pod.Namespace).Name(pod.Name).SubResource("attach").
		VersionedParams(&corev1.PodAttachOptions{Container: podspec.ContainerName, Stdout: true, Stderr: true}, scheme.ParameterCodec)
	var out bytes.Buffer
	err := c.stream(req.URL().String(), false, remotecommand.StreamOptions{Stdout: &out, Stderr: &out})
	if errors.Is(err, context.DeadlineExceeded) {
		return nil // attached, and streaming until cut off
	}
	return err
}

func (c clientFor) stream(rawURL string, websocket bool, opts remotecommand.StreamOptions) error {
	var (
		exec remotecommand.Executor
		err  error
	)
	if websocket {
		exec, err = remotecommand.NewWebSocketExecutor(c.config, "GET", rawURL)
	} else {
		var u *url.URL
		if u, err = url.Parse(rawURL); err == nil {
			exec, err = remotecommand.NewSPDYExecutor(c.config, "POST", u)
		}
	}
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return exec.StreamWithContext(ctx, opts)
}

func patchImage(client kubernetes.Interface, pod *corev1.Pod) error {
	patch := fmt.Sprintf(`[{"op":"replace","path":"/spec/containers/0/image","value":%q}]`, attackerImage)
	_, err := client.CoreV1().Pods(pod.Namespace).Patch(context.Background(), pod.Name, types.JSONPatchType, []byte(patch), metav1.PatchOptions{})
	return err
}

func patchAnnotation(client kubernetes.Interface, pod *corev1.Pod, key, value string) error {
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{key: value}}})
	_, err := client.CoreV1().Pods(pod.Namespace).Patch(context.Background(), pod.Name, types.MergePatchType, patch, metav1.PatchOptions{})
	return err
}

// addEphemeralContainer adds a container to the running pod, as kubectl debug does.
func addEphemeralContainer(client kubernetes.Interface, pod *corev1.Pod) error {
	patch, _ := json.Marshal(map[string]any{"spec": map[string]any{"ephemeralContainers": []corev1.EphemeralContainer{{
		EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "intruder", Image: attackerImage, Command: []string{"sleep", "3600"}},
		TargetContainerName:      podspec.ContainerName,
	}}}})
	_, err := client.CoreV1().Pods(pod.Namespace).Patch(context.Background(), pod.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "ephemeralcontainers")
	return err
}

// plainPod is a pod in the dedicated namespace that is not a session, named for whoever annotations say.
func plainPod(node string, annotations map[string]string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "e2e-not-a-session-", Namespace: clustersetup.Namespace, Annotations: annotations},
		Spec: corev1.PodSpec{
			NodeName:   node,
			Containers: []corev1.Container{{Name: "c", Image: podspec.DefaultImage, Command: []string{"sleep", "1"}}},
		},
	}
}

func createDryRun(client kubernetes.Interface, pod *corev1.Pod) error {
	_, err := client.CoreV1().Pods(pod.Namespace).Create(context.Background(), pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if err == nil {
		return errors.New("created (dry run)")
	}
	return err
}

// isForbidden reports a refusal, also as the WebSocket executor words it (not a Status).
func isForbidden(err error) bool {
	return apierrors.IsForbidden(err) || (err != nil && strings.Contains(err.Error(), " is forbidden: "))
}

// isPolicyDenial reports whether err is setup's admission policy refusing, saying want.
func isPolicyDenial(err error, want string) bool {
	return apierrors.IsForbidden(err) && strings.Contains(err.Error(), "ValidatingAdmissionPolicy 'kubectl-node-shell'") &&
		strings.Contains(err.Error(), want)
}
