package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-node-shell/kubectl-node-shell/integration/localcluster"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/podspec"
)

// limitsOverride is the patch that gives the session's container the limits a policy asks for.
const limitsOverride = `{"spec":{"containers":[{"name":"shell","resources":{"limits":{"cpu":"500m","memory":"256Mi"}}}]}}`

// TestPolicyRequiresTeamLabelAndLimits: docs/examples' policy requiring a team label and
// CPU/memory limits refuses a plain session in one line; --label and --overrides satisfy it,
// and so does the same, only in the config file's entry for the current context.
func TestPolicyRequiresTeamLabelAndLimits(t *testing.T) {
	e := newE2E(t)
	node := e.Nodes()[0]
	e.applyExamplePolicy("policy-require-team-and-limits.yaml", nil)
	e.waitPolicyRefuses(func(p *corev1.Pod) {}, "every pod needs a team label")

	r := e.NodeShell("-q", node, "--", "true").Run()
	e.assertOneErrorLine(r, "error: an admission policy refused the pod in namespace "+e.namespace+": policy require-team-and-limits: every pod needs a team label; give the pod what the policy asks with --label")
	if len(r.Sessions) != 0 {
		t.Errorf("a refused create left pods: %v", r.Sessions)
	}

	r = e.NodeShell("--label", "team=sre", node, "--", "true").Run()
	e.assertOneErrorLine(r, "policy require-team-and-limits: every container needs CPU and memory limits")

	out := e.NodeShell("--label", "team=sre", "--overrides", limitsOverride, node, "--", "echo", "admitted").RunOK()
	if strings.TrimSpace(string(out.Stdout)) != "admitted" {
		t.Errorf("stdout %q", out.Stdout)
	}
	assertSessionsOn(t, out.Sessions, node)

	config := e.writeConfig(fmt.Sprintf(`contexts:
  %s:
    labels: {team: sre}
    overrides:
      spec:
        containers:
        - name: shell
          resources: {limits: {cpu: 500m, memory: 256Mi}}
`, e.currentContext(e.kubeconfig)))
	out = e.NodeShell(node, "--", "echo", "admitted").WithEnv("KUBECTL_NODE_SHELL_CONFIG=" + config).RunOK()
	if strings.TrimSpace(string(out.Stdout)) != "admitted" {
		t.Errorf("stdout %q", out.Stdout)
	}
	// An entry for another context does not apply here.
	other := e.writeConfig("contexts:\n  elsewhere:\n    labels: {team: sre}\n")
	r = e.NodeShell("-q", node, "--", "true").WithEnv("KUBECTL_NODE_SHELL_CONFIG=" + other).Run()
	e.assertOneErrorLine(r, "every pod needs a team label")
}

// TestPolicyRegistryAllowList: docs/examples' registry allow-list admits the default image and
// refuses another registry's, in one line naming the image.
func TestPolicyRegistryAllowList(t *testing.T) {
	e := newE2E(t)
	node := e.Nodes()[1]
	e.applyExamplePolicy("policy-registry-allowlist.yaml", func(p *admissionregistrationv1.ValidatingAdmissionPolicy) {
		p.Spec.Variables[0].Expression = `["docker.io/library/busybox:"]`
	})
	e.waitPolicyRefuses(func(p *corev1.Pod) { p.Spec.Containers[0].Image = "quay.io/other/busybox:1" }, "images must come from")

	e.NodeShell(node, "--", "true").RunOK()
	r := e.NodeShell("-q", "--image", "quay.io/other/busybox:1", node, "--", "true").Run()
	e.assertOneErrorLine(r, "policy registry-allowlist: images must come from docker.io/library/busybox:; not allowed: quay.io/other/busybox:1")
}

// TestOverrideGuardsBeforeAnyRequest: overrides that drop privileged or move the pod to another
// node are refused in one line, exit 255, before any request: the kubeconfig points at a port
// where nothing listens, and the control run shows that any request would have said so.
func TestOverrideGuardsBeforeAnyRequest(t *testing.T) {
	e := newE2E(t)
	dead := e.deadKubeconfig()
	node := e.Nodes()[0]
	for _, tc := range []struct{ name, override, want string }{
		{"privileged dropped", `{"spec":{"containers":[{"name":"shell","securityContext":{"privileged":false}}]}}`,
			"error: --overrides may not change spec.containers[0].securityContext.privileged: node-shell's session depends on it\n"},
		{"another node", "spec:\n  nodeName: " + e.Nodes()[1] + "\n",
			"error: --overrides may not change spec.nodeName: node-shell's session depends on it\n"},
		{"a sidecar", `{"spec":{"containers":[{"name":"sidecar","image":"busybox"}]}}`,
			"error: --overrides may not change spec.containers: the pod holds node-shell's one container \"shell\" and no other\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.NodeShell("--overrides", tc.override, node, "--", "true").WithKubeconfig(dead).WithTimeout(30 * time.Second).Run()
			if r.Status != 255 || string(r.Stderr) != tc.want {
				t.Errorf("status %d, stderr %q; want 255 and %q", r.Status, r.Stderr, tc.want)
			}
			if r.Elapsed > 5*time.Second {
				t.Errorf("took %v: it waited for something", r.Elapsed)
			}
		})
	}
	control := e.NodeShell("--overrides", limitsOverride, node, "--", "true").WithKubeconfig(dead).WithTimeout(time.Minute).Run()
	if control.Status != 255 || !strings.Contains(string(control.Stderr), "127.0.0.1:1") {
		t.Errorf("an allowed override against the dead server: status %d, stderr %q; want it to fail reaching 127.0.0.1:1", control.Status, control.Stderr)
	}
}

// TestConfigPerContext: two contexts of one kubeconfig get their own image and namespace from
// the config file, the current context's when --context is not given.
func TestConfigPerContext(t *testing.T) {
	e := newE2E(t)
	node := e.Nodes()[2]
	nsB := e.otherNamespace("b")
	ctx := context.Background()
	for _, name := range []string{"a", "b"} {
		spec := localcluster.ImageSpec{Files: map[string][]byte{"/context": []byte("image-" + name + "\n")}}
		if err := e.cluster.PushBusyboxImage(ctx, "docker.io/library/node-shell-e2e-context-"+name+":1", spec); err != nil {
			t.Fatalf("push image %s: %v", name, err)
		}
	}
	kubeconfig := e.twoContexts("ctx-a", "ctx-b")
	config := e.writeConfig(fmt.Sprintf(`default:
  image: docker.io/library/busybox:1.37
contexts:
  ctx-a:
    image: docker.io/library/node-shell-e2e-context-a:1
    namespace: %s
  ctx-b:
    image: docker.io/library/node-shell-e2e-context-b:1
    namespace: %s
`, e.namespace, nsB))
	for _, tc := range []struct {
		args            []string
		image, inNSpace string
	}{
		{nil, "image-a", e.namespace}, // the current context is ctx-a
		{[]string{"--context", "ctx-b"}, "image-b", nsB},
		{[]string{"--context", "ctx-a"}, "image-a", e.namespace},
	} {
		args := append(append([]string{}, tc.args...), "--mode", "container", node, "--", "cat", "/context")
		r := e.NodeShellAnyNamespace(args...).WithKubeconfig(kubeconfig).WithEnv("KUBECTL_NODE_SHELL_CONFIG=" + config).RunOK()
		if got := strings.TrimSpace(string(r.Stdout)); got != tc.image {
			t.Errorf("%v: the container's image says %q, want %q", tc.args, got, tc.image)
		}
		if len(r.Sessions) != 1 || r.Sessions[0].Namespace != tc.inNSpace {
			t.Errorf("%v: sessions %v, want one in namespace %s", tc.args, r.Sessions, tc.inNSpace)
		}
	}
}

// TestIdleTimeout: an interactive session on a real pty with no input and no output for
// --idle-timeout ends with the documented notice and status 254, its pod deleted; one whose
// command keeps printing outlives the timeout and ends with the command's own status.
func TestIdleTimeout(t *testing.T) {
	e := newE2E(t)
	node := e.Nodes()[1]

	term := e.NodeShell("--idle-timeout", "3s", node).StartTerminal(24, 80)
	term.Send("echo ready-$((40+2))\r")
	term.Expect("ready-42", 60*time.Second)
	quiet := time.Now()
	term.Expect("node-shell: no input or output for 3s (--idle-timeout); the session was ended and its pod deleted", 30*time.Second)
	if status := term.Wait(30 * time.Second); status != 254 {
		t.Errorf("idle session exited %d, want 254", status)
	}
	if idle := time.Since(quiet); idle < 3*time.Second {
		t.Errorf("ended %v after the last output, before the 3s timeout", idle)
	}
	for _, p := range term.sessions.Created(t) {
		if !p.Deleted {
			t.Errorf("pod %s was not deleted", p)
		}
	}
	assertSessionsOn(t, term.sessions.Created(t), node)

	active := e.NodeShell("--idle-timeout", "3s", node).StartTerminal(24, 80)
	start := time.Now()
	active.Send("for i in 1 2 3 4 5 6 7 8; do echo tick-$((i*11)); sleep 1; done; exit 5\r")
	active.Expect("tick-88", 60*time.Second)
	if status := active.Wait(30 * time.Second); status != 5 {
		t.Errorf("active session exited %d, want the command's 5", status)
	}
	if d := time.Since(start); d < 6*time.Second {
		t.Errorf("the active session lasted %v: not past its idle timeout", d)
	}
}

// TestReason: --reason is on the pod and in list -o json; the reason policy in docs/examples
// refuses a session without one at admission; and once setup --require-reason marked the
// node-shell namespace, a session without one is refused in one line before any pod exists.
func TestReason(t *testing.T) {
	e := newE2E(t)
	node := e.Nodes()[0]
	const reason = "INC-4711: kubelet restarting on node 1"

	term := e.NodeShell("--reason", reason, node).StartTerminal(24, 80)
	term.Send("echo ready-$((40+2))\r")
	term.Expect("ready-42", 60*time.Second)
	pod := e.waitSessionPod(30 * time.Second)
	if got := pod.Annotations[podspec.AnnotationReason]; got != reason {
		t.Errorf("pod annotation %s = %q, want %q", podspec.AnnotationReason, got, reason)
	}
	listed := e.NodeShellAnyNamespace("list", "-o", "json").RunOK()
	var list struct {
		Items []corev1.Pod `json:"items"`
	}
	if err := json.Unmarshal(listed.Stdout, &list); err != nil {
		t.Fatalf("list -o json: %v\n%s", err, listed.Stdout)
	}
	found := false
	for _, p := range list.Items {
		if p.Name == pod.Name {
			found = p.Annotations[podspec.AnnotationReason] == reason
		}
	}
	if !found {
		t.Errorf("list -o json does not show pod %s with its reason:\n%s", pod.Name, listed.Stdout)
	}
	term.Send("exit\r")
	if status := term.Wait(30 * time.Second); status != 0 {
		t.Errorf("session exited %d", status)
	}

	// The admission policy for clients that do not ask (or users who may not read node-shell).
	e.applyExamplePolicy("node-shell-require-reason.yaml", nil)
	e.waitPolicyRefuses(func(p *corev1.Pod) { p.Labels = map[string]string{podspec.LabelManagedBy: podspec.ManagedByValue} }, "need a reason")
	r := e.NodeShell("-q", node, "--", "true").Run()
	e.assertOneErrorLine(r, "policy kubectl-node-shell-require-reason: node-shell sessions on this cluster need a reason: pass --reason TEXT")
	e.NodeShell("--reason", reason, node, "--", "true").RunOK()

	// The client's own check, set by setup.
	t.Cleanup(e.removeSetup)
	e.setup(e.kubeconfig, "--group", "e2e-node-admins", "--require-reason").RunOK()
	r = e.NodeShell("-q", node, "--", "true").Run()
	e.assertOneErrorLine(r, "error: this cluster requires a reason for every node-shell session (namespace node-shell says so): pass --reason TEXT")
	if len(r.Sessions) != 0 {
		t.Errorf("pods created without the required reason: %v", r.Sessions)
	}
	e.NodeShell("--reason", reason, node, "--", "true").RunOK()
}

// --- helpers ---

// applyExamplePolicy creates the policy and binding of docs/examples/file, bound to the test's
// namespace only, and deletes them at cleanup.
func (e *E2E) applyExamplePolicy(file string, edit func(*admissionregistrationv1.ValidatingAdmissionPolicy)) {
	e.t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "docs", "examples", file))
	if err != nil {
		e.t.Fatal(err)
	}
	docs := strings.Split(string(data), "\n---\n")
	if len(docs) != 2 {
		e.t.Fatalf("%s: want a policy and a binding, got %d documents", file, len(docs))
	}
	var policy admissionregistrationv1.ValidatingAdmissionPolicy
	var binding admissionregistrationv1.ValidatingAdmissionPolicyBinding
	if err := yaml.UnmarshalStrict([]byte(docs[0]), &policy); err != nil {
		e.t.Fatalf("%s: %v", file, err)
	}
	if err := yaml.UnmarshalStrict([]byte(docs[1]), &binding); err != nil {
		e.t.Fatalf("%s: %v", file, err)
	}
	if edit != nil {
		edit(&policy)
	}
	// Other tests share the cluster: the binding reaches this test's namespace alone.
	binding.Spec.MatchResources = &admissionregistrationv1.MatchResources{NamespaceSelector: &metav1.LabelSelector{
		MatchLabels: map[string]string{corev1.LabelMetadataName: e.namespace}}}
	ctx := context.Background()
	api := e.client.AdmissionregistrationV1()
	if _, err := api.ValidatingAdmissionPolicies().Create(ctx, &policy, metav1.CreateOptions{}); err != nil {
		e.t.Fatalf("create policy %s: %v", policy.Name, err)
	}
	e.t.Cleanup(func() {
		_ = api.ValidatingAdmissionPolicies().Delete(context.Background(), policy.Name, metav1.DeleteOptions{})
	})
	if _, err := api.ValidatingAdmissionPolicyBindings().Create(ctx, &binding, metav1.CreateOptions{}); err != nil {
		e.t.Fatalf("create binding %s: %v", binding.Name, err)
	}
	e.t.Cleanup(func() {
		_ = api.ValidatingAdmissionPolicyBindings().Delete(context.Background(), binding.Name, metav1.DeleteOptions{})
	})
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		p, err := api.ValidatingAdmissionPolicies().Get(ctx, policy.Name, metav1.GetOptions{})
		if err != nil || p.Status.ObservedGeneration != p.Generation || p.Status.TypeChecking == nil {
			return false, nil
		}
		for _, w := range p.Status.TypeChecking.ExpressionWarnings {
			e.t.Errorf("%s: type check: %s: %s", file, w.FieldRef, w.Warning)
		}
		return true, nil
	})
	if err != nil {
		e.t.Fatalf("%s: the type check did not finish: %v", file, err)
	}
}

// waitPolicyRefuses waits until the apiserver enforces a policy just made: a server dry run
// of a plain pod in the test's namespace, changed by mutate, is refused saying want.
func (e *E2E) waitPolicyRefuses(mutate func(*corev1.Pod), want string) {
	e.t.Helper()
	var last error
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		p := plainPod(e.Nodes()[0], nil)
		p.Namespace = e.namespace
		mutate(p)
		last = createDryRun(e.client, p)
		return isForbidden(last) && strings.Contains(last.Error(), want), nil
	})
	if err != nil {
		e.t.Fatalf("the policy is not in force after 30s; last dry run: %v", last)
	}
}

// assertOneErrorLine fails unless r failed with 255 and exactly one error line containing want.
func (e *E2E) assertOneErrorLine(r Result, want string) {
	e.t.Helper()
	var errs []string
	for _, line := range strings.Split(strings.TrimRight(string(r.Stderr), "\n"), "\n") {
		if strings.HasPrefix(line, "error: ") {
			errs = append(errs, line)
		}
	}
	if r.Status != 255 || len(errs) != 1 || !strings.Contains(errs[0], want) {
		e.t.Errorf("status %d, stderr:\n%s\nwant 255 and one error line containing %q", r.Status, r.Stderr, want)
	}
}

// writeConfig writes a node-shell config file for $KUBECTL_NODE_SHELL_CONFIG.
func (e *E2E) writeConfig(data string) string {
	e.t.Helper()
	path := filepath.Join(e.t.TempDir(), "node-shell.yaml")
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		e.t.Fatal(err)
	}
	return path
}

func (e *E2E) currentContext(kubeconfig string) string {
	e.t.Helper()
	cfg, err := clientcmd.LoadFromFile(kubeconfig)
	if err != nil {
		e.t.Fatal(err)
	}
	return cfg.CurrentContext
}

// twoContexts copies the admin kubeconfig with two contexts of the same cluster and user,
// without namespaces, the first current.
func (e *E2E) twoContexts(first, second string) string {
	e.t.Helper()
	cfg, err := clientcmd.LoadFromFile(e.kubeconfig)
	if err != nil {
		e.t.Fatal(err)
	}
	base := *cfg.Contexts[cfg.CurrentContext]
	base.Namespace = ""
	cfg.Contexts = map[string]*clientcmdapi.Context{}
	for _, name := range []string{first, second} {
		c := base
		cfg.Contexts[name] = &c
	}
	cfg.CurrentContext = first
	path := filepath.Join(e.t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		e.t.Fatal(err)
	}
	return path
}

// deadKubeconfig is the admin kubeconfig pointed at a local port where nothing listens.
func (e *E2E) deadKubeconfig() string {
	e.t.Helper()
	cfg, err := clientcmd.LoadFromFile(e.kubeconfig)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, c := range cfg.Clusters {
		c.Server = "https://127.0.0.1:1"
	}
	path := filepath.Join(e.t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		e.t.Fatal(err)
	}
	return path
}
