package e2e

import (
	"context"
	"encoding/json"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/podspec"
)

// TestListAndGC: a cluster with a live session, a session whose client was killed (its pod
// expired) in another namespace, a pod of ours whose client never renewed it on a node whose
// kubelet then stopped (stale), a foreign pod with a node-shell-like name, and one wearing our
// label. `list` shows ours with the right states and the labelled one as foreign, `gc
// --dry-run` deletes nothing, `gc` deletes exactly the expired and the stale pod, and the live
// session goes on.
func TestListAndGC(t *testing.T) {
	e := newE2E(t)
	other := e.otherNamespace("other")
	ctx := context.Background()

	// Expired: a session in the other namespace whose client is killed.
	dead := e.NodeShell("-n", other, "--heartbeat-timeout", "5s", e.Nodes()[0], "--", "sleep", uniqueSleep()).Start()
	deadPod := e.waitPodIn(other, 30*time.Second)
	dead.AssertOnNode(t, e.Nodes()[0])
	dead.Signal(syscall.SIGKILL)
	dead.Wait(10 * time.Second)

	// Alive: a session that keeps running.
	live := e.NodeShell("--heartbeat-timeout", "10s", e.Nodes()[1], "--", "sleep", uniqueSleep()).Start()
	livePod := e.waitSessionPod(30 * time.Second)
	live.AssertOnNode(t, e.Nodes()[1])

	// Stale: a pod node-shell built, whose client never renewed it, on a node whose kubelet
	// stopped after it ran: its watchdog exits but nobody reports it, so the pod says Running
	// while, by the apiserver's clock, its last heartbeat is older than timeout + margin.
	stalePod := e.createBuiltPod(podspec.Spec{Node: e.Nodes()[2], HeartbeatTimeout: 5 * time.Second})
	// Foreign: a node-shell-like name and an ended container, but not our label.
	foreign := bystanderPod("node-shell-lookalike", e.Nodes()[2])
	foreign.Spec.Containers[0].Command = []string{"true"}
	foreign.Spec.RestartPolicy = corev1.RestartPolicyNever
	foreignPod := e.createPod(foreign)
	// Foreign too: our label and an hour-old heartbeat, on a pod node-shell did not build.
	labelled := bystanderPod("node-shell-labelled", e.Nodes()[2])
	labelled.Labels = map[string]string{podspec.LabelManagedBy: podspec.ManagedByValue}
	labelled.Annotations = map[string]string{
		podspec.AnnotationHeartbeat:        podspec.FormatHeartbeat(time.Now().Add(-time.Hour)),
		podspec.AnnotationHeartbeatTimeout: "1s",
	}
	labelledPod := e.createPod(labelled)

	e.waitContainerStopped(deadPod, 30*time.Second)
	e.waitPhase(stalePod, corev1.PodRunning, 30*time.Second)
	e.waitPhase(foreignPod, corev1.PodSucceeded, 30*time.Second)
	e.waitPhase(labelledPod, corev1.PodRunning, 30*time.Second)
	if err := e.cluster.StopKubelet(ctx, e.Nodes()[2]); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := e.cluster.StartKubelet(context.Background(), e.Nodes()[2]); err != nil {
			t.Errorf("restart the kubelet of %s: %v", e.Nodes()[2], err)
		}
	})
	e.waitListState(stalePod, "stale", time.Minute)

	// list: ours only, with their states. Other tests' namespaces may hold node-shell
	// pods too, so only this test's namespaces are looked at.
	r := e.NodeShellAnyNamespace("list").RunOK()
	states := listStates(string(r.Stdout), e.namespace, other)
	want := map[string]string{
		other + "/" + deadPod.Name:           "expired",
		e.namespace + "/" + livePod.Name:     "alive",
		e.namespace + "/" + stalePod.Name:    "stale",
		e.namespace + "/" + labelledPod.Name: "foreign",
	}
	if diff := cmp.Diff(want, states); diff != "" {
		t.Errorf("list states (-want +got):\n%s\nlist printed:\n%s", diff, r.Stdout)
	}
	if !strings.HasPrefix(string(r.Stdout), "NODE ") || !strings.Contains(string(r.Stdout), "sleep [arguments not recorded]") {
		t.Errorf("list printed:\n%s\nwant a table with the commands", r.Stdout)
	}

	// -o json: the same pods, as a v1 List, with their audit annotations.
	r = e.NodeShellAnyNamespace("list", "-o", "json").RunOK()
	var list struct {
		Kind  string
		Items []corev1.Pod
	}
	if err := json.Unmarshal(r.Stdout, &list); err != nil || list.Kind != "List" {
		t.Fatalf("list -o json: %v (kind %q)\n%s", err, list.Kind, r.Stdout)
	}
	for _, p := range list.Items {
		if p.Name == livePod.Name {
			for _, k := range []string{podspec.AnnotationUser, podspec.AnnotationClientHost, podspec.AnnotationCommand,
				podspec.AnnotationStartedAt, podspec.AnnotationVersion, podspec.AnnotationHeartbeat} {
				if p.Annotations[k] == "" {
					t.Errorf("live pod lacks annotation %s: %v", k, p.Annotations)
				}
			}
			t.Logf("audit annotations of a live session: %v", p.Annotations)
		}
	}

	// gc --dry-run: says what it would delete, deletes nothing.
	r = e.NodeShellAnyNamespace("gc", "--dry-run").RunOK()
	wantGC := []string{other + "/" + deadPod.Name, e.namespace + "/" + stalePod.Name}
	sort.Strings(wantGC)
	if diff := cmp.Diff(wantGC, gcTargets(string(r.Stdout), "would delete pod ", e.namespace, other)); diff != "" {
		t.Errorf("gc --dry-run (-want +got):\n%s\nprinted:\n%s", diff, r.Stdout)
	}
	for _, p := range []*corev1.Pod{deadPod, stalePod, foreignPod, labelledPod, livePod} {
		if _, err := e.client.CoreV1().Pods(p.Namespace).Get(ctx, p.Name, metav1.GetOptions{}); err != nil {
			t.Errorf("pod %s/%s gone after a dry run: %v", p.Namespace, p.Name, err)
		}
	}

	// gc: deletes exactly those.
	r = e.NodeShellAnyNamespace("gc").RunOK()
	if diff := cmp.Diff(wantGC, gcTargets(string(r.Stdout), "deleted pod ", e.namespace, other)); diff != "" {
		t.Errorf("gc (-want +got):\n%s\nprinted:\n%s", diff, r.Stdout)
	}
	for _, p := range []*corev1.Pod{deadPod, stalePod} {
		if _, err := e.client.CoreV1().Pods(p.Namespace).Get(ctx, p.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("pod %s/%s survived gc: %v", p.Namespace, p.Name, err)
		}
	}
	for _, p := range []*corev1.Pod{foreignPod, labelledPod, livePod} {
		got, err := e.client.CoreV1().Pods(p.Namespace).Get(ctx, p.Name, metav1.GetOptions{})
		if err != nil || got.UID != p.UID {
			t.Errorf("gc deleted %s/%s: %v", p.Namespace, p.Name, err)
		}
	}

	// The live session was not disturbed: it ends by a signal, cleanly.
	live.Signal(syscall.SIGTERM)
	if status := live.Wait(20 * time.Second); status != 143 {
		t.Errorf("live session exited %d, want 143; stderr %q", status, live.Stderr())
	}
}

// waitListState waits until `list` judges pod as state (ages are judged by the apiserver's
// clock, so the test asks the plugin rather than computing them).
func (e *E2E) waitListState(pod *corev1.Pod, state string, timeout time.Duration) {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		r := e.NodeShell("list").RunOK()
		got := listStates(string(r.Stdout), pod.Namespace)[pod.Namespace+"/"+pod.Name]
		if got == state {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("list shows %s/%s as %q after %v, want %s:\n%s", pod.Namespace, pod.Name, got, timeout, state, r.Stdout)
		}
		time.Sleep(time.Second)
	}
}

// TestGCSearchesOnlyWhatTheUserMayList: a user who may list pods in one namespace only
// (and neither all pods nor the namespaces) gets that namespace searched, with a warning,
// and gc deletes the leftover there.
func TestGCSearchesOnlyWhatTheUserMayList(t *testing.T) {
	e := newE2E(t)
	// A leftover gc owns: the pod node-shell builds, its client gone, stopped by its watchdog.
	leftoverPod := e.createBuiltPod(podspec.Spec{Node: e.Nodes()[0], HeartbeatTimeout: 5 * time.Second})
	e.waitContainerStopped(leftoverPod, 30*time.Second)

	kubeconfig, err := e.cluster.MintKubeconfig("gc-user")
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig = e.withNamespace(kubeconfig)
	e.grantPods("gc-user", kubeconfig, "list", "delete")
	r := e.NodeShellAnyNamespace("gc").WithKubeconfig(kubeconfig).RunOK()
	if !strings.Contains(string(r.Stderr), "only namespace "+e.namespace+" was searched") {
		t.Errorf("stderr %q, want the warning that only %s was searched", r.Stderr, e.namespace)
	}
	if want := "deleted pod " + e.namespace + "/" + leftoverPod.Name; !strings.Contains(string(r.Stdout), want) {
		t.Errorf("stdout %q, want %q", r.Stdout, want)
	}
	e.waitPodGone(leftoverPod.Name, 5*time.Second)
}

// NodeShellAnyNamespace is NodeShell without the test's -n: for `list` and `gc`, which then
// look in every namespace the user may list.
func (e *E2E) NodeShellAnyNamespace(args ...string) *Invocation {
	e.t.Helper()
	i := e.NodeShell(args...)
	i.args = i.args[2:]
	return i
}

// withNamespace copies kubeconfig with the test's namespace as its context's namespace.
func (e *E2E) withNamespace(kubeconfig string) string {
	e.t.Helper()
	cfg, err := clientcmd.LoadFromFile(kubeconfig)
	if err != nil {
		e.t.Fatal(err)
	}
	cfg.Contexts[cfg.CurrentContext].Namespace = e.namespace
	path := filepath.Join(e.t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		e.t.Fatal(err)
	}
	return path
}

// otherNamespace creates a second namespace for the test, deleted at cleanup.
func (e *E2E) otherNamespace(suffix string) string {
	e.t.Helper()
	name := e.namespace + "-" + suffix
	_, err := e.client.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name: name, Labels: map[string]string{"kubectl-node-shell.io/e2e": "true"}}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		e.t.Fatalf("create namespace %s: %v", name, err)
	}
	e.t.Cleanup(func() {
		_ = e.client.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{})
	})
	return name
}

// waitPodIn waits for a running node-shell pod in namespace.
func (e *E2E) waitPodIn(namespace string, timeout time.Duration) *corev1.Pod {
	e.t.Helper()
	saved := e.namespace
	e.namespace = namespace
	defer func() { e.namespace = saved }()
	return e.waitSessionPod(timeout)
}

// waitPhase waits for the pod to reach phase.
func (e *E2E) waitPhase(pod *corev1.Pod, phase corev1.PodPhase, timeout time.Duration) {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		p, err := e.client.CoreV1().Pods(pod.Namespace).Get(context.Background(), pod.Name, metav1.GetOptions{})
		if err == nil && p.Status.Phase == phase {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	e.t.Fatalf("pod %s/%s not %s after %v", pod.Namespace, pod.Name, phase, timeout)
}

// grantPods lets user do verbs on pods in the test's namespace, and nothing else.
func (e *E2E) grantPods(user, kubeconfig string, verbs ...string) {
	e.t.Helper()
	ctx := context.Background()
	name := "e2e-pods-" + user
	if _, err := e.client.RbacV1().Roles(e.namespace).Create(ctx, &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: verbs}},
	}, metav1.CreateOptions{}); err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.client.RbacV1().RoleBindings(e.namespace).Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: "User", Name: user}},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name},
	}, metav1.CreateOptions{}); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() {
		_ = e.client.RbacV1().RoleBindings(e.namespace).Delete(context.Background(), name, metav1.DeleteOptions{})
		_ = e.client.RbacV1().Roles(e.namespace).Delete(context.Background(), name, metav1.DeleteOptions{})
	})
	e.waitAllowed(kubeconfig, authorizationv1.ResourceAttributes{Namespace: e.namespace, Verb: verbs[0], Resource: "pods"})
}

// listStates reads `list`'s table into NAMESPACE/NAME → STATE, for the given namespaces.
func listStates(table string, namespaces ...string) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(table, "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 6 {
			continue
		}
		for _, ns := range namespaces {
			if strings.HasPrefix(f[1], ns+"/") {
				out[f[1]] = f[len(f)-1]
			}
		}
	}
	return out
}

// gcTargets reads gc's lines (prefix, then NAMESPACE/NAME) for the given namespaces, sorted.
func gcTargets(output, prefix string, namespaces ...string) []string {
	var out []string
	for _, line := range strings.Split(output, "\n") {
		rest, ok := strings.CutPrefix(line, prefix)
		if !ok {
			continue
		}
		target, _, _ := strings.Cut(rest, " ")
		for _, ns := range namespaces {
			if strings.HasPrefix(target, ns+"/") {
				out = append(out, target)
			}
		}
	}
	sort.Strings(out)
	return out
}
