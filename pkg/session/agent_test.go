package session

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	utilexec "k8s.io/utils/exec"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/agent"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/podspec"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/stream"
)

// busyboxExecutor runs each exec's argv on this machine under busybox sh, in a session of
// its own as a container runtime runs an exec: the agent's scripts for real.
type busyboxExecutor struct {
	t        *testing.T
	busybox  string
	env      []string
	mu       sync.Mutex
	commands [][]string
}

func newBusyboxExecutor(t *testing.T) *busyboxExecutor {
	busybox, err := exec.LookPath("busybox")
	if err != nil {
		t.Fatalf("busybox is not on PATH (%v): agent sessions are tested under busybox sh; install it (apt-get install busybox-static)", err)
	}
	bin := t.TempDir()
	for _, applet := range []string{"sh", "sleep", "mkdir", "rm", "date", "find", "wc", "cat"} {
		if err := os.Symlink(busybox, filepath.Join(bin, applet)); err != nil {
			t.Fatal(err)
		}
	}
	return &busyboxExecutor{t: t, busybox: busybox, env: []string{"PATH=" + bin, "NODE_SHELL_SESSIONS=" + filepath.Join(t.TempDir(), "sessions"), "NODE_SHELL_LOG=" + filepath.Join(t.TempDir(), "log")}}
}

func (b *busyboxExecutor) Exec(ctx context.Context, req stream.Request) error {
	b.mu.Lock()
	b.commands = append(b.commands, req.Command)
	b.mu.Unlock()
	cmd := exec.CommandContext(ctx, b.busybox, req.Command[1:]...)
	cmd.Args[0] = "sh"
	cmd.Env = b.env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = req.Stdin, req.Stdout, req.Stderr
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) && exitErr.ExitCode() >= 0 {
		return utilexec.CodeExitError{Err: err, Code: exitErr.ExitCode()}
	}
	return err
}

func (b *busyboxExecutor) count(script string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, c := range b.commands {
		if len(c) > 3 && c[3] == script {
			n++
		}
	}
	return n
}

func readyAgentPod(node string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: podspec.AgentName + "-x", Namespace: agent.Namespace, UID: "agent-uid"},
		Spec:       corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: podspec.ContainerName}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{
			Name: podspec.ContainerName, Ready: true, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}},
		}}},
	}
}

// A session on the agent runs the entry's argv under the supervisor in the agent pod, with
// its status and output, and outlives its heartbeat timeout while its heartbeats flow.
func TestAgentSessionRunsSupervisedWithHeartbeats(t *testing.T) {
	pod := readyAgentPod("node-1")
	executor := newBusyboxExecutor(t)
	s := &Session{Client: fake.NewClientset(pod), Executor: executor}
	target := Target{Pod: podspec.Spec{HeartbeatTimeout: 2 * time.Second}, Command: []string{"sh", "-c", "sleep 3; echo done; exit 7"}}
	h, err := s.StartAgent(context.Background(), target, podspec.Container{}, pod)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if !h.IsAgent() || h.Pod() != pod {
		t.Fatalf("the handle is not on the agent pod")
	}
	var out, errOut bytes.Buffer
	code, err := h.Exec(context.Background(), ExecRequest{Command: target.Command, Terminal: Streams{Out: &out, ErrOut: &errOut}.Terminal()})
	if err != nil || code != 7 || out.String() != "done\n" {
		t.Fatalf("Exec = %d, %v, stdout %q, stderr %q; want 7 and the command's output after 3s (timeout 2s)", code, err, out.String(), errOut.String())
	}
	if n := executor.count(agent.HeartbeatArgv("", "")[3]); n < 3 {
		t.Errorf("%d heartbeats in 3s with a 0.5s interval", n)
	}
	if h.Close() != nil {
		t.Error("Close of an agent session failed")
	}
}

// A stream that breaks because the agent pod is gone is reported as that, in one line.
func TestAgentSessionReportsTheAgentsEnd(t *testing.T) {
	pod := readyAgentPod("node-1")
	client := fake.NewClientset() // the pod is gone by the time the session looks
	h, err := (&Session{Client: client, Executor: &fakeExecutor{err: errors.New("stream reset")}}).
		StartAgent(context.Background(), Target{}, podspec.Chroot{}, pod)
	if err != nil {
		t.Fatal(err)
	}
	_, err = h.Exec(context.Background(), ExecRequest{Command: []string{"true"}})
	want := "the node-shell agent on node node-1 (pod node-shell/" + pod.Name + ") was deleted during the session"
	if err == nil || !strings.HasPrefix(err.Error(), want) || strings.Contains(err.Error(), "\n") {
		t.Fatalf("Exec error = %v; want one line starting %q", err, want)
	}
}

func TestAgentAccessIsWhatSetupGrants(t *testing.T) {
	for _, a := range AgentAccess() {
		if a.Namespace != "" && a.Namespace != agent.Namespace {
			t.Errorf("%+v: agent sessions act only in %s", a, agent.Namespace)
		}
		if a.Resource == "pods" && a.Subresource == "" && a.Verb != "list" {
			t.Errorf("%+v: an agent session creates, changes and deletes no pod", a)
		}
	}
}
