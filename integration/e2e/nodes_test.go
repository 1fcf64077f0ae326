package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-node-shell/kubectl-node-shell/integration/localcluster"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/podspec"
)

// The nodes of the local cluster are one machine: `hostname`, files and processes look the
// same from each. What tells them apart is the pod: spec.nodeName (where the plugin bound it)
// and status.hostIP (the InternalIP of the kubelet that ran it). A SessionWatch records both
// for every node-shell pod created while it runs.
//
// To know it has seen everything up to a moment, a SessionWatch patches a sentinel pod that
// its watch also selects and waits for that event: a watch delivers events in
// resourceVersion order, so every earlier change of a session pod has arrived by then.
const (
	syncNamespace  = "e2e-session-watch"
	syncPodName    = "sync"
	syncManagedBy  = "kubectl-node-shell-e2e-sync"
	syncAnnotation = "kubectl-node-shell.io/e2e-sync"
	syncTimeout    = 30 * time.Second
)

// sessionWatchSelector selects node-shell's pods and the sentinel.
const sessionWatchSelector = podspec.LabelManagedBy + " in (" + podspec.ManagedByValue + "," + syncManagedBy + ")"

// SessionPod is a node-shell pod created while a SessionWatch ran, as last seen.
type SessionPod struct {
	Namespace, Name string
	UID             types.UID
	NodeName        string // spec.nodeName: the node the pod is bound to
	NodeAnnotation  string // the node the plugin says it asked for
	HostIP          string // status.hostIP, written by the kubelet that runs the pod
	Kubelet         string // the node whose InternalIP is HostIP
	Running         bool   // its container was seen running
	Deleted         bool   // seen deleted or marked for deletion
}

func (p SessionPod) String() string {
	return fmt.Sprintf("%s/%s (spec.nodeName %q, node annotation %q, status.hostIP %q of node %q, running %v, deleted %v)",
		p.Namespace, p.Name, p.NodeName, p.NodeAnnotation, p.HostIP, p.Kubelet, p.Running, p.Deleted)
}

// SessionWatch records the node-shell pods created, in any namespace, after it started.
type SessionWatch struct {
	client kubernetes.Interface
	cancel context.CancelFunc

	mu      sync.Mutex
	changed chan struct{} // closed and replaced at every event
	pods    []*SessionPod
	byUID   map[types.UID]*SessionPod
	tokens  map[string]bool // sync tokens the watch delivered
	ended   error           // why the watch stopped delivering, once it has
}

var (
	syncSetup  sync.Mutex
	syncClient kubernetes.Interface // with its own user agent, so audit counts of the plugin's requests never include ours
	syncTokens atomic.Int64
)

// sessionWatchClient returns the client of SessionWatches, with the sentinel pod in place.
func sessionWatchClient(c *localcluster.Cluster) (kubernetes.Interface, error) {
	syncSetup.Lock()
	defer syncSetup.Unlock()
	if syncClient != nil {
		return syncClient, nil
	}
	cfg, err := c.RESTConfig()
	if err != nil {
		return nil, err
	}
	cfg.UserAgent = "kns-e2e-session-watch"
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	ctx := context.Background()
	_, err = client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: syncNamespace}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, fmt.Errorf("create namespace %s: %w", syncNamespace, err)
	}
	// No scheduler binds it and no kubelet runs it: a pod object only, deleted at once with its namespace.
	_, err = client.CoreV1().Pods(syncNamespace).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: syncPodName, Labels: map[string]string{podspec.LabelManagedBy: syncManagedBy}},
		Spec: corev1.PodSpec{
			SchedulerName: "e2e-no-such-scheduler",
			Containers:    []corev1.Container{{Name: "never-runs", Image: podspec.DefaultImage}},
		},
	}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, fmt.Errorf("create the sentinel pod %s/%s: %w", syncNamespace, syncPodName, err)
	}
	syncClient = client
	return client, nil
}

// WatchSessionPods starts recording the node-shell pods created from now on, in every
// namespace; the watch stops at cleanup or with Stop.
func (e *E2E) WatchSessionPods() *SessionWatch {
	e.t.Helper()
	client, err := sessionWatchClient(e.cluster)
	if err != nil {
		e.t.Fatalf("session watch: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e.t.Cleanup(cancel)
	// A fresh resourceVersion: the watch sees every change after this list, nothing before.
	list, err := client.CoreV1().Pods("").List(ctx, metav1.ListOptions{LabelSelector: sessionWatchSelector, Limit: 1})
	if err == nil {
		var w watch.Interface
		w, err = client.CoreV1().Pods("").Watch(ctx, metav1.ListOptions{LabelSelector: sessionWatchSelector, ResourceVersion: list.ResourceVersion})
		if err == nil {
			sw := &SessionWatch{client: client, cancel: cancel, changed: make(chan struct{}),
				byUID: map[types.UID]*SessionPod{}, tokens: map[string]bool{}}
			go sw.record(w)
			return sw
		}
	}
	cancel()
	e.t.Fatalf("watch node-shell pods: %v", err)
	return nil
}

func (w *SessionWatch) record(wi watch.Interface) {
	defer wi.Stop()
	for ev := range wi.ResultChan() {
		if ev.Type == watch.Error {
			w.end(fmt.Errorf("the watch failed: %v", apierrors.FromObject(ev.Object)))
			return
		}
		p, ok := ev.Object.(*corev1.Pod)
		if !ok {
			continue
		}
		w.mu.Lock()
		if p.Labels[podspec.LabelManagedBy] == syncManagedBy {
			w.tokens[p.Annotations[syncAnnotation]] = true
		} else if s := w.byUID[p.UID]; s != nil || ev.Type == watch.Added {
			if s == nil {
				s = &SessionPod{Namespace: p.Namespace, Name: p.Name, UID: p.UID}
				w.byUID[p.UID] = s
				w.pods = append(w.pods, s)
			}
			s.NodeName, s.NodeAnnotation = p.Spec.NodeName, p.Annotations[podspec.AnnotationNode]
			if p.Status.HostIP != "" {
				s.HostIP = p.Status.HostIP
			}
			s.Running = s.Running || containerRunningIn(p)
			s.Deleted = s.Deleted || ev.Type == watch.Deleted || p.DeletionTimestamp != nil
		}
		w.notifyLocked()
		w.mu.Unlock()
	}
	w.end(fmt.Errorf("the apiserver closed the watch"))
}

func (w *SessionWatch) end(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ended == nil {
		w.ended = err
	}
	w.notifyLocked()
}

func (w *SessionWatch) notifyLocked() {
	close(w.changed)
	w.changed = make(chan struct{})
}

func containerRunningIn(p *corev1.Pod) bool {
	for _, cs := range p.Status.ContainerStatuses {
		if cs.State.Running != nil {
			return true
		}
	}
	return false
}

// sync returns once the watch has delivered every change made before it was called.
func (w *SessionWatch) sync() error {
	token := fmt.Sprintf("%d-%d", time.Now().UnixNano(), syncTokens.Add(1))
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, syncAnnotation, token)
	if _, err := w.client.CoreV1().Pods(syncNamespace).Patch(context.Background(), syncPodName, types.MergePatchType,
		[]byte(patch), metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("patch the sentinel pod: %w", err)
	}
	timeout := time.NewTimer(syncTimeout)
	defer timeout.Stop()
	for {
		w.mu.Lock()
		seen, ended, changed := w.tokens[token], w.ended, w.changed
		w.mu.Unlock()
		switch {
		case seen:
			return nil
		case ended != nil:
			return ended
		}
		select {
		case <-changed:
		case <-timeout.C:
			return fmt.Errorf("the watch did not deliver the sentinel's change within %v", syncTimeout)
		}
	}
}

// Created returns the node-shell pods created since the watch started, in the order they
// appeared, each as of the moment Created was called.
func (w *SessionWatch) Created(t testing.TB) []SessionPod {
	t.Helper()
	if err := w.sync(); err != nil {
		t.Fatalf("session watch: %v", err)
	}
	w.mu.Lock()
	pods := make([]SessionPod, len(w.pods))
	for i, p := range w.pods {
		pods[i] = *p
	}
	w.mu.Unlock()
	kubelets := map[string]string{}
	for i := range pods {
		if pods[i].HostIP == "" {
			continue
		}
		if len(kubelets) == 0 {
			nodes, err := w.client.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
			if err != nil {
				t.Fatalf("list nodes: %v", err)
			}
			for _, n := range nodes.Items {
				for _, a := range n.Status.Addresses {
					if a.Type == corev1.NodeInternalIP {
						kubelets[a.Address] = n.Name
					}
				}
			}
		}
		pods[i].Kubelet = kubelets[pods[i].HostIP]
	}
	return pods
}

// Stop ends the watch.
func (w *SessionWatch) Stop() { w.cancel() }

// AssertOnly fails t unless the watch has seen at least one node-shell pod, and every one
// it saw is on node.
func (w *SessionWatch) AssertOnly(t testing.TB, node string) {
	t.Helper()
	assertSessionsOn(t, w.Created(t), node)
}

// AssertOnNode fails t unless the run created at least one node-shell pod, and every one
// on node.
func (r Result) AssertOnNode(t testing.TB, node string) {
	t.Helper()
	assertSessionsOn(t, r.Sessions, node)
}

// AssertNoSession fails t if the run created any node-shell pod.
func (r Result) AssertNoSession(t testing.TB) {
	t.Helper()
	for _, p := range r.Sessions {
		t.Errorf("the run created node-shell pod %s, want none", p)
	}
}

// assertSessionsOn: at least one pod, each bound to node, annotated with node, and run by
// node's kubelet once any kubelet reported on it.
func assertSessionsOn(t testing.TB, pods []SessionPod, node string) {
	t.Helper()
	if len(pods) == 0 {
		t.Errorf("no node-shell pod was created, want a session on node %s", node)
		return
	}
	for _, p := range pods {
		var wrong []string
		if p.NodeName != node {
			wrong = append(wrong, "bound to "+p.NodeName)
		}
		if p.NodeAnnotation != node {
			wrong = append(wrong, "annotated "+p.NodeAnnotation)
		}
		if p.HostIP != "" && p.Kubelet != node {
			wrong = append(wrong, "run by the kubelet of node "+p.Kubelet)
		}
		if p.Running && p.HostIP == "" {
			wrong = append(wrong, "running without a kubelet's status.hostIP")
		}
		if len(wrong) > 0 {
			t.Errorf("session pod %s/%s is %s; want node %s", p.Namespace, p.Name, strings.Join(wrong, ", "), node)
			continue
		}
		t.Logf("session pod %s/%s is on node %s (spec.nodeName, annotation, and the kubelet at status.hostIP %s)", p.Namespace, p.Name, node, p.HostIP)
	}
}

// For is e for subtest t: what it runs reports failures to t and cleans up when t ends, and
// never calls the parent test's Fatal.
func (e *E2E) For(t *testing.T) *E2E {
	sub := *e
	sub.t = t
	return &sub
}

// failureRecorder is a testing.TB whose failures are collected instead of failing the test.
type failureRecorder struct {
	testing.TB
	failures []string
}

func (f *failureRecorder) Errorf(format string, args ...any) {
	f.failures = append(f.failures, fmt.Sprintf(format, args...))
}
func (f *failureRecorder) Logf(string, ...any) {}

// TestSessionWatchTellsNodesApart: the assertion the session tests use can fail. A run on
// the last node records exactly one pod, bound to it and run by its kubelet, seen up to its
// deletion; it fails for any other node; a run that creates no pod fails it too, and a pod
// created before a run is not that run's.
func TestSessionWatchTellsNodesApart(t *testing.T) {
	e := newE2E(t)
	nodes := e.Nodes()
	node := nodes[len(nodes)-1]
	before := e.NodeShell(nodes[0], "--", "true").RunOK()
	before.AssertOnNode(t, nodes[0])

	r := e.NodeShell(node, "--", "true").RunOK()
	if len(r.Sessions) != 1 {
		t.Fatalf("the run recorded %d pods, want 1: %v", len(r.Sessions), r.Sessions)
	}
	p := r.Sessions[0]
	t.Logf("recorded %s", p)
	if p.NodeName != node || p.Kubelet != node || !p.Running || !p.Deleted || p.UID == before.Sessions[0].UID {
		t.Errorf("recorded %s; want this run's pod on %s, run by its kubelet, seen running and deleted", p, node)
	}
	r.AssertOnNode(t, node)

	for _, other := range nodes[:len(nodes)-1] {
		rec := &failureRecorder{TB: t}
		r.AssertOnNode(rec, other)
		if len(rec.failures) == 0 {
			t.Errorf("a session on %s passed the assertion for node %s", node, other)
		}
		t.Logf("asserting node %s of a session on %s: %q", other, node, rec.failures)
	}

	none := e.NodeShell(node+"3", "--", "true").Run() // no such node: refused before any pod exists
	rec := &failureRecorder{TB: t}
	none.AssertOnNode(rec, node)
	if none.Status == 0 || len(none.Sessions) != 0 || len(rec.failures) == 0 {
		t.Errorf("a run without a pod: status %d, %d pods, assertion failures %q; want a failure, no pod, and the assertion failing",
			none.Status, len(none.Sessions), rec.failures)
	}
}
