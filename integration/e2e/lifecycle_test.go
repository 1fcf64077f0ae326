package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/leftover"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/podspec"
)

// The tests here run sessions with a short heartbeat timeout: the same code path as the
// 45 s default, ten times faster. expiryBound is what they allow from the client's death
// to the exec'd process being gone: the timeout, ~1 s for the kubelet to refresh the
// heartbeat file, 1 s of watchdog tick, ~4 s for the kubelet to kill the exec'd processes,
// and slack for a loaded machine.
const (
	testHeartbeatTimeout = 10 * time.Second
	expiryBound          = testHeartbeatTimeout + 10*time.Second
)

// TestKill9DuringCommandExpiresAndNextRunCleansUp: the client of `-- sleep` dies with
// SIGKILL. The pod's watchdog stops the container (and the exec'd sleep) within the bound,
// and the next session in the namespace removes the pod object in its background sweep.
func TestKill9DuringCommandExpiresAndNextRunCleansUp(t *testing.T) {
	e := newE2E(t)
	node := e.Nodes()[0]
	arg := uniqueSleep()
	run := e.NodeShell("--heartbeat-timeout", testHeartbeatTimeout.String(), node, "--", "sleep", arg).Start()
	pod := e.waitSessionPod(30 * time.Second)
	run.AssertOnNode(t, node)
	sleeper := waitHostProcess(t, []string{"sleep", arg}, 30*time.Second)

	killed := time.Now()
	run.Signal(syscall.SIGKILL)
	run.Wait(10 * time.Second)
	stopped := e.waitContainerStopped(pod, expiryBound+10*time.Second)
	gone := waitProcessGone(t, sleeper, expiryBound)
	t.Logf("kill -9 of the client: container stopped after %.1fs, exec'd sleep gone after %.1fs (heartbeat timeout %s)",
		stopped.Sub(killed).Seconds(), gone.Sub(killed).Seconds(), testHeartbeatTimeout)
	if d := gone.Sub(killed); d > expiryBound {
		t.Errorf("the exec'd process outlived its client by %v, want at most %v", d, expiryBound)
	}
	e.assertExpiredByWatchdog(pod.Name)

	// The next session in the namespace removes the pod object, beside its own work.
	e.NodeShell(node, "--", "true").RunOK().AssertOnNode(t, node)
	e.waitPodGone(pod.Name, 5*time.Second)
}

// TestKill9WithTheDefaultTimeout measures the bound users get: the default heartbeat
// timeout. It takes a minute, so it runs only with KNS_E2E_SLOW=1.
func TestKill9WithTheDefaultTimeout(t *testing.T) {
	if os.Getenv("KNS_E2E_SLOW") == "" {
		t.Skip("takes a minute; set KNS_E2E_SLOW=1")
	}
	e := newE2E(t)
	arg := uniqueSleep()
	run := e.NodeShell(e.Nodes()[0], "--", "sleep", arg).Start()
	pod := e.waitSessionPod(30 * time.Second)
	run.AssertOnNode(t, e.Nodes()[0])
	sleeper := waitHostProcess(t, []string{"sleep", arg}, 30*time.Second)
	killed := time.Now()
	run.Signal(syscall.SIGKILL)
	run.Wait(10 * time.Second)
	stopped := e.waitContainerStopped(pod, 2*time.Minute)
	gone := waitProcessGone(t, sleeper, 2*time.Minute)
	t.Logf("kill -9 of the client, default heartbeat timeout %s: container stopped after %.1fs, exec'd sleep gone after %.1fs",
		podspec.DefaultHeartbeatTimeout, stopped.Sub(killed).Seconds(), gone.Sub(killed).Seconds())
	if d := gone.Sub(killed); d > time.Minute {
		t.Errorf("the exec'd process outlived its client by %v, want under a minute", d)
	}
	e.NodeShell("gc").RunOK()
}

// TestKill9DuringInteractiveShellExpires: in a TTY session Ctrl-C goes to the remote
// command, not to node-shell; then the client dies with SIGKILL while a command runs in the
// shell, the container stops within the bound, and `gc` removes the pod object.
func TestKill9DuringInteractiveShellExpires(t *testing.T) {
	e := newE2E(t)
	node := e.Nodes()[1]
	term := e.NodeShell("--heartbeat-timeout", testHeartbeatTimeout.String(), node).StartTerminal(24, 80)
	pod := e.waitSessionPod(30 * time.Second)
	term.AssertOnNode(t, node)
	term.Send("echo READY-$((6*7))\n")
	term.Expect("READY-42", 30*time.Second)

	// Ctrl-C interrupts the remote sleep and the session goes on.
	term.Send("sleep 1000\n")
	waitHostProcess(t, []string{"sleep", "1000"}, 10*time.Second)
	term.Send("\x03")
	term.Send("echo AFTER-$((6*7))\n")
	term.Expect("AFTER-42", 10*time.Second)

	arg := uniqueSleep()
	term.Send("sleep " + arg + "\n")
	sleeper := waitHostProcess(t, []string{"sleep", arg}, 10*time.Second)
	killed := time.Now()
	if err := term.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	term.Wait(10 * time.Second)
	stopped := e.waitContainerStopped(pod, expiryBound+10*time.Second)
	gone := waitProcessGone(t, sleeper, expiryBound)
	t.Logf("kill -9 of an interactive client: container stopped after %.1fs, exec'd sleep gone after %.1fs (heartbeat timeout %s)",
		stopped.Sub(killed).Seconds(), gone.Sub(killed).Seconds(), testHeartbeatTimeout)
	if d := gone.Sub(killed); d > expiryBound {
		t.Errorf("the exec'd process outlived its client by %v, want at most %v", d, expiryBound)
	}
	e.assertExpiredByWatchdog(pod.Name)

	r := e.NodeShell("gc").RunOK()
	if want := "deleted pod " + e.namespace + "/" + pod.Name + " on node " + node + " (expired: stopped by its watchdog"; !strings.Contains(string(r.Stdout), want) {
		t.Errorf("gc printed %q, want a line starting %q", r.Stdout, want)
	}
	e.waitPodGone(pod.Name, 5*time.Second)
}

// TestLiveSessionOutlivesTheHeartbeatTimeout: a command that runs for more than three
// heartbeat timeouts is not stopped while its client lives. It also counts the heartbeat
// requests in the apiserver's audit log.
func TestLiveSessionOutlivesTheHeartbeatTimeout(t *testing.T) {
	e := newE2E(t)
	const timeout, runFor = 5 * time.Second, 16 * time.Second
	node := e.Nodes()[2]
	run := e.NodeShell("--heartbeat-timeout", timeout.String(), node, "--",
		"sh", "-c", fmt.Sprintf("sleep %d; echo survived", int(runFor.Seconds()))).Start()
	pod := e.waitSessionPod(30 * time.Second)
	run.AssertOnNode(t, node)
	status := run.Wait(runFor + time.Minute)
	if status != 0 || run.Stdout() != "survived\n" {
		t.Fatalf("status %d, stdout %q, stderr %q; want 0 and survived", status, run.Stdout(), run.Stderr())
	}
	patches := e.auditCount(`"verb":"patch"`, `"name":"`+pod.Name+`"`, `"stage":"ResponseComplete"`, `"userAgent":"kubectl-node_shell/`)
	t.Logf("%d heartbeat patches in %.1fs of session with a %s timeout (one per %s, plus one naming the user)",
		patches, run.Elapsed().Seconds(), timeout, timeout/4)
	if min := int(runFor / (timeout / 4)); patches < min {
		t.Errorf("%d heartbeat patches, want at least %d", patches, min)
	}
}

// TestMaxLifetimeStopsTheSession: the activeDeadlineSeconds backstop stops a session
// whose client is alive and renewing, and node-shell says why.
func TestMaxLifetimeStopsTheSession(t *testing.T) {
	e := newE2E(t)
	arg := uniqueSleep()
	run := e.NodeShell("--max-lifetime", "8s", e.Nodes()[2], "--", "sleep", arg).Start()
	e.waitSessionPod(30 * time.Second)
	run.AssertOnNode(t, e.Nodes()[2])
	sleeper := waitHostProcess(t, []string{"sleep", arg}, 30*time.Second)
	status := run.Wait(60 * time.Second)
	t.Logf("session with --max-lifetime 8s ended after %.1fs with status %d; stderr %q", run.Elapsed().Seconds(), status, run.Stderr())
	if status == 0 || !strings.Contains(run.Stderr(), "the pod reached its maximum lifetime (8s)") {
		t.Errorf("status %d, stderr %q; want a failure that names the maximum lifetime", status, run.Stderr())
	}
	waitProcessGone(t, sleeper, 20*time.Second)
}

// TestSignalsDeleteThePod: SIGTERM, SIGHUP and SIGINT (no TTY) end the session, delete the
// pod and exit 128+N; the exec'd process stops with the pod.
func TestSignalsDeleteThePod(t *testing.T) {
	e := newE2E(t)
	for i, tc := range []struct {
		sig  syscall.Signal
		want int
	}{{syscall.SIGTERM, 143}, {syscall.SIGHUP, 129}, {syscall.SIGINT, 130}} {
		t.Run(tc.sig.String(), func(t *testing.T) {
			e := e.For(t)
			node := e.Nodes()[i%len(e.Nodes())]
			arg := uniqueSleep()
			run := e.NodeShell(node, "--", "sleep", arg).Start()
			pod := e.waitSessionPod(30 * time.Second)
			run.AssertOnNode(t, node)
			sleeper := waitHostProcess(t, []string{"sleep", arg}, 30*time.Second)
			run.Signal(tc.sig)
			if status := run.Wait(20 * time.Second); status != tc.want {
				t.Errorf("status %d after %v, want %d; stderr %q", status, tc.sig, tc.want, run.Stderr())
			}
			if _, err := e.client.CoreV1().Pods(e.namespace).Get(context.Background(), pod.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				t.Errorf("pod %s still exists after node-shell exited (%v)", pod.Name, err)
			}
			waitProcessGone(t, sleeper, 20*time.Second)
		})
	}
}

// TestAPIServerRestartDuringSession: the apiserver dies during a session. node-shell says
// so, retries the delete until the apiserver is back, and exits; the pod is gone and
// nothing else was deleted.
func TestAPIServerRestartDuringSession(t *testing.T) {
	e := newE2E(t)
	node := e.Nodes()[1]
	bystander := e.createPod(bystanderPod("bystander", node))
	arg := uniqueSleep()
	run := e.NodeShell("--heartbeat-timeout", "30s", node, "--", "sleep", arg).Start()
	pod := e.waitSessionPod(30 * time.Second)
	run.AssertOnNode(t, node) // now: the outage ends the recording watch
	sleeper := waitHostProcess(t, []string{"sleep", arg}, 30*time.Second)

	ctx := context.Background()
	if err := e.cluster.StopAPIServer(ctx); err != nil {
		t.Fatalf("stop apiserver: %v", err)
	}
	stoppedAt := time.Now()
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			_ = e.cluster.StartAPIServer(context.Background())
		}
		// Later tests need kubelets that watch pods again; their reflectors back off.
		e.waitKubeletsServe(2 * time.Minute)
	})
	run.WaitStderr("cannot reach the cluster to delete pod "+e.namespace+"/"+pod.Name, 15*time.Second)
	t.Logf("node-shell reported the outage %.1fs after the apiserver died", time.Since(stoppedAt).Seconds())
	time.Sleep(3 * time.Second) // not a synchronisation: the outage lasts through several delete retries
	if err := e.cluster.StartAPIServer(ctx); err != nil {
		t.Fatalf("start apiserver: %v", err)
	}
	restarted = true
	t.Logf("apiserver ready again %.1fs after it died", time.Since(stoppedAt).Seconds())

	status := run.Wait(45 * time.Second)
	t.Logf("node-shell exited %d, %.1fs after the apiserver died; stderr:\n%s", status, time.Since(stoppedAt).Seconds(), run.Stderr())
	if status != 255 {
		t.Errorf("status %d, want 255 (the session broke)", status)
	}
	if lines := strings.Count(strings.TrimSpace(withoutSharedNamespaceNotice(run.Stderr())), "\n") + 1; lines > 2 {
		t.Errorf("%d lines on stderr, want the retry notice and the error", lines)
	}
	if strings.Contains(run.Stderr(), "remove it with") {
		t.Errorf("the retrying delete gave up although the apiserver came back")
	}
	e.waitPodGone(pod.Name, 5*time.Second)
	waitProcessGone(t, sleeper, 20*time.Second)
	got, err := e.client.CoreV1().Pods(e.namespace).Get(ctx, bystander.Name, metav1.GetOptions{})
	if err != nil || got.UID != bystander.UID {
		t.Errorf("the bystander pod is gone or replaced: %v", err)
	}
}

// TestDeleteSparesASameNamePodWithAnotherUID: while a session runs, its pod is deleted by
// someone else and a new pod takes the same name. node-shell's delete, guarded by the UID,
// leaves the newcomer alone.
func TestDeleteSparesASameNamePodWithAnotherUID(t *testing.T) {
	e := newE2E(t)
	node := e.Nodes()[2]
	run := e.NodeShell(node, "--", "sleep", uniqueSleep()).Start()
	pod := e.waitSessionPod(30 * time.Second)
	run.AssertOnNode(t, node) // before the newcomer, which carries our labels too

	ctx := context.Background()
	if err := e.client.CoreV1().Pods(e.namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
		t.Fatal(err)
	}
	newcomer := bystanderPod(pod.Name, node)
	newcomer.Labels = pod.Labels // ours, too: only the UID tells them apart
	created := e.createPod(newcomer)
	run.Signal(syscall.SIGTERM)
	status := run.Wait(30 * time.Second)
	t.Logf("node-shell exited %d; stderr %q", status, run.Stderr())

	got, err := e.client.CoreV1().Pods(e.namespace).Get(ctx, pod.Name, metav1.GetOptions{})
	if err != nil || got.UID != created.UID {
		t.Fatalf("the newcomer %s (UID %s) was deleted: %v", pod.Name, created.UID, err)
	}
	if n := e.auditCount(`"verb":"delete"`, `"name":"`+pod.Name+`"`, `"code":409`); n == 0 {
		t.Errorf("no refused (409) delete of %s in the audit log: was the UID precondition sent?", pod.Name)
	}
}

// --- helpers ---

// uniqueSleep is a sleep argument (seconds) that names one test's process on this machine.
func uniqueSleep() string { return fmt.Sprintf("3600.%06d", rand.IntN(1_000_000)) }

// Background is a plugin process a test drives itself: signals, kills, outages.
type Background struct {
	t              *testing.T
	cmd            *exec.Cmd
	stdout, stderr lockedBuffer
	start          time.Time
	exited         chan struct{}
	status         int
	elapsed        time.Duration
	sessions       *SessionWatch
}

// Start starts the invocation with its output captured; the process is killed at cleanup
// if the test did not end it.
func (i *Invocation) Start() *Background {
	i.e.t.Helper()
	b := &Background{t: i.e.t, cmd: i.Command(), exited: make(chan struct{})}
	b.cmd.Stdout, b.cmd.Stderr = &b.stdout, &b.stderr
	b.sessions = i.e.WatchSessionPods()
	b.start = time.Now()
	if err := b.cmd.Start(); err != nil {
		i.e.t.Fatalf("start plugin: %v", err)
	}
	go func() {
		err := b.cmd.Wait()
		b.elapsed = time.Since(b.start)
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			b.status = exitErr.ExitCode()
		}
		close(b.exited)
	}()
	i.e.t.Cleanup(func() {
		select {
		case <-b.exited:
		default:
			_ = b.cmd.Process.Kill()
			<-b.exited
		}
		if i.e.t.Failed() {
			i.e.t.Logf("stderr of kubectl-node_shell %s:\n%s", strings.Join(i.args, " "), b.stderr.String())
		}
	})
	i.e.t.Logf("started kubectl-node_shell %s", strings.Join(i.args, " "))
	return b
}

// Signal sends sig to the plugin.
func (b *Background) Signal(sig syscall.Signal) {
	b.t.Helper()
	if err := b.cmd.Process.Signal(sig); err != nil {
		b.t.Fatalf("signal %v: %v", sig, err)
	}
}

// Wait waits for the plugin to exit and returns its status (-1 when killed by a signal).
func (b *Background) Wait(timeout time.Duration) int {
	b.t.Helper()
	select {
	case <-b.exited:
		return b.status
	case <-time.After(timeout):
		b.t.Fatalf("plugin still running after %v; stderr:\n%s", timeout, b.stderr.String())
		return 0
	}
}

// WaitStderr waits until the plugin has written want on stderr.
func (b *Background) WaitStderr(want string, timeout time.Duration) {
	b.t.Helper()
	deadline := time.Now().Add(timeout)
	for !strings.Contains(b.stderr.String(), want) {
		if time.Now().After(deadline) {
			b.t.Fatalf("stderr does not show %q after %v:\n%s", want, timeout, b.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// AssertOnNode fails t unless the plugin has created a pod by now, and every pod it created
// is on node.
func (b *Background) AssertOnNode(t testing.TB, node string) {
	t.Helper()
	b.sessions.AssertOnly(t, node)
}

func (b *Background) Stdout() string         { return b.stdout.String() }
func (b *Background) Stderr() string         { return b.stderr.String() }
func (b *Background) Elapsed() time.Duration { return b.elapsed }

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// waitSessionPod waits for the one node-shell pod of the test's namespace to run.
func (e *E2E) waitSessionPod(timeout time.Duration) *corev1.Pod {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		pods, err := e.client.CoreV1().Pods(e.namespace).List(context.Background(), metav1.ListOptions{LabelSelector: podspec.ManagedBySelector})
		if err == nil {
			for i := range pods.Items {
				if p := &pods.Items[i]; p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil {
					return p
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	e.t.Fatalf("no running node-shell pod in %s after %v", e.namespace, timeout)
	return nil
}

// waitContainerStopped waits until the pod's container has terminated and returns when
// the test saw it.
func (e *E2E) waitContainerStopped(pod *corev1.Pod, timeout time.Duration) time.Time {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		p, err := e.client.CoreV1().Pods(pod.Namespace).Get(context.Background(), pod.Name, metav1.GetOptions{})
		if err == nil {
			for _, cs := range p.Status.ContainerStatuses {
				if cs.State.Terminated != nil {
					return time.Now()
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	e.t.Fatalf("the container of %s/%s still runs after %v", pod.Namespace, pod.Name, timeout)
	return time.Time{}
}

// assertExpiredByWatchdog checks that the pod's own watchdog stopped it, as gc judges it.
func (e *E2E) assertExpiredByWatchdog(name string) {
	e.t.Helper()
	p, err := e.client.CoreV1().Pods(e.namespace).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	v := leftover.Judge(p, time.Now())
	if v.State != leftover.StateExpired || !strings.Contains(v.Reason, "watchdog") || !v.Remove {
		e.t.Errorf("pod %s judged %+v (phase %s), want expired by its watchdog", name, v, p.Status.Phase)
	}
}

// waitPodGone waits until the pod object no longer exists.
func (e *E2E) waitPodGone(name string, timeout time.Duration) {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		_, err := e.client.CoreV1().Pods(e.namespace).Get(context.Background(), name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("pod %s/%s still exists after %v (%v)", e.namespace, name, timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitKubeletsServe waits until a new pod runs on every node: after an apiserver restart,
// a kubelet picks up new pods only once its watch is back.
func (e *E2E) waitKubeletsServe(timeout time.Duration) {
	e.t.Helper()
	start := time.Now()
	for _, node := range e.Nodes() {
		probe := bystanderPod("probe-"+strings.ReplaceAll(node, ".", "-"), node)
		created := e.createPod(probe)
		e.waitPhase(created, corev1.PodRunning, timeout-time.Since(start))
	}
	e.t.Logf("every kubelet runs new pods again, %.1fs after the check began", time.Since(start).Seconds())
}

// bystanderPod is a plain pod that is not node-shell's, pinned to node.
func bystanderPod(name, node string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "bystander"}},
		Spec: corev1.PodSpec{
			NodeName:                      node,
			TerminationGracePeriodSeconds: ptr.To[int64](0),
			Containers: []corev1.Container{{
				Name: "main", Image: podspec.DefaultImage, ImagePullPolicy: corev1.PullIfNotPresent,
				Command: []string{"sleep", "3600"},
			}},
		},
	}
}

// createPod creates pod in the test's namespace and deletes it at cleanup.
func (e *E2E) createPod(pod *corev1.Pod) *corev1.Pod {
	e.t.Helper()
	pod.Namespace = e.namespace
	created, err := e.client.CoreV1().Pods(e.namespace).Create(context.Background(), pod, metav1.CreateOptions{})
	if err != nil {
		e.t.Fatalf("create pod %s: %v", pod.Name, err)
	}
	e.t.Cleanup(func() {
		_ = e.client.CoreV1().Pods(e.namespace).Delete(context.Background(), created.Name, metav1.DeleteOptions{
			GracePeriodSeconds: ptr.To[int64](0), Preconditions: &metav1.Preconditions{UID: &created.UID}})
	})
	return created
}

// auditCount counts the audit log's events that contain every one of substrings.
func (e *E2E) auditCount(substrings ...string) int {
	e.t.Helper()
	data, err := os.ReadFile(e.cluster.AuditLogPath())
	if err != nil {
		e.t.Fatalf("audit log: %v", err)
	}
	n := 0
lines:
	for _, line := range strings.Split(string(data), "\n") {
		for _, s := range substrings {
			if !strings.Contains(line, s) {
				continue lines
			}
		}
		n++
	}
	return n
}

// hostProcesses are the pids of this machine whose argv is argv. The cluster's nodes are
// this machine, so a process exec'd in a node-shell pod is one of them.
func hostProcesses(argv []string) []int {
	want := strings.Join(argv, "\x00") + "\x00"
	var pids []int
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		cmdline, err := os.ReadFile(filepath.Join(d, "cmdline"))
		if err != nil || string(cmdline) != want {
			continue
		}
		var pid int
		if _, err := fmt.Sscan(filepath.Base(d), &pid); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// waitHostProcess waits for the one process running argv and returns its pid.
func waitHostProcess(t *testing.T, argv []string, timeout time.Duration) int {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if pids := hostProcesses(argv); len(pids) == 1 {
			return pids[0]
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no process %q on the node after %v", argv, timeout)
	return 0
}

// waitProcessGone waits until pid has exited and returns when it saw it gone.
func waitProcessGone(t *testing.T, pid int, timeout time.Duration) time.Time {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			return time.Now()
		}
		if stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil && zombie(stat) {
			return time.Now()
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("process %d still runs after %v", pid, timeout)
	return time.Time{}
}

// zombie reads the state field of /proc/PID/stat: an exited process not yet reaped.
func zombie(stat []byte) bool {
	i := bytes.LastIndexByte(stat, ')')
	return i >= 0 && i+2 < len(stat) && stat[i+2] == 'Z'
}
