package e2e

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/podspec"
)

// Attacks on node-shell's cleanup and audit trail (issue 11), each mounted for real.

// TestCleanupSparesLookalikes: a tenant's StatefulSet whose pod wears node-shell's label, an
// hour-old heartbeat and a 1 s timeout (judged stale, and force-deleted, by the label alone
// before) survives another user's session start and gc; a real leftover beside it, a pod
// node-shell built whose client never renewed it, is still collected, and the sweep says so.
func TestCleanupSparesLookalikes(t *testing.T) {
	e := newE2E(t)
	ctx := context.Background()
	lookalike := map[string]string{"app": "db", podspec.LabelManagedBy: podspec.ManagedByValue}
	sts := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: e.namespace},
		Spec: appsv1.StatefulSetSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: lookalike, Annotations: map[string]string{
					podspec.AnnotationHeartbeat:        podspec.FormatHeartbeat(time.Now().Add(-time.Hour)),
					podspec.AnnotationHeartbeatTimeout: "1s",
				}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "db", Image: podspec.DefaultImage, Command: []string{"sleep", "3600"}}}},
			},
		},
	}
	if _, err := e.client.AppsV1().StatefulSets(e.namespace).Create(ctx, sts, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.deleteStatefulSet("db") }) // before newE2E's check that no pod wears our label
	db := e.waitPodExists("db-0", 30*time.Second)

	leftover := e.createBuiltPod(podspec.Spec{Node: e.Nodes()[1], HeartbeatTimeout: 5 * time.Second})
	e.waitContainerStopped(leftover, 30*time.Second)

	bob, err := e.cluster.MintKubeconfig("bob", "system:masters")
	if err != nil {
		t.Fatal(err)
	}
	r := e.NodeShell(e.Nodes()[2], "--", "true").WithKubeconfig(bob).RunOK()
	r.AssertOnNode(t, e.Nodes()[2])
	wantSweep := fmt.Sprintf("warning: removed 1 leftover node-shell pod(s) in namespace %s: %s on node %s (",
		e.namespace, leftover.Name, e.Nodes()[1])
	if !strings.Contains(string(r.Stderr), wantSweep) {
		t.Errorf("stderr = %q, want the sweep's one line %q…", r.Stderr, wantSweep)
	}
	e.waitPodGone(leftover.Name, 10*time.Second)
	e.assertSamePod(db)

	r = e.NodeShell("list").RunOK()
	if got := listStates(string(r.Stdout), e.namespace)[e.namespace+"/db-0"]; got != "foreign" {
		t.Errorf("list shows db-0 as %q, want foreign:\n%s", got, r.Stdout)
	}
	r = e.NodeShell("gc").RunOK()
	if strings.Contains(string(r.Stdout), "db-0") {
		t.Errorf("gc printed %q, want db-0 left alone", r.Stdout)
	}
	e.assertSamePod(db)
}

// TestSlowClientClockDoesNotKillALiveSession: a session whose client's clock is 200 s slow
// (every heartbeat value it writes lags by 200 s, more than its timeout plus any margin)
// survives another user's session start and gc, and its pod keeps running past its
// timeout. The client is played by the test, writing exactly what such a client writes.
func TestSlowClientClockDoesNotKillALiveSession(t *testing.T) {
	e := newE2E(t)
	ctx := context.Background()
	const skew = -200 * time.Second
	timeout := 10 * time.Second
	slowNow := func() time.Time { return time.Now().Add(skew) }
	pod := e.createBuiltPod(podspec.Spec{Node: e.Nodes()[1], HeartbeatTimeout: timeout, Heartbeat: podspec.FormatHeartbeat(slowNow())})
	created := time.Now()
	e.waitPhase(pod, corev1.PodRunning, 30*time.Second)
	first := managedFieldsTime(t, pod)

	renewCtx, stopRenewing := context.WithCancel(ctx)
	var renewals sync.WaitGroup
	renewals.Go(func() {
		tick := time.NewTicker(timeout / 4)
		defer tick.Stop()
		for {
			select {
			case <-renewCtx.Done():
				return
			case <-tick.C:
			}
			patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"uid": pod.UID,
				"annotations": map[string]string{podspec.AnnotationHeartbeat: podspec.FormatHeartbeat(slowNow())}}})
			_, err := e.client.CoreV1().Pods(pod.Namespace).Patch(renewCtx, pod.Name, types.MergePatchType, patch,
				metav1.PatchOptions{FieldManager: podspec.FieldManager})
			if err != nil && renewCtx.Err() == nil {
				t.Errorf("heartbeat: %v", err)
			}
		}
	})
	defer func() { stopRenewing(); renewals.Wait() }()

	// The apiserver stamps every renewal by its own clock: the record moves on.
	if err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 3*timeout, true, func(ctx context.Context) (bool, error) {
		p, err := e.client.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
		return err == nil && managedFieldsTime(t, p).After(first), nil
	}); err != nil {
		t.Fatalf("the managedFields time of %s never moved past %v", podspec.FieldManager, first)
	}

	bob, err := e.cluster.MintKubeconfig("bob", "system:masters")
	if err != nil {
		t.Fatal(err)
	}
	r := e.NodeShell(e.Nodes()[0], "--", "true").WithKubeconfig(bob).RunOK()
	if strings.Contains(string(r.Stderr), "removed") {
		t.Errorf("another user's session start removed something: %q", r.Stderr)
	}
	r = e.NodeShell("gc").RunOK()
	if strings.Contains(string(r.Stdout), pod.Name) {
		t.Errorf("gc printed %q, want the live session left alone", r.Stdout)
	}
	r = e.NodeShell("list").RunOK()
	if got := listStates(string(r.Stdout), e.namespace)[e.namespace+"/"+pod.Name]; got != "alive" {
		t.Errorf("list shows the slow client's session as %q, want alive:\n%s", got, r.Stdout)
	}
	// The watchdog compares values, not times: renewed, the pod outlives its timeout.
	time.Sleep(time.Until(created.Add(timeout + 5*time.Second)))
	e.assertSamePod(pod)
	p, err := e.client.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
	if err != nil || p.Status.Phase != corev1.PodRunning || len(p.Status.ContainerStatuses) == 0 || p.Status.ContainerStatuses[0].State.Running == nil {
		t.Fatalf("the slow client's session pod stopped: %v %+v", err, p.Status)
	}

	// It ends normally: the client stops and deletes its pod.
	stopRenewing()
	renewals.Wait()
	if err := e.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &pod.UID}}); err != nil {
		t.Fatal(err)
	}
	e.waitPodGone(pod.Name, 10*time.Second)
}

// TestFullNodeFailsFastWithoutEvicting: on a node at its kubelet's pod limit, a session fails
// fast naming the cause and the flag, and every pod on the node keeps running; with the
// flag, the kubelet makes room and the session runs.
func TestFullNodeFailsFastWithoutEvicting(t *testing.T) {
	e := newE2E(t)
	ctx := context.Background()
	node := e.Nodes()[2]
	const limit = 3
	if err := e.cluster.SetMaxPods(ctx, node, limit); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := e.cluster.SetMaxPods(context.Background(), node, 0); err != nil {
			t.Errorf("restore the pod limit of %s: %v", node, err)
		}
	})
	var fillers []*corev1.Pod
	for i := range limit {
		fillers = append(fillers, e.createPod(bystanderPod(fmt.Sprintf("filler-%d", i), node)))
	}
	for _, f := range fillers {
		e.waitPhase(f, corev1.PodRunning, 60*time.Second)
	}

	r := e.NodeShell(node, "--", "true").Run()
	e.assertFailed(r, 20*time.Second, "node "+node+" is at its pod limit", "no pod was evicted", "--priority-class system-node-critical")
	t.Logf("a full node is reported in %v", r.Elapsed.Round(time.Millisecond))
	for _, f := range fillers {
		e.assertSamePod(f)
		p, err := e.client.CoreV1().Pods(f.Namespace).Get(ctx, f.Name, metav1.GetOptions{})
		if err != nil || p.Status.Phase != corev1.PodRunning {
			t.Errorf("filler %s is %v (%v) after the refused session, want Running", f.Name, p.Status.Phase, err)
		}
	}

	r = e.NodeShell("--priority-class", podspec.CriticalPriorityClass, node, "--", "echo", "made room").RunOK()
	r.AssertOnNode(t, node)
	if strings.TrimSpace(string(r.Stdout)) != "made room" {
		t.Errorf("stdout = %q", r.Stdout)
	}
}

// TestCommandArgumentsStayOffThePod: anyone with `get pods` reads annotations, so a
// command's arguments (a password here) are never written on the pod unless asked for; the
// user is written at create, as the apiserver authenticated them.
func TestCommandArgumentsStayOffThePod(t *testing.T) {
	e := newE2E(t)
	annotations := e.recordAnnotations()
	r := e.NodeShell(e.Nodes()[1], "--", "sh", "-c", "echo SECRET-hunter2 >/dev/null; echo done").RunOK()
	r.AssertOnNode(t, e.Nodes()[1])
	seen := annotations.stop()
	if len(seen) == 0 {
		t.Fatal("the watch saw no session pod")
	}
	for i, a := range seen {
		for k, v := range a {
			if strings.Contains(v, "SECRET") {
				t.Errorf("annotation %s = %q holds the command's arguments", k, v)
			}
		}
		if got := a[podspec.AnnotationCommand]; got != "sh [arguments not recorded]" {
			t.Errorf("command annotation = %q, want the program only", got)
		}
		if i == 0 && a[podspec.AnnotationUser] != "localcluster-admin" {
			t.Errorf("user annotation at create = %q, want the authenticated user localcluster-admin", a[podspec.AnnotationUser])
		}
	}

	annotations = e.recordAnnotations()
	e.NodeShell("--record-command", e.Nodes()[0], "--", "echo", "visible").RunOK()
	seen = annotations.stop()
	if len(seen) == 0 || seen[0][podspec.AnnotationCommand] != "echo visible" {
		t.Errorf("with --record-command, annotations = %v, want the whole command", seen)
	}
}

// TestPolicyRefusalsPointToTheSafePath: a Pod Security refusal and an admission webhook's
// refusal each end in one line pointing to node-shell's own namespace, never to relabelling
// a namespace, kube-system, or an exemption by label (anyone who creates pods sets labels).
func TestPolicyRefusalsPointToTheSafePath(t *testing.T) {
	e := newE2E(t)
	unsafe := []string{"kube-system", "enforce=privileged", "kubectl label", "label app.kubernetes.io"}
	check := func(r Result, want ...string) {
		t.Helper()
		e.assertFailed(r, 5*time.Second, append(want, "-n node-shell", "kubectl node-shell setup")...)
		for _, u := range unsafe {
			if strings.Contains(string(r.Stderr), u) {
				t.Errorf("stderr %q suggests %q", r.Stderr, u)
			}
		}
	}

	e.labelNamespace("pod-security.kubernetes.io/enforce", "baseline")
	check(e.NodeShell(e.Nodes()[0], "--", "true").Run(), "Pod Security admission in namespace "+e.namespace)
	e.labelNamespace("pod-security.kubernetes.io/enforce", "privileged")

	e.denyByWebhook("node shells need a change ticket")
	r := e.NodeShell(e.Nodes()[0], "--", "true").Run()
	check(r, "an admission webhook refused the pod", "node shells need a change ticket", "never a label")
}

// --- helpers ---

// createBuiltPod creates, in the test's namespace, the pod podspec.Build makes for spec, as
// node-shell creates it (its field manager), with no client to renew its heartbeat.
func (e *E2E) createBuiltPod(spec podspec.Spec) *corev1.Pod {
	e.t.Helper()
	spec.Namespace = e.namespace
	if spec.Heartbeat == "" {
		spec.Heartbeat = podspec.FormatHeartbeat(time.Now())
	}
	pod, err := podspec.Build(spec)
	if err != nil {
		e.t.Fatal(err)
	}
	created, err := e.client.CoreV1().Pods(e.namespace).Create(context.Background(), pod, metav1.CreateOptions{FieldManager: podspec.FieldManager})
	if err != nil {
		e.t.Fatalf("create a pod as node-shell builds it: %v", err)
	}
	e.t.Cleanup(func() {
		_ = e.client.CoreV1().Pods(e.namespace).Delete(context.Background(), created.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &created.UID}})
		e.waitPodGone(created.Name, 30*time.Second)
	})
	return created
}

// managedFieldsTime is when the apiserver last recorded a write by node-shell's field manager.
func managedFieldsTime(t *testing.T, pod *corev1.Pod) time.Time {
	t.Helper()
	for _, mf := range pod.ManagedFields {
		if mf.Manager == podspec.FieldManager && mf.Subresource == "" && mf.Time != nil {
			return mf.Time.Time
		}
	}
	t.Fatalf("pod %s has no managedFields entry of %s: %+v", pod.Name, podspec.FieldManager, pod.ManagedFields)
	return time.Time{}
}

// waitPodExists waits for a pod of the test's namespace to exist (a controller makes it).
func (e *E2E) waitPodExists(name string, timeout time.Duration) *corev1.Pod {
	e.t.Helper()
	var pod *corev1.Pod
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		p, err := e.client.CoreV1().Pods(e.namespace).Get(ctx, name, metav1.GetOptions{})
		pod = p
		return err == nil, nil
	})
	if err != nil {
		e.t.Fatalf("pod %s/%s does not exist after %v", e.namespace, name, timeout)
	}
	return pod
}

// assertSamePod fails unless pod still exists, not deleted and not replaced (same UID).
func (e *E2E) assertSamePod(pod *corev1.Pod) {
	e.t.Helper()
	p, err := e.client.CoreV1().Pods(pod.Namespace).Get(context.Background(), pod.Name, metav1.GetOptions{})
	switch {
	case err != nil:
		e.t.Errorf("pod %s/%s: %v", pod.Namespace, pod.Name, err)
	case p.UID != pod.UID:
		e.t.Errorf("pod %s/%s was deleted and replaced (UID %s, was %s)", pod.Namespace, pod.Name, p.UID, pod.UID)
	case p.DeletionTimestamp != nil:
		e.t.Errorf("pod %s/%s is being deleted", pod.Namespace, pod.Name)
	}
}

// deleteStatefulSet deletes a StatefulSet of the test's namespace and waits until its pods are gone.
func (e *E2E) deleteStatefulSet(name string) {
	ctx := context.Background()
	_ = e.client.AppsV1().StatefulSets(e.namespace).Delete(ctx, name, metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationForeground)})
	_ = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		pods, err := e.client.CoreV1().Pods(e.namespace).List(ctx, metav1.ListOptions{LabelSelector: "app=" + name})
		if err != nil {
			return false, nil
		}
		for _, p := range pods.Items {
			_ = e.client.CoreV1().Pods(e.namespace).Delete(ctx, p.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &p.UID}})
		}
		return len(pods.Items) == 0, nil
	})
}

// annotationRecorder keeps the annotations of every version of a node-shell pod that a
// watch of the test's namespace saw, in order.
type annotationRecorder struct {
	w    watch.Interface
	mu   sync.Mutex
	seen []map[string]string
	done chan struct{}
}

func (e *E2E) recordAnnotations() *annotationRecorder {
	e.t.Helper()
	w, err := e.client.CoreV1().Pods(e.namespace).Watch(context.Background(), metav1.ListOptions{LabelSelector: podspec.ManagedBySelector})
	if err != nil {
		e.t.Fatal(err)
	}
	r := &annotationRecorder{w: w, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		for ev := range w.ResultChan() {
			if p, ok := ev.Object.(*corev1.Pod); ok {
				r.mu.Lock()
				r.seen = append(r.seen, p.Annotations)
				r.mu.Unlock()
			}
		}
	}()
	return r
}

// stop ends the watch once the pod's deletion has been seen (the plugin waited for it) and
// returns what it saw.
func (r *annotationRecorder) stop() []map[string]string {
	time.Sleep(500 * time.Millisecond) // the delete event is in flight when the plugin exits
	r.w.Stop()
	<-r.done
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.seen
}

// denyByWebhook registers a validating webhook, served by the test, that refuses every
// node-shell pod created in the test's namespace with message.
func (e *E2E) denyByWebhook(message string) {
	e.t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		var review admissionv1.AdmissionReview
		if err := json.Unmarshal(body, &review); err != nil || review.Request == nil {
			http.Error(w, "bad review", http.StatusBadRequest)
			return
		}
		review.Response = &admissionv1.AdmissionResponse{UID: review.Request.UID, Allowed: false,
			Result: &metav1.Status{Code: http.StatusForbidden, Message: message}}
		review.Request = nil
		_ = json.NewEncoder(w).Encode(review)
	}))
	srv.TLS = &tls.Config{}
	srv.StartTLS()
	e.t.Cleanup(srv.Close)
	caBundle := pemCertificate(srv.Certificate().Raw)
	name := e.namespace + ".deny.e2e.kubectl-node-shell.io"
	cfg := &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{{
			Name:                    name,
			ClientConfig:            admissionregistrationv1.WebhookClientConfig{URL: ptr.To(srv.URL + "/"), CABundle: caBundle},
			Rules:                   []admissionregistrationv1.RuleWithOperations{{Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create}, Rule: admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}}}},
			NamespaceSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": e.namespace}},
			FailurePolicy:           ptr.To(admissionregistrationv1.Fail),
			SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
			AdmissionReviewVersions: []string{"v1"},
			TimeoutSeconds:          ptr.To[int32](5),
		}},
	}
	ctx := context.Background()
	if _, err := e.client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(ctx, cfg, metav1.CreateOptions{}); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() {
		err := e.client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Delete(context.Background(), name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			e.t.Errorf("delete webhook %s: %v", name, err)
		}
	})
	// The apiserver picks up a new webhook within a moment: wait until a dry-run create is refused by it.
	probe := bystanderPod("webhook-probe", e.Nodes()[0])
	if err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := e.client.CoreV1().Pods(e.namespace).Create(ctx, probe, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return err != nil && strings.Contains(err.Error(), message), nil
	}); err != nil {
		e.t.Fatalf("the webhook never refused a pod: %v", err)
	}
}

// pemCertificate is a DER certificate in PEM, as a webhook's caBundle takes it.
func pemCertificate(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
