package e2e

import (
	"context"
	"errors"
	"os/exec"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
	dockerterm "github.com/moby/term"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestSIGQUITDeletesThePod: SIGQUIT ends a session like SIGTERM, instead of Go's default
// (a goroutine dump, exit 2, the pod left to its watchdog): the pod is deleted, node-shell
// exits 131 with one line.
func TestSIGQUITDeletesThePod(t *testing.T) {
	e := newE2E(t)
	node := e.Nodes()[1]
	arg := uniqueSleep()
	run := e.NodeShell(node, "--", "sleep", arg).Start()
	pod := e.waitSessionPod(30 * time.Second)
	run.AssertOnNode(t, node)
	sleeper := waitHostProcess(t, []string{"sleep", arg}, 30*time.Second)
	run.Signal(syscall.SIGQUIT)
	if status := run.Wait(20 * time.Second); status != 131 {
		t.Errorf("status %d after SIGQUIT, want 131; stderr %q", status, run.Stderr())
	}
	if stderr := run.Stderr(); !strings.HasSuffix(stderr, "\nerror: interrupted by quit\n") && stderr != "error: interrupted by quit\n" || strings.Contains(stderr, "goroutine ") {
		t.Errorf("stderr %q, want it to end in node-shell's one line, with no goroutine dump", stderr)
	}
	if _, err := e.client.CoreV1().Pods(e.namespace).Get(context.Background(), pod.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("pod %s still exists after node-shell exited (%v)", pod.Name, err)
	}
	waitProcessGone(t, sleeper, 20*time.Second)
}

// TestSIGQUITOnATerminalRestoresItAndDeletesThePod: during an interactive shell on a real
// pty, the terminal is raw; SIGQUIT ends the session (kubectl's raw-mode guard catches it
// to restore the terminal, so without node-shell's own handler the session would go on, on
// a cooked terminal), deletes the pod, and leaves the terminal exactly as it found it.
func TestSIGQUITOnATerminalRestoresItAndDeletesThePod(t *testing.T) {
	e := newE2E(t)
	node := e.Nodes()[0]
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatalf("open a pty: %v", err)
	}
	defer ptmx.Close()
	defer tty.Close() // held open by the test, so the terminal's state can be read after exit
	if err := pty.Setsize(ptmx, &pty.Winsize{Rows: 24, Cols: 80}); err != nil {
		t.Fatal(err)
	}
	before, err := dockerterm.SaveState(tty.Fd())
	if err != nil {
		t.Fatal(err)
	}
	var screen lockedBuffer
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := ptmx.Read(buf)
			_, _ = screen.Write(buf[:n])
			if err != nil {
				return
			}
		}
	}()

	sessions := e.WatchSessionPods()
	cmd := e.NodeShell(node).Command()
	cmd.Env = append(cmd.Env, "TERM=xterm")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	waitScreen := func(want string, timeout time.Duration) {
		t.Helper()
		for deadline := time.Now().Add(timeout); !strings.Contains(screen.String(), want); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("the terminal does not show %q after %v:\n%q", want, timeout, screen.String())
			}
		}
	}
	if _, err := ptmx.WriteString("echo READY-$((6*7))\n"); err != nil {
		t.Fatal(err)
	}
	waitScreen("READY-42", 60*time.Second)
	sessions.AssertOnly(t, node)
	pod := e.waitSessionPod(10 * time.Second)
	raw, err := dockerterm.SaveState(tty.Fd())
	if err != nil {
		t.Fatal(err)
	}
	if reflect.DeepEqual(raw, before) {
		t.Fatal("the terminal is not in raw mode during the shell: the check below could not tell")
	}

	if err := cmd.Process.Signal(syscall.SIGQUIT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		var exitErr *exec.ExitError
		if !errors.As(err, &exitErr) || exitErr.ExitCode() != 131 {
			t.Errorf("node-shell ended with %v after SIGQUIT, want exit status 131; the terminal showed:\n%q", err, screen.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("node-shell still runs 20s after SIGQUIT; the terminal showed:\n%q", screen.String())
	}
	after, err := dockerterm.SaveState(tty.Fd())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(after, before) {
		t.Error("the terminal was left in another state than node-shell found it in")
	}
	waitScreen("error: interrupted by quit\r\n", 10*time.Second) // the test's pty reader may lag the exit
	if s := screen.String(); strings.Contains(s, "goroutine ") {
		t.Errorf("the terminal showed a goroutine dump:\n%q", s)
	}
	if _, err := e.client.CoreV1().Pods(e.namespace).Get(context.Background(), pod.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("pod %s still exists after node-shell exited (%v)", pod.Name, err)
	}
}
