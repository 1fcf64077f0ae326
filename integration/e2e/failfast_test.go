package e2e

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/podspec"
)

// assertFailed checks a failure of node-shell's own: status 255, nothing on stdout, a last
// stderr line "error: <cause>; <fix>" containing each of want, any other stderr line a
// warning, the whole run within bound, and no node-shell pod left anywhere.
func (e *E2E) assertFailed(r Result, bound time.Duration, want ...string) {
	e.t.Helper()
	if r.Status != 255 {
		e.t.Errorf("status %d, want 255", r.Status)
	}
	if len(r.Stdout) != 0 {
		e.t.Errorf("stdout = %q, want nothing", r.Stdout)
	}
	lines := strings.Split(strings.TrimSuffix(string(r.Stderr), "\n"), "\n")
	last := lines[len(lines)-1]
	if !strings.HasPrefix(last, "error: ") || !strings.Contains(last, "; ") {
		e.t.Errorf("last stderr line = %q, want one line \"error: <cause>; <fix>\"", last)
	}
	for _, l := range lines[:len(lines)-1] {
		if !strings.HasPrefix(l, "warning: ") {
			e.t.Errorf("stderr line %q is neither the error nor a warning", l)
		}
	}
	for _, w := range want {
		if !strings.Contains(last, w) {
			e.t.Errorf("error line = %q, want it to contain %q", last, w)
		}
	}
	if r.Elapsed > bound {
		e.t.Errorf("failed after %v, want within %v", r.Elapsed.Round(time.Millisecond), bound)
	}
	e.AssertNoNodeShellPods()
}

// TestFailFastUnknownNode: a mistyped node is refused before any pod exists, with the
// closest names; a name like no other gets a pointer to kubectl get nodes instead.
func TestFailFastUnknownNode(t *testing.T) {
	e := newE2E(t)
	typo := e.Nodes()[len(e.Nodes())-1] + "3" // 127.0.0.33: one edit from 127.0.0.3
	r := e.NodeShell(typo, "--", "true").Run()
	e.assertFailed(r, 3*time.Second, `node "`+typo+`" not found`, "did you mean "+e.Nodes()[len(e.Nodes())-1]+"?")
	r.AssertNoSession(t)

	r = e.NodeShell("no-such-node.example.com", "--", "true").Run()
	e.assertFailed(r, 3*time.Second, `node "no-such-node.example.com" not found`, "kubectl get nodes")
	r.AssertNoSession(t)
}

// TestFailFastImageNotFound: an image the registry does not have fails the session as
// soon as the kubelet reports the pull error, not at --pod-running-timeout.
func TestFailFastImageNotFound(t *testing.T) {
	e := newE2E(t)
	const image = "docker.io/library/does-not-exist:1"
	reported := e.watchFirst(func(p *corev1.Pod) bool {
		for _, cs := range p.Status.ContainerStatuses {
			if w := cs.State.Waiting; w != nil && (w.Reason == "ErrImagePull" || w.Reason == "ImagePullBackOff") {
				return true
			}
		}
		return false
	})
	node := e.Nodes()[1]
	r := e.NodeShell("--image", image, "--pod-running-timeout", "2m", node, "--", "true").Run()
	exited := time.Now()
	e.assertFailed(r, 20*time.Second, `node `+node+` cannot pull image "`+image+`"`, "not found", "use --image with an image the node can pull")
	r.AssertOnNode(t, node)
	select {
	case seen := <-reported:
		lag := exited.Sub(seen.at)
		t.Logf("pull error reported by the kubelet %v before node-shell exited (run took %v)", lag.Round(time.Millisecond), r.Elapsed.Round(time.Millisecond))
		if lag > 2*time.Second {
			t.Errorf("node-shell exited %v after the kubelet reported the pull error, want within 2s", lag)
		}
	default:
		t.Errorf("the test's watch never saw the pull error")
	}
}

// TestFailFastPodSecurityRestricted: a namespace that enforces the restricted Pod
// Security level refuses the pod at create; the message names the level and node-shell's
// own namespace (trust_test.go checks it suggests nothing that weakens a policy).
func TestFailFastPodSecurityRestricted(t *testing.T) {
	e := newE2E(t)
	e.labelNamespace("pod-security.kubernetes.io/enforce", "restricted")
	r := e.NodeShell(e.Nodes()[0], "--", "true").Run()
	e.assertFailed(r, 3*time.Second,
		"Pod Security admission in namespace "+e.namespace+" refuses privileged pods (enforce=restricted:latest)",
		"run sessions in node-shell's own namespace")
	r.AssertNoSession(t)

	// -v adds the apiserver's own words on a second line.
	r = e.NodeShell("-v", "1", e.Nodes()[0], "--", "true").Run()
	if !strings.Contains(string(r.Stderr), "detail: pods") || !strings.Contains(string(r.Stderr), "hostPID=true") {
		t.Errorf("with -v 1, stderr = %q; want the admission message as detail", r.Stderr)
	}
}

// TestFailFastNodeNotReady: with the node's kubelet stopped and the node NotReady, the
// session warns, tries, and gives up once the kubelet has been silent for the pickup bound
// (12 s), naming the node's condition, instead of waiting out --pod-running-timeout.
func TestFailFastNodeNotReady(t *testing.T) {
	e := newE2E(t)
	node := e.Nodes()[len(e.Nodes())-1]
	e.stopKubeletUntilNotReady(node)

	r := e.NodeShell("--pod-running-timeout", "2m", node, "--", "true").Run()
	e.assertFailed(r, 20*time.Second,
		"the kubelet on node "+node+" did not pick up the pod within 12s, and the node is not ready (Ready=Unknown for",
		"NodeStatusUnknown: Kubelet stopped posting node status", "last heartbeat", "pick another node")
	r.AssertOnNode(t, node)
	if !strings.HasPrefix(withoutSharedNamespaceNotice(string(r.Stderr)), "warning: node "+node+" is not ready (Ready=Unknown") {
		t.Errorf("stderr = %q, want a not-ready warning first", r.Stderr)
	}
	if r.Elapsed < 12*time.Second {
		t.Errorf("gave up after %v, before the kubelet's 12 s", r.Elapsed)
	}

	// While the node is down, a pod that someone else deletes ends the wait at once.
	created := e.watchFirst(func(*corev1.Pod) bool { return true })
	sessions := e.WatchSessionPods()
	cmd := e.NodeShell("--pod-running-timeout", "2m", node, "--", "true").Command()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill() }()
	var deleted time.Time
	select {
	case seen := <-created:
		// node-shell is in its wait once its watch on the pod has started.
		e.waitAudit(10*time.Second, `"verb":"watch"`, `"stage":"ResponseStarted"`, `"userAgent":"kubectl-node_shell/`, seen.pod.Name)
		deleted = time.Now()
		if err := e.client.CoreV1().Pods(e.namespace).Delete(context.Background(), seen.pod.Name,
			metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
			t.Fatalf("delete %s: %v", seen.pod.Name, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no node-shell pod appeared")
	}
	err := cmd.Wait()
	lag := time.Since(deleted)
	t.Logf("node-shell exited %v after the pod was deleted: %v; stderr %q", lag.Round(time.Millisecond), err, stderr.String())
	r = Result{Stdout: stdout.Bytes(), Stderr: stderr.Bytes(), Status: cmd.ProcessState.ExitCode(), Elapsed: lag}
	e.assertFailed(r, 2*time.Second, "was deleted while starting on node "+node, "try again")
	sessions.AssertOnly(t, node)
}

// waitAudit waits until the audit log has an event that contains every one of substrings.
func (e *E2E) waitAudit(timeout time.Duration, substrings ...string) {
	e.t.Helper()
	for deadline := time.Now().Add(timeout); e.auditCount(substrings...) == 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			e.t.Fatalf("no audit event with %q after %v", substrings, timeout)
		}
	}
}

// TestProgressLineOnlyOnATerminal: on a terminal, stderr shows one line that redraws
// itself (\r, erase line) with the time elapsed, and is gone when the command runs. On a
// pipe, or with -q, nothing but the command's output appears.
func TestProgressLineOnlyOnATerminal(t *testing.T) {
	e := newE2E(t)
	node := e.Nodes()[2]
	term := e.NodeShell(node, "--", "echo", "remote-output").StartTerminal(24, 80)
	if status := term.Wait(60 * time.Second); status != 0 {
		t.Fatalf("status %d; terminal shows %q", status, term.Output())
	}
	term.AssertOnNode(t, node)
	out := term.Output()
	draws := regexp.MustCompile(`\r\x1b\[K([a-z][^\r\x1b]*) \((\d+\.\d)s\)`).FindAllStringSubmatch(out, -1)
	times := map[string]bool{}
	for _, d := range draws {
		times[d[2]] = true
	}
	t.Logf("%d draws of the progress line, %d distinct times; first %q", len(draws), len(times), first(draws))
	if len(times) < 2 {
		t.Errorf("progress line drawn with %d distinct times, want it to redraw as time passes; terminal: %q", len(times), out)
	}
	for _, want := range []string{"checking access and node " + node, "creating pod on node " + node} {
		if !strings.Contains(out, want) {
			t.Errorf("terminal never showed %q: %q", want, out)
		}
	}
	// The line is erased before the command's output.
	if i := strings.Index(out, "remote-output"); i < 0 || !strings.HasSuffix(out[:i], "\r\x1b[K") {
		t.Errorf("want the progress line erased right before the command's output; terminal: %q", out)
	}

	term = e.NodeShell("-q", node, "--", "echo", "remote-output").StartTerminal(24, 80)
	if status := term.Wait(60 * time.Second); status != 0 {
		t.Fatalf("-q: status %d", status)
	}
	term.AssertOnNode(t, node)
	if out := term.Output(); strings.TrimSpace(out) != "remote-output" {
		t.Errorf("-q on a terminal shows %q, want only the command's output", out)
	}

	r := e.NodeShell(node, "--", "echo", "remote-output").RunOK()
	r.AssertOnNode(t, node)
	if withoutSharedNamespaceNotice(string(r.Stderr)) != "" || string(r.Stdout) != "remote-output\n" {
		t.Errorf("piped: stdout %q, stderr %q; want the output and, but for the shared-namespace notice, an empty stderr", r.Stdout, r.Stderr)
	}
}

// sharedNamespaceNotice starts the warning every session outside node-shell's own namespace
// prints (the e2e namespaces are such): tests of other stderr output look past it.
const sharedNamespaceNotice = "warning: anyone who may exec into, attach to or patch pods in namespace "

// withoutSharedNamespaceNotice is stderr without the shared-namespace notice's line.
func withoutSharedNamespaceNotice(stderr string) string {
	var kept []string
	for _, line := range strings.SplitAfter(stderr, "\n") {
		if !strings.HasPrefix(line, sharedNamespaceNotice) {
			kept = append(kept, line)
		}
	}
	return strings.Join(kept, "")
}

func first(draws [][]string) string {
	if len(draws) == 0 {
		return ""
	}
	return draws[0][0]
}

// observed is a pod the test's watch saw, and when.
type observed struct {
	at  time.Time
	pod *corev1.Pod
}

// watchFirst reports, once, the first state of a node-shell pod in the test's namespace
// that matches.
func (e *E2E) watchFirst(match func(*corev1.Pod) bool) <-chan observed {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	e.t.Cleanup(cancel)
	w, err := e.client.CoreV1().Pods(e.namespace).Watch(ctx, metav1.ListOptions{LabelSelector: podspec.ManagedBySelector})
	if err != nil {
		e.t.Fatalf("watch pods: %v", err)
	}
	seen := make(chan observed, 1)
	go func() {
		defer w.Stop()
		for ev := range w.ResultChan() {
			if p, ok := ev.Object.(*corev1.Pod); ok && ev.Type != watch.Deleted && match(p) {
				seen <- observed{at: time.Now(), pod: p}
				return
			}
		}
	}()
	return seen
}

func (e *E2E) labelNamespace(key, value string) {
	e.t.Helper()
	ns, err := e.client.CoreV1().Namespaces().Get(context.Background(), e.namespace, metav1.GetOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	ns.Labels[key] = value
	if _, err := e.client.CoreV1().Namespaces().Update(context.Background(), ns, metav1.UpdateOptions{}); err != nil {
		e.t.Fatalf("label namespace: %v", err)
	}
}

// stopKubeletUntilNotReady stops node's kubelet and waits for the node controller to mark
// the node not ready (its grace period is 50 s). Cleanup starts the kubelet again and
// waits until the node is Ready.
func (e *E2E) stopKubeletUntilNotReady(node string) {
	e.t.Helper()
	ctx := context.Background()
	if err := e.cluster.StopKubelet(ctx, node); err != nil {
		e.t.Fatalf("stop kubelet on %s: %v", node, err)
	}
	e.t.Cleanup(func() {
		if err := e.cluster.StartKubelet(context.Background(), node); err != nil {
			e.t.Errorf("start kubelet on %s again: %v", node, err)
		}
	})
	stopped := time.Now()
	for deadline := stopped.Add(90 * time.Second); time.Now().Before(deadline); time.Sleep(time.Second) {
		n, err := e.client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
		if err != nil {
			e.t.Fatal(err)
		}
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status != corev1.ConditionTrue {
				e.t.Logf("node %s %s %v after its kubelet stopped", node, c.Status, time.Since(stopped).Round(time.Second))
				return
			}
		}
	}
	e.t.Fatalf("node %s still Ready 90 s after its kubelet stopped", node)
}

// auditLines counts the audit log's events for user.
func (e *E2E) auditLines(user string, also ...string) int {
	e.t.Helper()
	f, err := os.Open(e.cluster.AuditLogPath())
	if err != nil {
		e.t.Fatalf("audit log: %v", err)
	}
	defer f.Close()
	needle := `"username":"` + user + `"`
	n := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
scan:
	for sc.Scan() {
		line := sc.Text()
		if !strings.Contains(line, needle) {
			continue
		}
		for _, a := range also {
			if !strings.Contains(line, a) {
				continue scan
			}
		}
		n++
	}
	if err := sc.Err(); err != nil {
		e.t.Fatalf("reading audit log: %v", err)
	}
	return n
}

// TestBadArgumentsSendNoRequest: every argument error is reported before any request:
// the audit log has no event from the user who ran them. A valid command line from the
// same user does show up there, so the count would see a request.
func TestBadArgumentsSendNoRequest(t *testing.T) {
	e := newE2E(t)
	user := "e2e-bad-args"
	kubeconfig, err := e.cluster.MintKubeconfig(user)
	if err != nil {
		t.Fatal(err)
	}
	node := e.Nodes()[0]
	cases := []struct {
		args []string
		want string
	}{
		{nil, "a node name is required"},
		{[]string{node, "ls", "/"}, "put the command after --"},
		{[]string{"--frobnicate", node}, "unknown flag: --frobnicate"},
		{[]string{"Node_1"}, `"Node_1" is not a valid node name`},
		{[]string{"--mode", "ssh", node}, `unknown mode "ssh"`},
		{[]string{"--nsenter", "--mode", "container", node}, "--nsenter conflicts with --mode=container"},
		{[]string{"--image", "Bad Image!", node}, "is not a valid image reference"},
		{[]string{"--image-pull-policy", "Sometimes", node}, "--image-pull-policy must be"},
		{[]string{"--pod-running-timeout", "0s", node}, "--pod-running-timeout must be greater than zero"},
		{[]string{"-t", "-i=false", node}, "-t/--tty needs stdin"},
	}
	before := e.auditLines(user)
	for _, tc := range cases {
		r := e.NodeShell(tc.args...).WithKubeconfig(kubeconfig).Run()
		if r.Status != 255 || !strings.HasPrefix(string(r.Stderr), "error: ") || !strings.Contains(string(r.Stderr), tc.want) {
			t.Errorf("%q: status %d, stderr %q; want 255 and an error containing %q", tc.args, r.Status, r.Stderr, tc.want)
		}
		if r.Elapsed > time.Second {
			t.Errorf("%q: took %v, want well under a second", tc.args, r.Elapsed)
		}
		r.AssertNoSession(t)
	}
	if n := e.auditLines(user) - before; n != 0 {
		t.Errorf("%d audit event(s) from %s after bad arguments only, want none", n, user)
	}
	e.NodeShell(node, "--", "true").WithKubeconfig(kubeconfig).Run()
	if n := e.auditLines(user) - before; n == 0 {
		t.Errorf("no audit event from %s after a valid command line: the count proves nothing", user)
	}
	e.AssertNoNodeShellPods()
}

// Output waits until the terminal has shown all the plugin wrote (the pty reads EOF once
// the plugin has exited) and returns it.
func (term *Terminal) Output() string {
	select {
	case <-term.done:
	case <-time.After(5 * time.Second):
	}
	term.mu.Lock()
	defer term.mu.Unlock()
	return term.out.String()
}
