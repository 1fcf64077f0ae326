package e2e

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
)

// A broken node is said to be broken in seconds: a dead kubelet by its Lease, a dead
// container runtime by the node's condition (or the kubelet's failed call), a pod that
// cannot start by its events. Faults go to the last node; cleanups restart what they stop.

// leaseAge is how the error names the kubelet's silence: by the lease's age or, when the
// clocks cannot tell it, by how long node-shell watched it.
var leaseAge = regexp.MustCompile(`its lease \(kube-node-lease/[0-9.]+\) has not been renewed (for|in the) \d+s`)

// TestBrokenNodeKubeletKilledBeforeSession: the node is still Ready (for ~50 s), but its
// kubelet's Lease is no longer renewed: the session fails within 20 s naming the kubelet and
// the lease's age, well before the node controller or --pod-running-timeout would.
func TestBrokenNodeKubeletKilledBeforeSession(t *testing.T) {
	e := newE2E(t)
	node := e.Nodes()[2]
	killed := e.stopKubelet(node)

	r := e.NodeShell("--pod-running-timeout", "2m", node, "--", "true").Run()
	t.Logf("failed %v after the kubelet was killed: %s", time.Since(killed).Round(time.Millisecond), r.Stderr)
	e.assertFailed(r, 20*time.Second, "the kubelet on node "+node+" is not running or cannot reach the apiserver",
		"a live kubelet renews it every 10s", "restart the kubelet through the node's console or SSH")
	r.AssertOnNode(t, node)
	if !leaseAge.Match(r.Stderr) {
		t.Errorf("stderr = %q, want the lease's age", r.Stderr)
	}
}

// TestBrokenNodeContainerdKilledBeforeSession: with the node's containerd gone, the kubelet
// fails its calls to it, and later reports the node Ready=False: either way the session
// fails within 20 s naming the container runtime, and never blames an image pull.
func TestBrokenNodeContainerdKilledBeforeSession(t *testing.T) {
	e := newE2E(t)
	node := e.Nodes()[2]
	killed := e.stopContainerd(node)

	r := e.NodeShell("--pod-running-timeout", "2m", node, "--", "true").Run()
	t.Logf("failed %v after containerd was killed: %s", time.Since(killed).Round(time.Millisecond), r.Stderr)
	e.assertFailed(r, 20*time.Second, "the container runtime on node "+node,
		"restart the container runtime (containerd or CRI-O) through the node's console or SSH")
	r.AssertOnNode(t, node)
	assertNoPullHint(t, r.Stderr)

	// Once the kubelet reports the runtime down, the node's condition says it: for a user
	// who may watch the node but not events (the sandbox event would say it too).
	reported := e.waitRuntimeDown(node, 90*time.Second)
	t.Logf("the node reported its runtime down %v after containerd was killed", reported.Sub(killed).Round(time.Millisecond))
	user := "e2e-node-watcher"
	kubeconfig, err := e.cluster.MintKubeconfig(user)
	if err != nil {
		t.Fatal(err)
	}
	e.grant(user, rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods", "pods/exec"}, Verbs: []string{"create", "watch", "delete", "patch"}})
	e.grantClusterWide(user, rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"nodes"}, Verbs: []string{"watch"}})
	e.waitAllowed(kubeconfig, authorizationv1.ResourceAttributes{Verb: "create", Resource: "pods", Subresource: "exec", Namespace: e.namespace})
	e.waitAllowed(kubeconfig, authorizationv1.ResourceAttributes{Verb: "watch", Resource: "nodes"})
	r = e.NodeShell("--pod-running-timeout", "2m", node, "--", "true").WithKubeconfig(kubeconfig).Run()
	e.assertFailed(r, 5*time.Second, "the container runtime on node "+node+" is down (Ready=False for ",
		"KubeletNotReady: container runtime is down", "restart the container runtime (containerd or CRI-O) through the node's console or SSH")
	r.AssertOnNode(t, node)
	assertNoPullHint(t, r.Stderr)
}

// TestBrokenNodeKubeletKilledWhileWaiting: a session waits for its image (a registry that
// never answers); the kubelet dies meanwhile: the session fails within 20 s of the kill.
func TestBrokenNodeKubeletKilledWhileWaiting(t *testing.T) {
	e := newE2E(t)
	node := e.Nodes()[2]
	w := e.startWaitingSession(node)
	killed := e.stopKubelet(node)
	r := w.wait(t)
	lag := time.Since(killed)
	t.Logf("failed %v after the kubelet was killed: %s", lag.Round(time.Millisecond), r.Stderr)
	e.assertFailed(r, 2*time.Minute, "the kubelet on node "+node+" is not running or cannot reach the apiserver",
		"restart the kubelet through the node's console or SSH")
	if lag > 20*time.Second {
		t.Errorf("failed %v after the kubelet was killed, want within 20s", lag)
	}
	if !leaseAge.Match(r.Stderr) {
		t.Errorf("stderr = %q, want the lease's age", r.Stderr)
	}
	w.sessions.AssertOnly(t, node)
}

// TestBrokenNodeContainerdKilledWhileWaiting: a session waits for its image; containerd
// dies meanwhile, cutting the pull: the session fails within 20 s of the kill, naming the
// runtime, not the image.
func TestBrokenNodeContainerdKilledWhileWaiting(t *testing.T) {
	e := newE2E(t)
	node := e.Nodes()[2]
	w := e.startWaitingSession(node)
	killed := e.stopContainerd(node)
	r := w.wait(t)
	lag := time.Since(killed)
	t.Logf("failed %v after containerd was killed: %s", lag.Round(time.Millisecond), r.Stderr)
	e.assertFailed(r, 2*time.Minute, "the container runtime on node "+node,
		"restart the container runtime (containerd or CRI-O) through the node's console or SSH")
	if lag > 20*time.Second {
		t.Errorf("failed %v after containerd was killed, want within 20s", lag)
	}
	assertNoPullHint(t, r.Stderr)
	w.sessions.AssertOnly(t, node)
}

// TestBrokenNodeDiskFullEventEndsTheWait: the node's pod log directory is on a full
// filesystem, so the kubelet cannot create the pod's sandbox and says so in an event, and
// keeps retrying: the session ends within 2 s of the event, with its message on one line.
func TestBrokenNodeDiskFullEventEndsTheWait(t *testing.T) {
	e := newE2E(t)
	node := e.Nodes()[2]
	if err := e.cluster.FillPodLogsDir(context.Background(), node); err != nil {
		t.Fatalf("fill the pod log directory of %s: %v", node, err)
	}
	t.Cleanup(func() {
		if err := e.cluster.FreePodLogsDir(context.Background(), node); err != nil {
			t.Errorf("free the pod log directory of %s: %v", node, err)
		}
	})
	warned := e.watchFirstEvent(func(ev *corev1.Event) bool {
		return ev.Type == corev1.EventTypeWarning && ev.Reason == "FailedCreatePodSandBox"
	})

	r := e.NodeShell("--pod-running-timeout", "2m", node, "--", "true").Run()
	exited := time.Now()
	e.assertFailed(r, 10*time.Second, "node "+node+" is out of disk space: the filesystem that holds /",
		"/pod-logs/"+e.namespace+"_node-shell-", "is full (FailedCreatePodSandBox: mkdir /", ": no space left on device)",
		"free space there through the node's console or SSH (df -h /")
	r.AssertOnNode(t, node)
	select {
	case ev := <-warned:
		lag := exited.Sub(ev.at)
		t.Logf("node-shell exited %v after the kubelet's event %q (run took %v)", lag.Round(time.Millisecond), ev.event.Message, r.Elapsed.Round(time.Millisecond))
		if lag > 2*time.Second {
			t.Errorf("node-shell exited %v after the event, want within 2s", lag)
		}
		if msg := strings.TrimPrefix(ev.event.Message, "Failed to create pod sandbox: "); !bytes.Contains(r.Stderr, []byte(msg)) {
			t.Errorf("stderr = %q, want the event's message %q", r.Stderr, msg)
		}
	default:
		t.Errorf("the test's watch never saw a FailedCreatePodSandBox event")
	}
}

// assertNoPullHint: nothing suggests that the image is at fault or slow (the cause may
// quote the kubelet's "Failed to pull image …" when the runtime died under a pull).
// TestBrokenNodeWatchesNeedNoRights: the node-health watches are best effort. A user with
// only the rights a session needs (no watch on leases, nodes or events) gets the session
// all the same: on the disk-full node, the watches are refused once each and the session
// waits as it did before them, until --pod-running-timeout.
func TestBrokenNodeWatchesNeedNoRights(t *testing.T) {
	e := newE2E(t)
	node := e.Nodes()[2]
	user := "e2e-no-health-watches"
	kubeconfig, err := e.cluster.MintKubeconfig(user)
	if err != nil {
		t.Fatal(err)
	}
	e.grant(user, rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods", "pods/exec"}, Verbs: []string{"create", "watch", "delete", "patch"}})
	e.waitAllowed(kubeconfig, authorizationv1.ResourceAttributes{Verb: "create", Resource: "pods", Subresource: "exec", Namespace: e.namespace})
	e.waitAllowed(kubeconfig, authorizationv1.ResourceAttributes{Verb: "get", Resource: "nodes"})
	if err := e.cluster.FillPodLogsDir(context.Background(), node); err != nil {
		t.Fatalf("fill the pod log directory of %s: %v", node, err)
	}
	t.Cleanup(func() {
		if err := e.cluster.FreePodLogsDir(context.Background(), node); err != nil {
			t.Errorf("free the pod log directory of %s: %v", node, err)
		}
	})

	r := e.NodeShell("--pod-running-timeout", "5s", node, "--", "true").WithKubeconfig(kubeconfig).Run()
	e.assertFailed(r, 10*time.Second, "the pod on node "+node+" did not start within 5s")
	r.AssertOnNode(t, node)
	for _, resource := range []string{"leases", "nodes", "events"} {
		if n := e.auditLines(user, `"verb":"watch"`, `"resource":"`+resource+`"`, `"stage":"ResponseComplete"`, `"code":403`); n != 1 {
			t.Errorf("%d refused watch(es) of %s from %s, want the one try", n, resource, user)
		}
	}
}

// TestBrokenNodeKubeletCertificateUntrusted: the kubelet's serving certificate is signed by
// a CA the apiserver does not trust: the pod runs, the exec fails on the apiserver → kubelet
// hop, and the message blames the kubelet's certificate, not the user's credentials.
func TestBrokenNodeKubeletCertificateUntrusted(t *testing.T) {
	e := newE2E(t)
	node := e.Nodes()[1]
	if err := e.cluster.UntrustKubeletCert(context.Background(), node); err != nil {
		t.Fatalf("untrust the kubelet's certificate on %s: %v", node, err)
	}
	t.Cleanup(func() {
		if err := e.cluster.TrustKubeletCert(context.Background(), node); err != nil {
			t.Errorf("restore the kubelet's certificate on %s: %v", node, err)
		}
	})
	r := e.NodeShell(node, "--", "true").Run()
	// The test's CA has the cluster CA's name, as a CA made again often has: Go adds
	// "(possibly because of …)".
	e.assertFailed(r, 10*time.Second,
		"the apiserver rejects the serving certificate of the kubelet on node "+node+" (x509: certificate signed by unknown authority",
		"): the kubelet's certificate is at fault, not your credentials; renew the kubelet's serving certificate on node "+node+" through the node's console or SSH")
	r.AssertOnNode(t, node)
	if bytes.Contains(r.Stderr, []byte("log in again")) || bytes.Contains(r.Stderr, []byte("kubeconfig")) {
		t.Errorf("stderr = %q, want no hint at the user's credentials", r.Stderr)
	}
}

func assertNoPullHint(t *testing.T, stderr []byte) {
	t.Helper()
	for _, hint := range []string{"--pod-running-timeout", "--image", "slow to pull", "cannot pull image"} {
		if bytes.Contains(stderr, []byte(hint)) {
			t.Errorf("stderr = %q, want no hint of an image pull (%q)", stderr, hint)
		}
	}
}

// stopKubelet stops node's kubelet (the node stays Ready for a while) and returns when it
// was gone; cleanup starts it again.
func (e *E2E) stopKubelet(node string) time.Time {
	e.t.Helper()
	pluginBinary(e.t) // built first: "just before a session" means just before
	e.waitLease(node)
	stopping := time.Now()
	if err := e.cluster.StopKubelet(context.Background(), node); err != nil {
		e.t.Fatalf("stop kubelet on %s: %v", node, err)
	}
	killed := time.Now()
	e.t.Logf("the kubelet on %s took %v to stop", node, killed.Sub(stopping).Round(time.Millisecond))
	e.t.Cleanup(func() {
		if err := e.cluster.StartKubelet(context.Background(), node); err != nil {
			e.t.Errorf("start kubelet on %s again: %v", node, err)
		}
	})
	return killed
}

// grantClusterWide gives user rule everywhere, until the test ends.
func (e *E2E) grantClusterWide(user string, rule rbacv1.PolicyRule) {
	e.t.Helper()
	ctx := context.Background()
	name := "e2e-grant-cluster-" + user
	_, err := e.client.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: []rbacv1.PolicyRule{rule}}, metav1.CreateOptions{})
	if err == nil {
		_, err = e.client.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: user}},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name}}, metav1.CreateOptions{})
	}
	if err != nil {
		e.t.Fatalf("grant %s cluster-wide: %v", user, err)
	}
	e.t.Cleanup(func() {
		_ = e.client.RbacV1().ClusterRoleBindings().Delete(context.Background(), name, metav1.DeleteOptions{})
		_ = e.client.RbacV1().ClusterRoles().Delete(context.Background(), name, metav1.DeleteOptions{})
	})
}

// waitLease waits until node's kubelet has made its Lease: a kubelet that has just
// started makes it a few seconds after it registers the node.
func (e *E2E) waitLease(node string) {
	e.t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		l, err := e.client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(context.Background(), node, metav1.GetOptions{})
		if err == nil && l.Spec.RenewTime != nil {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("node %s has no Lease after 30s: %v", node, err)
		}
	}
}

// waitRuntimeDown waits until node reports its container runtime down, and returns when.
func (e *E2E) waitRuntimeDown(node string, timeout time.Duration) time.Time {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	w, err := e.client.CoreV1().Nodes().Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + node})
	if err != nil {
		e.t.Fatalf("watch node %s: %v", node, err)
	}
	defer w.Stop()
	for ev := range w.ResultChan() {
		if n, ok := ev.Object.(*corev1.Node); ok {
			for _, c := range n.Status.Conditions {
				if c.Type == corev1.NodeReady && c.Status == corev1.ConditionFalse && strings.Contains(c.Message, "container runtime is down") {
					e.t.Logf("node %s: Ready=False, %s: %s", node, c.Reason, c.Message)
					return time.Now()
				}
			}
		}
	}
	e.t.Fatalf("node %s did not report its container runtime down within %v", node, timeout)
	return time.Time{}
}

// stopContainerd stops node's containerd and returns when it was gone; cleanup starts it
// again.
func (e *E2E) stopContainerd(node string) time.Time {
	e.t.Helper()
	pluginBinary(e.t)
	stopping := time.Now()
	if err := e.cluster.StopContainerd(context.Background(), node); err != nil {
		e.t.Fatalf("stop containerd on %s: %v", node, err)
	}
	killed := time.Now()
	e.t.Logf("containerd on %s took %v to stop", node, killed.Sub(stopping).Round(time.Millisecond))
	e.t.Cleanup(func() {
		if err := e.cluster.StartContainerd(context.Background(), node); err != nil {
			e.t.Errorf("start containerd on %s again: %v", node, err)
		}
	})
	return killed
}

// waitingSession is a node-shell run that waits for its pod: the kubelet is pulling an
// image from a registry that never answers.
type waitingSession struct {
	done     chan Result
	sessions *SessionWatch
}

// startWaitingSession starts a session on node whose image comes from hangingRegistry, and
// returns once the node's containerd has asked that registry for it: the pod is waiting.
func (e *E2E) startWaitingSession(node string) *waitingSession {
	e.t.Helper()
	image, asked := e.hangingRegistry()
	w := &waitingSession{done: make(chan Result, 1), sessions: e.WatchSessionPods()}
	e.t.Cleanup(w.sessions.Stop)
	cmd := e.NodeShell("--image", image, "--pod-running-timeout", "2m", node, "--", "true").Command()
	go func() { w.done <- e.runStarted(cmd) }()
	select {
	case <-asked:
	case r := <-w.done:
		e.t.Fatalf("node-shell ended before its image was pulled: status %d, stderr %q", r.Status, r.Stderr)
	case <-time.After(30 * time.Second):
		e.t.Fatalf("the node never asked the registry for %s", image)
	}
	return w
}

func (w *waitingSession) wait(t *testing.T) Result {
	t.Helper()
	select {
	case r := <-w.done:
		return r
	case <-time.After(2 * time.Minute):
		t.Fatalf("node-shell still waiting 2 minutes after the fault")
	}
	return Result{}
}

// runStarted runs cmd to completion (killed after 3 minutes) from a goroutine, where
// runCommand's t.Fatalf cannot be used.
func (e *E2E) runStarted(c *exec.Cmd) Result {
	var stdout, stderr bytes.Buffer
	c.Stdout, c.Stderr = &stdout, &stderr
	start := time.Now()
	if err := c.Start(); err != nil {
		return Result{Status: -1, Stderr: []byte(err.Error())}
	}
	timer := time.AfterFunc(3*time.Minute, func() { _ = c.Process.Kill() })
	defer timer.Stop()
	_ = c.Wait()
	return Result{Stdout: stdout.Bytes(), Stderr: stderr.Bytes(), Status: c.ProcessState.ExitCode(), Elapsed: time.Since(start)}
}

// hangingRegistry serves, on loopback, a registry that accepts every request and never
// answers (containerd speaks plain HTTP to a loopback registry), until the test ends. It
// returns an image reference on it and a channel that is closed at the first request.
func (e *E2E) hangingRegistry() (image string, asked <-chan struct{}) {
	e.t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		e.t.Fatal(err)
	}
	first := make(chan struct{})
	var once sync.Once
	ended := make(chan struct{})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.t.Logf("registry asked: %s %s", r.Method, r.URL.Path)
		once.Do(func() { close(first) })
		select {
		case <-r.Context().Done():
		case <-ended:
		}
	})}
	go func() { _ = srv.Serve(l) }()
	e.t.Cleanup(func() {
		close(ended)
		_ = srv.Close()
	})
	return l.Addr().String() + "/node-shell/hang:1", first
}

type firstEvent struct {
	at    time.Time
	event *corev1.Event
}

// watchFirstEvent reports, once, the first event in the test's namespace that matches.
func (e *E2E) watchFirstEvent(match func(*corev1.Event) bool) <-chan firstEvent {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	e.t.Cleanup(cancel)
	w, err := e.client.CoreV1().Events(e.namespace).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		e.t.Fatalf("watch events: %v", err)
	}
	seen := make(chan firstEvent, 1)
	go func() {
		defer w.Stop()
		for ev := range w.ResultChan() {
			if x, ok := ev.Object.(*corev1.Event); ok && ev.Type != watch.Deleted && match(x) {
				seen <- firstEvent{at: time.Now(), event: x}
				return
			}
		}
	}()
	return seen
}
