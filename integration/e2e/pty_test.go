package e2e

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
)

// Terminal is the plugin running on a real pseudo-terminal, as a user's shell would.
type Terminal struct {
	t    *testing.T
	cmd  *exec.Cmd
	ptmx *os.File
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{}
	// sessions records the pods the plugin creates.
	sessions *SessionWatch
}

// StartTerminal starts the invocation with stdin, stdout and stderr on a new pty of the
// given size, as the session leader with the pty as its controlling terminal.
func (i *Invocation) StartTerminal(rows, cols uint16) *Terminal {
	i.e.t.Helper()
	cmd := i.Command()
	cmd.Env = append(cmd.Env, "TERM=xterm")
	sessions := i.e.WatchSessionPods()
	ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: rows, Cols: cols})
	if err != nil {
		i.e.t.Fatalf("start plugin on a pty: %v", err)
	}
	term := &Terminal{t: i.e.t, cmd: cmd, ptmx: ptmx, done: make(chan struct{}), sessions: sessions}
	go func() {
		defer close(term.done)
		buf := make([]byte, 4096)
		for {
			n, err := ptmx.Read(buf)
			term.mu.Lock()
			term.out.Write(buf[:n])
			term.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	i.e.t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
		ptmx.Close()
	})
	return term
}

// AssertOnNode fails t unless the plugin has created a pod by now, and every pod it created
// is on node.
func (term *Terminal) AssertOnNode(t testing.TB, node string) {
	t.Helper()
	term.sessions.AssertOnly(t, node)
}

// Send types s on the terminal.
func (term *Terminal) Send(s string) {
	term.t.Helper()
	if _, err := io.WriteString(term.ptmx, s); err != nil {
		term.t.Fatalf("write to pty: %v", err)
	}
}

// Expect waits until the terminal has shown want (after the last match), or fails.
func (term *Terminal) Expect(want string, timeout time.Duration) {
	term.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		term.mu.Lock()
		i := strings.Index(term.out.String(), want)
		if i >= 0 {
			term.out.Next(i + len(want))
		}
		term.mu.Unlock()
		if i >= 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	term.mu.Lock()
	defer term.mu.Unlock()
	term.t.Fatalf("terminal did not show %q within %v; it shows:\n%q", want, timeout, term.out.String())
}

// Resize changes the terminal's size; the kernel sends SIGWINCH to the plugin.
func (term *Terminal) Resize(rows, cols uint16) {
	term.t.Helper()
	if err := pty.Setsize(term.ptmx, &pty.Winsize{Rows: rows, Cols: cols}); err != nil {
		term.t.Fatalf("resize pty: %v", err)
	}
}

// Wait waits for the plugin to exit and returns its status.
func (term *Terminal) Wait(timeout time.Duration) int {
	term.t.Helper()
	exited := make(chan error, 1)
	go func() { exited <- term.cmd.Wait() }()
	select {
	case err := <-exited:
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			return exitErr.ExitCode()
		}
		if err != nil {
			term.t.Fatalf("wait: %v", err)
		}
		return 0
	case <-time.After(timeout):
		_ = term.cmd.Process.Kill()
		term.t.Fatalf("plugin did not exit within %v", timeout)
		return -1
	}
}

// TestInteractiveShell: a login shell on a real pty; commands answer, a resize reaches the
// remote side, and `exit 3` ends the session with status 3.
func TestInteractiveShell(t *testing.T) {
	e := newE2E(t)
	node := e.Nodes()[1]
	term := e.NodeShell(node).StartTerminal(24, 80)

	// Arithmetic in the command keeps the echo of what we typed from matching.
	term.Send("echo ready-$((40+2))\r")
	term.Expect("ready-42", 60*time.Second)
	term.AssertOnNode(t, node)

	host, _ := os.Hostname()
	term.Send("echo host=$(hostname)=\r")
	term.Expect("host="+host+"=", 10*time.Second)

	term.Send("stty size\r")
	term.Expect("24 80", 10*time.Second)
	term.Resize(33, 101)
	// SIGWINCH → resize queue → exec stream → the remote pty: the shell polls until it arrives.
	term.Send("until [ \"$(stty size)\" = '33 101' ]; do sleep 0.05; done; echo resized-$((30+3))\r")
	term.Expect("resized-33", 10*time.Second)
	term.Send("stty size\r")
	term.Expect("33 101", 10*time.Second)

	term.Send("echo term=$TERM\r")
	term.Expect("term=xterm", 10*time.Second)

	term.Send("exit 3\r")
	if status := term.Wait(30 * time.Second); status != 3 {
		t.Errorf("status after `exit 3` = %d, want 3", status)
	}
}
