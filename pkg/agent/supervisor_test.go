package agent

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/sessionlog"
)

// busyboxEnv runs the agent's scripts under busybox sh, as the agent image does, with
// PATH holding only busybox's applets and a private sessions directory.
type busyboxEnv struct {
	busybox  string
	path     string
	sessions string
	log      string
}

func newBusybox(t *testing.T) busyboxEnv {
	t.Helper()
	busybox, err := exec.LookPath("busybox")
	if err != nil {
		t.Fatalf("busybox is not on PATH (%v): the agent's scripts are tested under busybox sh, the agent image's shell; install it (apt-get install busybox-static)", err)
	}
	bin := t.TempDir()
	for _, applet := range []string{"sh", "sleep", "mkdir", "rm", "cat", "true", "false", "date", "find", "wc"} {
		if err := os.Symlink(busybox, filepath.Join(bin, applet)); err != nil {
			t.Fatal(err)
		}
	}
	return busyboxEnv{busybox: busybox, path: bin, sessions: filepath.Join(t.TempDir(), "sessions"), log: filepath.Join(t.TempDir(), "log")}
}

// command is argv (an agent argv, starting /bin/sh -c) as a process of its own session,
// as a container runtime starts an exec.
func (b busyboxEnv) command(ctx context.Context, argv []string, newSession bool) *exec.Cmd {
	cmd := exec.CommandContext(ctx, b.busybox, argv[1:]...)
	cmd.Args[0] = "sh"
	cmd.Env = []string{"PATH=" + b.path, "NODE_SHELL_SESSIONS=" + b.sessions, "NODE_SHELL_LOG=" + b.log}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: newSession}
	cmd.WaitDelay = 2 * time.Second
	return cmd
}

func (b busyboxEnv) run(t *testing.T, argv []string, stdin string) (stdout, stderr string, status int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := b.command(ctx, argv, true)
	var out, errOut bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = strings.NewReader(stdin), &out, &errOut
	status = exitStatus(t, cmd.Run(), &out, &errOut)
	return out.String(), errOut.String(), status
}

func exitStatus(t *testing.T, err error, out, errOut *bytes.Buffer) int {
	t.Helper()
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exitErr) && exitErr.ExitCode() >= 0:
		return exitErr.ExitCode()
	case errors.As(err, &exitErr):
		// Killed by a signal: 128+N, as a container runtime reports an exec's end.
		if ws, ok := exitErr.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
	}
	t.Fatalf("run: %v; stdout %q, stderr %q", err, out, errOut)
	return 0
}

// pidAlive reports whether pid runs (a zombie does not count).
func pidAlive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	return !strings.HasPrefix(s[strings.LastIndex(s, ")")+2:], "Z")
}

func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", within, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestSupervisorPassesStatusStdinAndOutput(t *testing.T) {
	b := newBusybox(t)
	argv := SupervisedArgv(NewSessionID(), 30*time.Second, 0, Record{Command: "sh"}.Encode(),
		[]string{"sh", "-c", `read -r line; echo "got $line"; echo oops >&2; exit 7`})
	out, errOut, status := b.run(t, argv, "hello\n")
	if out != "got hello\n" || errOut != "oops\n" || status != 7 {
		t.Fatalf("stdout %q, stderr %q, status %d; want the command's own", out, errOut, status)
	}
	entries, _ := os.ReadDir(b.sessions)
	if len(entries) != 0 {
		t.Errorf("the session's state is left in %s: %v", b.sessions, entries)
	}
}

// A command that exits leaves nothing running: its background children end with it.
func TestSupervisorEndsWhatTheCommandLeftRunning(t *testing.T) {
	b := newBusybox(t)
	argv := SupervisedArgv(NewSessionID(), 30*time.Second, 0, "{}", []string{"sh", "-c", `sleep 300 & echo $!`})
	out, _, status := b.run(t, argv, "")
	pid, err := strconv.Atoi(strings.TrimSpace(out))
	if err != nil || status != 0 {
		t.Fatalf("stdout %q, status %d: want the background pid and 0", out, status)
	}
	waitFor(t, 5*time.Second, "the background sleep killed", func() bool { return !pidAlive(pid) })
}

// The client's heartbeat keeps a session alive past its timeout; once it stops, the
// watcher ends the command and every process of the session within the timeout.
func TestSupervisorHeartbeat(t *testing.T) {
	b := newBusybox(t)
	id := NewSessionID()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := b.command(ctx, SupervisedArgv(id, 2*time.Second, 0, Record{Command: "sleep", HeartbeatTimeout: "2s"}.Encode(),
		[]string{"sh", "-c", `sleep 300 & echo $!; exec sleep 301`}), true)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var ended error
	// Heartbeats for 5 s, over twice the timeout: the session must live through them.
	for i := 0; i < 10; i++ {
		time.Sleep(500 * time.Millisecond)
		if _, _, st := b.run(t, HeartbeatArgv(id, strconv.Itoa(i)), ""); st != 0 {
			t.Fatalf("heartbeat %d: status %d", i, st)
		}
		select {
		case err := <-done:
			t.Fatalf("the session ended despite its heartbeat: %v, stderr %q", err, errOut.String())
		default:
		}
	}
	list, _, st := b.run(t, ListArgv(), "")
	sessions, err := ParseSessions(list)
	if st != 0 || err != nil || len(sessions) != 1 || sessions[0].ID != id || !sessions[0].SupervisorAlive ||
		sessions[0].Record.Command != "sleep" || sessions[0].Stale(0) {
		t.Fatalf("list: %q (status %d) parsed as %+v, %v; want the one live session", list, st, sessions, err)
	}
	stopped := time.Now()
	select {
	case ended = <-done:
	case <-time.After(6 * time.Second):
		t.Fatalf("the command still runs %s after the last heartbeat (timeout 2s)", time.Since(stopped))
	}
	if status := exitStatus(t, ended, &out, &errOut); status != 137 {
		t.Errorf("the expired session's status is %d, want 137 (SIGKILL)", status)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(out.String()))
	waitFor(t, 3*time.Second, "the session's background sleep killed", func() bool { return pid > 0 && !pidAlive(pid) })
	if _, _, st := b.run(t, HeartbeatArgv(id, "late"), ""); !IsNoSession(st) {
		t.Errorf("a heartbeat after the end: status %d, want %d (no session)", st, exitNoSession)
	}
}

func TestSupervisorMaxLifetime(t *testing.T) {
	b := newBusybox(t)
	start := time.Now()
	_, _, status := b.run(t, SupervisedArgv(NewSessionID(), 30*time.Second, 2*time.Second, "{}", []string{"sleep", "300"}), "")
	if took := time.Since(start); took > 6*time.Second || status != 137 {
		t.Fatalf("a 2s lifetime ended the command after %s with status %d; want about 2s and 137", took, status)
	}
}

func TestSupervisorRefusesWhatItCannotEnd(t *testing.T) {
	b := newBusybox(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	marker := filepath.Join(t.TempDir(), "ran")
	cmd := b.command(ctx, SupervisedArgv(NewSessionID(), 30*time.Second, 0, "{}", []string{"mkdir", marker}), false)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if st := exitStatus(t, cmd.Run(), &out, &errOut); st != 255 || !strings.Contains(errOut.String(), "not a session of its own") {
		t.Fatalf("outside a session of its own: status %d, stderr %q; want 255 and why", st, errOut.String())
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("the command ran although the supervisor refused")
	}

	id := NewSessionID()
	if err := os.MkdirAll(filepath.Join(b.sessions, id), 0o755); err != nil {
		t.Fatal(err)
	}
	_, errText, st := b.run(t, SupervisedArgv(id, 30*time.Second, 0, "{}", []string{"mkdir", marker}), "")
	if st != 255 || !strings.Contains(errText, "exists already") {
		t.Fatalf("a taken ID: status %d, stderr %q; want 255 and why", st, errText)
	}
}

func TestEndScriptEndsASessionWithoutItsWatcher(t *testing.T) {
	b := newBusybox(t)
	id := NewSessionID()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := b.command(ctx, SupervisedArgv(id, 60*time.Second, 0, "{}", []string{"sleep", "300"}), true)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the session's directory made", func() bool {
		_, err := os.Stat(filepath.Join(b.sessions, id, "pid"))
		return err == nil
	})
	if _, errText, st := b.run(t, EndArgv(id, EndedByGC), ""); st != 0 {
		t.Fatalf("end: status %d, stderr %q", st, errText)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the session still runs after end")
	}
	if _, _, st := b.run(t, EndArgv(id, EndedByGC), ""); !IsNoSession(st) {
		t.Errorf("end of an ended session: status %d, want %d", st, exitNoSession)
	}
}

func TestParseSessions(t *testing.T) {
	got, err := ParseSessions("abc\t3\t60\t1\t{\"user\":\"alice\",\"command\":\"top\",\"heartbeatTimeout\":\"45s\"}\ndef\t99\t100\t0\t\n")
	if err != nil || len(got) != 2 {
		t.Fatalf("ParseSessions = %+v, %v", got, err)
	}
	if got[0].Record.User != "alice" || got[0].SinceHeartbeat != 3*time.Second || got[0].Stale(15*time.Second) {
		t.Errorf("first session %+v: want alice's, alive", got[0])
	}
	if !got[1].Stale(15 * time.Second) {
		t.Errorf("a session whose supervisor is gone must be stale: %+v", got[1])
	}
	if _, err := ParseSessions("only\ttwo\n"); err == nil {
		t.Error("a line of another format must be an error")
	}
}

// logOf is the node's session log as sessionlog's own list reads it.
func (b busyboxEnv) logOf(t *testing.T) []sessionlog.Entry {
	t.Helper()
	out, errText, st := b.run(t, sessionlog.ListArgv(), "")
	if st != 0 {
		t.Fatalf("session log list: status %d, stderr %q", st, errText)
	}
	entries, err := sessionlog.ParseList(out)
	if err != nil {
		t.Fatal(err)
	}
	return entries
}

// The supervisor writes the node's record of the session: the command's exit status, or
// why the watcher or gc ended it, whatever the client does.
func TestSupervisorRecordsEachEndOnTheNode(t *testing.T) {
	b := newBusybox(t)
	done := NewSessionID()
	b.run(t, SupervisedArgv(done, 30*time.Second, 0, Record{ID: done, User: "alice", Command: "false", Agent: true}.Encode(), []string{"sh", "-c", "exit 4"}), "")
	expired := NewSessionID()
	b.run(t, SupervisedArgv(expired, 1*time.Second, 0, Record{ID: expired, Command: "sleep"}.Encode(), []string{"sleep", "300"}), "")

	ended := NewSessionID()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := b.command(ctx, SupervisedArgv(ended, 60*time.Second, 0, Record{ID: ended, Command: "sleep"}.Encode(), []string{"sleep", "300"}), true)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the session started", func() bool {
		_, err := os.Stat(filepath.Join(b.sessions, ended, "pid"))
		return err == nil
	})
	if _, errText, st := b.run(t, EndArgv(ended, EndedByGC), ""); st != 0 {
		t.Fatalf("end: status %d, stderr %q", st, errText)
	}
	_ = cmd.Wait()

	byID := map[string]sessionlog.Entry{}
	for _, e := range b.logOf(t) {
		byID[e.ID] = e
	}
	if e := byID[done]; e.ExitStatus == nil || *e.ExitStatus != 4 || e.Record.User != "alice" || !e.Record.Agent || e.End.IsZero() {
		t.Errorf("the finished session's record %+v: want alice's, exit status 4", e)
	}
	if e := byID[expired]; e.ExitStatus != nil || !strings.Contains(e.EndedBy, "no heartbeat") {
		t.Errorf("the expired session's record %+v: want ended by the watcher, no heartbeat", e)
	}
	if e := byID[ended]; e.ExitStatus != nil || !strings.HasPrefix(e.EndedBy, "gc") {
		t.Errorf("the session gc ended: record %+v; want ended by gc", e)
	}
}
