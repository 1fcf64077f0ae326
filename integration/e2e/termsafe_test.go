package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"syscall"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/podspec"
)

// escapeSequence sets the terminal's title and clears the screen; escapedSequence is how
// node-shell must show it.
const (
	escapeSequence  = "\x1b]0;pwned\x07\x1b[2J"
	escapedSequence = `\x1b]0;pwned\a\x1b[2J`
)

// assertNoTerminalControl fails unless out is free of ESC, BEL, and the bidi override.
func assertNoTerminalControl(t *testing.T, what string, out []byte) {
	t.Helper()
	for _, bad := range []string{"\x1b", "\x07", "\u202e"} {
		if bytes.Contains(out, []byte(bad)) {
			t.Errorf("%s holds a raw %q:\n%q", what, bad, out)
		}
	}
}

// patchAnnotations sets annotations on pod as an admin, as anyone who may patch pods in its
// namespace can.
func (e *E2E) patchAnnotations(pod *corev1.Pod, annotations map[string]string) {
	e.t.Helper()
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": annotations}})
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.client.CoreV1().Pods(pod.Namespace).Patch(context.Background(), pod.Name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		e.t.Fatalf("patch annotations of %s/%s: %v", pod.Namespace, pod.Name, err)
	}
}

// TestListAndGCEscapeHostileAnnotations: a live session and a leftover whose annotations
// someone who may patch pods filled with escape sequences (a window title and a clear
// screen, a bidi override). list (table, JSON, YAML) and gc (dry run, then for real) print
// them escaped, never raw; JSON and YAML still decode to the exact values; the session ends
// normally and gc removes the leftover.
func TestListAndGCEscapeHostileAnnotations(t *testing.T) {
	e := newE2E(t)
	other := e.otherNamespace("leftover")
	liveNode, deadNode := e.Nodes()[0], e.Nodes()[1]

	// A leftover: a session whose client was killed, its container stopped by its watchdog.
	dead := e.NodeShell("-n", other, "--heartbeat-timeout", "5s", deadNode, "--", "sleep", uniqueSleep()).Start()
	deadPod := e.waitPodIn(other, 30*time.Second)
	dead.AssertOnNode(t, deadNode)
	dead.Signal(syscall.SIGKILL)
	dead.Wait(10 * time.Second)
	e.waitContainerStopped(deadPod, 30*time.Second)
	deadAnnotations := map[string]string{
		podspec.AnnotationNode:    deadNode + escapeSequence,
		podspec.AnnotationUser:    escapeSequence + "mallory",
		podspec.AnnotationCommand: "sleep\u202e",
	}
	e.patchAnnotations(deadPod, deadAnnotations)

	// A live session.
	live := e.NodeShell("--heartbeat-timeout", "10s", liveNode, "--", "sleep", uniqueSleep()).Start()
	livePod := e.waitSessionPod(30 * time.Second)
	live.AssertOnNode(t, liveNode) // before the patch: the node annotation is still the plugin's
	liveAnnotations := map[string]string{
		podspec.AnnotationUser:       escapeSequence + "root",
		podspec.AnnotationCommand:    "sleep " + escapeSequence,
		podspec.AnnotationClientHost: "laptop\u202e",
	}
	e.patchAnnotations(livePod, liveAnnotations)

	r := e.NodeShellAnyNamespace("list").RunOK()
	assertNoTerminalControl(t, "list's stdout", r.Stdout)
	assertNoTerminalControl(t, "list's stderr", r.Stderr)
	for _, want := range []string{escapedSequence + "root", "sleep " + escapedSequence, escapedSequence + "mallory", deadNode + escapedSequence, `sleep\u202e`} {
		if !bytes.Contains(r.Stdout, []byte(want)) {
			t.Errorf("list does not show %q:\n%s", want, r.Stdout)
		}
	}
	if states := listStates(string(r.Stdout), e.namespace, other); states[e.namespace+"/"+livePod.Name] != "alive" || states[other+"/"+deadPod.Name] != "expired" {
		t.Errorf("list states %v, want the live session alive and the leftover expired:\n%s", states, r.Stdout)
	}

	for _, format := range []string{"json", "yaml"} {
		r := e.NodeShellAnyNamespace("list", "-o", format).RunOK()
		assertNoTerminalControl(t, "list -o "+format, r.Stdout)
		data := r.Stdout
		if format == "yaml" {
			var err error
			if data, err = yaml.YAMLToJSON(data); err != nil {
				t.Fatalf("list -o yaml does not parse: %v\n%s", err, r.Stdout)
			}
		}
		var list struct{ Items []corev1.Pod }
		if err := json.Unmarshal(data, &list); err != nil {
			t.Fatalf("list -o %s does not parse: %v\n%s", format, err, r.Stdout)
		}
		seen := 0
		for _, p := range list.Items {
			want := map[string]map[string]string{livePod.Name: liveAnnotations, deadPod.Name: deadAnnotations}[p.Name]
			for k, v := range want {
				seen++
				if p.Annotations[k] != v {
					t.Errorf("list -o %s: %s's %s is %q, want %q", format, p.Name, k, p.Annotations[k], v)
				}
			}
		}
		if seen != len(liveAnnotations)+len(deadAnnotations) {
			t.Errorf("list -o %s showed %d of the %d patched annotations:\n%s", format, seen, len(liveAnnotations)+len(deadAnnotations), r.Stdout)
		}
	}

	wantLine := "pod " + other + "/" + deadPod.Name + " on node " + deadNode + escapedSequence + " (expired"
	r = e.NodeShellAnyNamespace("gc", "--dry-run").RunOK()
	assertNoTerminalControl(t, "gc --dry-run's stdout", r.Stdout)
	assertNoTerminalControl(t, "gc --dry-run's stderr", r.Stderr)
	if !bytes.Contains(r.Stdout, []byte("would delete "+wantLine)) {
		t.Errorf("gc --dry-run printed:\n%s\nwant a line with %q", r.Stdout, "would delete "+wantLine)
	}

	live.Signal(syscall.SIGTERM)
	if status := live.Wait(20 * time.Second); status != 143 {
		t.Errorf("the live session ended with %d, want 143; stderr %q", status, live.Stderr())
	}
	assertNoTerminalControl(t, "the session's stderr", []byte(live.Stderr()))
	e.waitPodGone(livePod.Name, 10*time.Second)

	r = e.NodeShellAnyNamespace("gc").RunOK()
	// gc leaves a pod that changed between its list and its delete (the kubelet may still
	// update a stopped pod's status) and says to run it again: so does the test.
	for i := 0; i < 3 && bytes.Contains(r.Stderr, []byte("changed since it was judged")); i++ {
		r = e.NodeShellAnyNamespace("gc").RunOK()
	}
	assertNoTerminalControl(t, "gc's stdout", r.Stdout)
	assertNoTerminalControl(t, "gc's stderr", r.Stderr)
	if !bytes.Contains(r.Stdout, []byte("deleted "+wantLine)) {
		t.Errorf("gc printed:\n%s\nwant a line with %q", r.Stdout, "deleted "+wantLine)
	}
	e.waitGoneIn(other, deadPod.Name, 30*time.Second)
}

// waitGoneIn waits until the pod namespace/name no longer exists.
func (e *E2E) waitGoneIn(namespace, name string, timeout time.Duration) {
	e.t.Helper()
	saved := e.namespace
	e.namespace = namespace
	defer func() { e.namespace = saved }()
	e.waitPodGone(name, timeout)
}

// TestAPIServerWarningIsEscaped: an admission policy in Warn mode makes the apiserver send a
// Warning header, with a bidi override in its text (the apiserver refuses control
// characters in warnings, not format characters), on the session pod's create. The session
// prints it escaped, and runs.
func TestAPIServerWarningIsEscaped(t *testing.T) {
	e := newE2E(t)
	node := e.Nodes()[2]
	const message = "pods here are audited \u202etxt.exe"
	e.warnOnPodCreate(message)

	r := e.NodeShell(node, "--", "true").RunOK()
	r.AssertOnNode(t, node)
	assertNoTerminalControl(t, "the session's stderr", r.Stderr)
	if !bytes.Contains(r.Stderr, []byte(`warning: `)) || !bytes.Contains(r.Stderr, []byte(`pods here are audited \u202etxt.exe`)) {
		t.Errorf("stderr %q, want the apiserver's warning, escaped", r.Stderr)
	}
}

// warnOnPodCreate makes the apiserver warn with message on every pod created in the
// test's namespace (a ValidatingAdmissionPolicy that always fails, bound in Warn mode),
// and waits until it does.
func (e *E2E) warnOnPodCreate(message string) {
	e.t.Helper()
	ctx := context.Background()
	name := e.namespace + "-warn"
	policies := e.client.AdmissionregistrationV1().ValidatingAdmissionPolicies()
	bindings := e.client.AdmissionregistrationV1().ValidatingAdmissionPolicyBindings()
	if _, err := policies.Create(ctx, &admissionregistrationv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: ptr.To(admissionregistrationv1.Fail),
			MatchConstraints: &admissionregistrationv1.MatchResources{ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
				RuleWithOperations: admissionregistrationv1.RuleWithOperations{
					Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
					Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}},
				},
			}}},
			Validations: []admissionregistrationv1.Validation{{Expression: "false", Message: message}},
		},
	}, metav1.CreateOptions{}); err != nil {
		e.t.Fatalf("create admission policy: %v", err)
	}
	e.t.Cleanup(func() { _ = policies.Delete(context.Background(), name, metav1.DeleteOptions{}) })
	if _, err := bindings.Create(ctx, &admissionregistrationv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName:        name,
			ValidationActions: []admissionregistrationv1.ValidationAction{admissionregistrationv1.Warn},
			MatchResources: &admissionregistrationv1.MatchResources{NamespaceSelector: &metav1.LabelSelector{
				MatchLabels: map[string]string{corev1.LabelMetadataName: e.namespace},
			}},
		},
	}, metav1.CreateOptions{}); err != nil {
		e.t.Fatalf("create admission policy binding: %v", err)
	}
	e.t.Cleanup(func() { _ = bindings.Delete(context.Background(), name, metav1.DeleteOptions{}) })

	// The policy takes effect once the apiserver has loaded it: dry-run creates until one warns.
	config, err := e.cluster.RESTConfig()
	if err != nil {
		e.t.Fatal(err)
	}
	warnings := &recordedWarnings{}
	config.WarningHandler = warnings
	client, err := kubernetes.NewForConfig(config)
	if err != nil {
		e.t.Fatal(err)
	}
	probe := bystanderPod("warn-probe", e.Nodes()[0])
	deadline := time.Now().Add(30 * time.Second)
	for !warnings.has(message) {
		if time.Now().After(deadline) {
			e.t.Fatalf("the apiserver does not warn on pod creates 30s after the policy was made")
		}
		if _, err := client.CoreV1().Pods(e.namespace).Create(ctx, probe, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); err != nil && !apierrors.IsAlreadyExists(err) {
			e.t.Fatalf("dry-run create: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// recordedWarnings is a rest.WarningHandler that keeps what the apiserver warned.
type recordedWarnings struct {
	texts lockedBuffer
}

func (w *recordedWarnings) HandleWarningHeader(code int, _ string, text string) {
	if code == 299 {
		_, _ = w.texts.Write([]byte(text + "\n"))
	}
}

func (w *recordedWarnings) has(s string) bool { return strings.Contains(w.texts.String(), s) }
