package e2e

import (
	"context"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/kubectl-node-shell/kubectl-node-shell/integration/localcluster"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/agent"
)

// TestAgent installs the node agent on the 3-node cluster and runs sessions on it: the same
// statuses, stdin and TTY as a session pod, each exec in the agent pod of the node asked
// for and no pod created; kill -9 of a client ends its remote command within the pod mode's
// bound while the agent stays; two sessions on one node do not touch each other; a session
// whose agent is deleted says so in one line; uninstall leaves nothing.
func TestAgent(t *testing.T) {
	e := newE2E(t)
	e.removeSetup() // a failed earlier run may have left it
	t.Cleanup(e.removeSetup)
	e.setup(e.kubeconfig, "--group", "node-admins").RunOK()
	node := e.Nodes()[1]

	// Before install, --agent=always refuses in one line, and auto falls back to a pod.
	r := e.NodeShell("--agent=always", node, "--", "true").Run()
	e.assertAgentFailure(r, "node "+node+" has no ready node-shell agent (no agent pod on it)")
	e.NodeShell(node, "--", "true").RunOK().AssertOnNode(t, node)

	// A user without rights on daemonsets is told what is missing, in one line.
	nobody := e.mint("e2e-agent-nobody")
	r = e.NodeShellAnyNamespace("agent", "install").WithKubeconfig(nobody).Run()
	e.assertAgentFailure(r, "you are not allowed to create daemonsets.apps, patch daemonsets.apps in namespace node-shell")

	t.Cleanup(func() { e.NodeShellAnyNamespace("agent", "uninstall").Run() })
	e.scheduleAgentPods()
	r = e.NodeShellAnyNamespace("agent", "install").RunOK()
	for _, n := range e.Nodes() {
		if !strings.Contains(string(r.Stdout), n) {
			t.Errorf("install's status does not show node %s:\n%s", n, r.Stdout)
		}
	}
	if strings.Contains(string(r.Stdout), " no ") {
		t.Errorf("install returned before every agent was ready:\n%s", r.Stdout)
	}
	agentPod := e.agentPod(node)

	t.Run("status and exit codes, no pod created", func(t *testing.T) {
		e := e.For(t)
		r := e.NodeShellAnyNamespace("agent", "status").RunOK()
		if got := strings.Count(string(r.Stdout), " yes "); got != len(e.Nodes()) {
			t.Errorf("status shows %d ready agents, want %d:\n%s", got, len(e.Nodes()), r.Stdout)
		}
		for _, code := range []int{0, 3, 42} {
			r := e.NodeShell("--agent=always", node, "--", "sh", "-c", fmt.Sprintf("echo out; echo err >&2; exit %d", code)).Run()
			if r.Status != code || string(r.Stdout) != "out\n" || !strings.HasSuffix(string(r.Stderr), "err\n") {
				t.Errorf("exit %d: status %d, stdout %q, stderr %q", code, r.Status, r.Stdout, r.Stderr)
			}
			if len(r.Sessions) != 0 {
				t.Errorf("a session on the agent created pods: %v", r.Sessions)
			}
		}
		// The command's cgroup is the agent pod's of that node: the exec went there.
		for _, mode := range []string{"chroot", "nsenter", "container"} {
			r := e.NodeShell("--mode", mode, node, "--", "cat", "/proc/self/cgroup").RunOK()
			if !inPodCgroup(string(r.Stdout), agentPod) {
				t.Errorf("--mode %s: the command's cgroup %q is not agent pod %s's on node %s", mode, r.Stdout, agentPod.Name, node)
			}
		}
		r = e.NodeShell(node, "--", "sh", "-c", "tr a-z A-Z; exit 5").WithStdin(strings.NewReader("piped stdin\n")).Run()
		if r.Status != 5 || string(r.Stdout) != "PIPED STDIN\n" {
			t.Errorf("stdin: status %d, stdout %q; want 5 and the input upper-cased", r.Status, r.Stdout)
		}
		r = e.NodeShell("--agent=never", node, "--", "true").RunOK()
		if len(r.Sessions) != 1 {
			t.Errorf("--agent=never created %d pods, want its own one", len(r.Sessions))
		}
	})

	t.Run("TTY", func(t *testing.T) {
		e := e.For(t)
		term := e.NodeShell(node).StartTerminal(24, 80)
		term.Send("echo READY-$((6*7))\n")
		term.Expect("READY-42", 30*time.Second)
		term.Resize(40, 132)
		// The resize travels client → apiserver → kubelet → pty while the shell runs on: wait
		// for it there, as the pod session's TTY test does.
		term.Send("until [ \"$(stty size)\" = '40 132' ]; do sleep 0.05; done; echo RESIZED-$((6*7))\n")
		term.Expect("RESIZED-42", 10*time.Second)
		term.Send("sleep 1000\n")
		waitHostProcess(t, []string{"sleep", "1000"}, 10*time.Second)
		term.Send("\x03")
		term.Send("echo AFTER-$((6*7))\n")
		term.Expect("AFTER-42", 10*time.Second)
		term.Send("exit 9\n")
		if got := term.Wait(20 * time.Second); got != 9 {
			t.Errorf("the shell's exit 9 came back as %d", got)
		}
		if len(term.sessions.Created(t)) != 0 {
			t.Error("a TTY session on the agent created a pod")
		}
	})

	t.Run("kill -9 of one client ends its command only, the agent stays", func(t *testing.T) {
		e := e.For(t)
		killedArg, keptArg := uniqueSleep(), uniqueSleep()
		killed := e.NodeShell("--heartbeat-timeout", testHeartbeatTimeout.String(), node, "--", "sleep", killedArg).Start()
		kept := e.NodeShell("--heartbeat-timeout", testHeartbeatTimeout.String(), node, "--", "sleep", keptArg).Start()
		killedPID := waitHostProcess(t, []string{"sleep", killedArg}, 30*time.Second)
		keptPID := waitHostProcess(t, []string{"sleep", keptArg}, 30*time.Second)
		if !inPodCgroup(readFile(t, fmt.Sprintf("/proc/%d/cgroup", killedPID)), agentPod) {
			t.Fatalf("the sleep does not run in agent pod %s", agentPod.Name)
		}
		// list shows both, alive, as sessions of the agent pod; gc leaves them alone.
		r := e.NodeShellAnyNamespace("list").RunOK()
		if got := strings.Count(string(r.Stdout), agent.Namespace+"/"+agentPod.Name+" session "); got != 2 || strings.Count(string(r.Stdout), "alive") < 2 {
			t.Errorf("list shows %d sessions of agent pod %s, want 2 alive:\n%s", got, agentPod.Name, r.Stdout)
		}
		if r := e.NodeShellAnyNamespace("gc").RunOK(); strings.Contains(string(r.Stdout), "session") {
			t.Errorf("gc ended a live agent session: %s", r.Stdout)
		}
		at := time.Now()
		killed.Signal(syscall.SIGKILL)
		killed.Wait(10 * time.Second)
		gone := waitProcessGone(t, killedPID, expiryBound)
		t.Logf("kill -9 of an agent session's client: its sleep gone after %.1fs (heartbeat timeout %s)", gone.Sub(at).Seconds(), testHeartbeatTimeout)
		// The other session's heartbeat kept it alive through the first one's expiry.
		if err := syscall.Kill(keptPID, 0); err != nil {
			t.Errorf("the other session's sleep ended with the killed one: %v", err)
		}
		now := e.agentPod(node)
		if now.UID != agentPod.UID || restarts(now) != restarts(agentPod) {
			t.Errorf("the agent pod was replaced or restarted: %s/%d, was %s/%d", now.UID, restarts(now), agentPod.UID, restarts(agentPod))
		}
		// A signal ends the other session at once, as it deletes a session pod.
		kept.Signal(syscall.SIGTERM)
		if got := kept.Wait(20 * time.Second); got != 128+int(syscall.SIGTERM) {
			t.Errorf("SIGTERM: status %d, want %d", got, 128+int(syscall.SIGTERM))
		}
		waitProcessGone(t, keptPID, 10*time.Second)
	})

	t.Run("a fleet on agents creates no pod", func(t *testing.T) {
		e := e.For(t)
		r := e.NodeShell("--all", "--", "sh", "-c", "cat /proc/self/cgroup; exit 4").Run()
		if r.Status != 4 || len(r.Sessions) != 0 {
			t.Errorf("fleet: status %d, %d pods created; want 4 and none", r.Status, len(r.Sessions))
		}
		for _, n := range e.Nodes() {
			if !inPodCgroup(string(r.Stdout), e.agentPod(n)) {
				t.Errorf("no output line from node %s's agent pod:\n%s", n, r.Stdout)
			}
		}
	})

	t.Run("the agent deleted mid-session", func(t *testing.T) {
		e := e.For(t)
		arg := uniqueSleep()
		run := e.NodeShell(node, "--", "sleep", arg).Start()
		pid := waitHostProcess(t, []string{"sleep", arg}, 30*time.Second)
		if err := e.client.CoreV1().Pods(agent.Namespace).Delete(context.Background(), agentPod.Name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		if got := run.Wait(60 * time.Second); got != 255 {
			t.Errorf("status %d, want 255", got)
		}
		stderr := run.Stderr()
		want := "the node-shell agent on node " + node + " (pod node-shell/" + agentPod.Name + ") was deleted during the session"
		if !strings.Contains(stderr, want) || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
			t.Errorf("stderr %q, want the one line %q", stderr, want)
		}
		waitProcessGone(t, pid, 30*time.Second)
		agentPod = e.waitAgentReady(node, agentPod.UID)
	})

	t.Run("uninstall leaves nothing", func(t *testing.T) {
		e := e.For(t)
		e.NodeShellAnyNamespace("agent", "uninstall").RunOK()
		ctx := context.Background()
		if _, err := e.client.AppsV1().DaemonSets(agent.Namespace).Get(ctx, agent.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("the daemonset after uninstall: %v, want not found", err)
		}
		pods, err := e.client.CoreV1().Pods(agent.Namespace).List(ctx, metav1.ListOptions{LabelSelector: agent.Selector})
		if err != nil || len(pods.Items) != 0 {
			t.Errorf("agent pods after uninstall: %d (%v), want none", len(pods.Items), err)
		}
		// Sessions fall back to pods of their own.
		e.NodeShell(node, "--", "true").RunOK().AssertOnNode(t, node)
		r := e.NodeShell("--agent=always", node, "--", "true").Run()
		e.assertAgentFailure(r, "has no ready node-shell agent")
	})
}

// scheduleAgentPods binds the agent's pods to their nodes until the test ends: the local
// cluster has no scheduler (session pods name their node).
func (e *E2E) scheduleAgentPods() {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	e.t.Cleanup(cancel)
	if err := localcluster.BindDaemonSetPods(ctx, e.client, agent.Namespace, agent.Selector); err != nil {
		e.t.Fatalf("watch agent pods: %v", err)
	}
}

// assertAgentFailure checks r failed with node-shell's 255, one line containing want.
func (e *E2E) assertAgentFailure(r Result, want string) {
	e.t.Helper()
	stderr := strings.TrimSpace(string(r.Stderr))
	if r.Status != 255 || !strings.Contains(stderr, want) || strings.Contains(stderr, "\n") {
		e.t.Errorf("status %d, stderr %q; want 255 and the one line %q", r.Status, stderr, want)
	}
}

// agentPod is node's ready agent pod.
func (e *E2E) agentPod(node string) *corev1.Pod {
	e.t.Helper()
	pod, err := agent.Find(context.Background(), e.client, node)
	if err != nil {
		e.t.Fatalf("node %s's agent: %v", node, err)
	}
	return pod
}

// waitAgentReady waits for node's agent pod, other than the one of UID old, to be ready.
func (e *E2E) waitAgentReady(node string, old any) *corev1.Pod {
	e.t.Helper()
	var pod *corev1.Pod
	err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		p, err := agent.Find(ctx, e.client, node)
		if err != nil || fmt.Sprint(p.UID) == fmt.Sprint(old) {
			return false, nil
		}
		pod = p
		return true, nil
	})
	if err != nil {
		pods, _ := e.client.CoreV1().Pods(agent.Namespace).List(context.Background(), metav1.ListOptions{
			FieldSelector: fields.OneTermEqualSelector("spec.nodeName", node).String()})
		e.t.Fatalf("no new ready agent on node %s after a minute: %v", node, pods)
	}
	return pod
}

// inPodCgroup reports whether a /proc/PID/cgroup text names pod's cgroup (cgroupfs spells
// its UID with dashes, systemd with underscores).
func inPodCgroup(cgroup string, pod *corev1.Pod) bool {
	uid := string(pod.UID)
	return strings.Contains(cgroup, uid) || strings.Contains(cgroup, strings.ReplaceAll(uid, "-", "_"))
}

func restarts(pod *corev1.Pod) int32 {
	var n int32
	for _, cs := range pod.Status.ContainerStatuses {
		n += cs.RestartCount
	}
	return n
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
