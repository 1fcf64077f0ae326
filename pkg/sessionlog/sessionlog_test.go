package sessionlog

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// node runs the scripts under busybox sh, the session image's shell, with PATH holding only
// busybox's applets and a private log directory standing in for Dir.
type node struct {
	busybox, path, log, podSessions string
}

func newNode(t *testing.T) node {
	t.Helper()
	busybox, err := exec.LookPath("busybox")
	if err != nil {
		t.Fatalf("busybox is not on PATH (%v): the session log's scripts are tested under busybox sh, the session image's shell; install it (apt-get install busybox-static)", err)
	}
	bin := t.TempDir()
	for _, applet := range []string{"sh", "mkdir", "rm", "cat", "date", "find", "wc", "sleep"} {
		if err := os.Symlink(busybox, filepath.Join(bin, applet)); err != nil {
			t.Fatal(err)
		}
	}
	return node{busybox: busybox, path: bin, log: filepath.Join(t.TempDir(), "var", "log", "node-shell", "sessions"), podSessions: filepath.Join(t.TempDir(), "pod-sessions")}
}

func (n node) start(ctx context.Context, argv []string, stdin string) (*exec.Cmd, *bytes.Buffer, *bytes.Buffer) {
	cmd := exec.CommandContext(ctx, n.busybox, argv[1:]...)
	cmd.Args[0] = "sh"
	cmd.Env = []string{"PATH=" + n.path, "NODE_SHELL_LOG=" + n.log, "NODE_SHELL_POD_SESSIONS=" + n.podSessions}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cmd.WaitDelay = 2 * time.Second
	var out, errOut bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = strings.NewReader(stdin), &out, &errOut
	return cmd, &out, &errOut
}

func (n node) run(t *testing.T, argv []string, stdin string) (stdout, stderr string, status int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd, out, errOut := n.start(ctx, argv, stdin)
	status = statusOf(t, cmd.Run())
	return out.String(), errOut.String(), status
}

func statusOf(t *testing.T, err error) int {
	t.Helper()
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exitErr) && exitErr.ExitCode() >= 0:
		return exitErr.ExitCode()
	case errors.As(err, &exitErr):
		if ws, ok := exitErr.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
	}
	t.Fatalf("run: %v", err)
	return 0
}

func (n node) entries(t *testing.T) []Entry {
	t.Helper()
	out, errText, st := n.run(t, ListArgv(), "")
	if st != 0 {
		t.Fatalf("list: status %d, stderr %q", st, errText)
	}
	entries, err := ParseList(out)
	if err != nil {
		t.Fatalf("ParseList(%q): %v", out, err)
	}
	return entries
}

const id1 = "0123456789abcdef0123456789abcdef"

func TestWrapperRecordsStartAndExitStatus(t *testing.T) {
	n := newNode(t)
	rec := Record{ID: id1, Node: "n1", User: "alice", Command: "sh -c 'exit 7'", Mode: "chroot", Reason: "INC-1"}
	before := time.Now().Add(-time.Second).Truncate(time.Second)
	out, errText, st := n.run(t, WrappedArgv(id1, rec, []string{"sh", "-c", `read -r l; echo "got $l"; echo oops >&2; exit 7`}), "hi\n")
	if out != "got hi\n" || errText != "oops\n" || st != 7 {
		t.Fatalf("stdout %q, stderr %q, status %d; want the command's own", out, errText, st)
	}
	entries := n.entries(t)
	if len(entries) != 1 {
		t.Fatalf("entries %+v; want one", entries)
	}
	e := entries[0]
	if e.ID != id1 || e.Record != rec || e.ExitStatus == nil || *e.ExitStatus != 7 || e.EndedBy != "" || e.Recorded() || e.Unreadable {
		t.Fatalf("entry %+v; want %+v with exit status 7, no recording", e, rec)
	}
	if e.Start.Before(before) || e.End.Before(e.Start) || time.Since(e.End) > time.Minute {
		t.Errorf("start %s, end %s: want the node's clock, now", e.Start, e.End)
	}
	// The pod's watchdog finds the record there, to end it if the client dies.
	if listed, _ := os.ReadFile(n.podSessions); string(listed) != filepath.Join(n.log, id1+".json")+"\n" {
		t.Errorf("the pod's sessions file holds %q; want the record's path", listed)
	}
	info, err := os.Stat(filepath.Join(n.log, id1+".json"))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("the record file: %v, mode %v; want 0600 (root's only)", err, info.Mode())
	}
	if dir, _ := os.Stat(n.log); dir.Mode().Perm() != 0o700 {
		t.Errorf("the log directory's mode is %v; want 0700", dir.Mode().Perm())
	}
}

// Ctrl-C on a terminal signals the whole foreground group: the command dies of it, the
// wrapper records 130 and passes it on.
func TestWrapperOutlivesTheSignalsThatEndItsCommand(t *testing.T) {
	n := newNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd, _, _ := n.start(ctx, WrappedArgv(id1, Record{Command: "sleep"}, []string{"sleep", "300"}), "")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(n.entriesQuiet()) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // the sleep is exec'd right after the start line
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if st := statusOf(t, cmd.Wait()); st != 130 {
		t.Fatalf("status %d after SIGINT to the group; want 130", st)
	}
	e := n.entries(t)
	if len(e) != 1 || e[0].ExitStatus == nil || *e[0].ExitStatus != 130 {
		t.Fatalf("entries %+v; want exit status 130 recorded", e)
	}
}

func (n node) entriesQuiet() []string {
	files, _ := filepath.Glob(filepath.Join(n.log, "*.json"))
	return files
}

// An ID's record is written once: a second session with it runs, unrecorded, and says so;
// the first record is untouched.
func TestARecordIsNeverOverwritten(t *testing.T) {
	n := newNode(t)
	n.run(t, WrappedArgv(id1, Record{User: "alice", Command: "true"}, []string{"sh", "-c", "exit 0"}), "")
	_, errText, st := n.run(t, WrappedArgv(id1, Record{User: "mallory", Command: "true"}, []string{"sh", "-c", "exit 3"}), "")
	if st != 3 || !strings.Contains(errText, "not recorded") {
		t.Fatalf("a reused ID: status %d, stderr %q; want the command's status and a warning", st, errText)
	}
	e := n.entries(t)
	if len(e) != 1 || e[0].Record.User != "alice" || *e[0].ExitStatus != 0 {
		t.Fatalf("entries %+v; want alice's record alone, exit 0", e)
	}
	if _, errText, st := n.run(t, WrappedArgv("../x", Record{}, []string{"sh", "-c", "exit 0"}), ""); st != 0 || !strings.Contains(errText, "not hex") {
		t.Fatalf("a path as ID: status %d, stderr %q; want the command run, unrecorded", st, errText)
	}
	if files, _ := filepath.Glob(filepath.Join(filepath.Dir(n.log), "*")); len(files) != 1 {
		t.Errorf("files beside the log directory: %v", files)
	}
}

func TestRecordingStoreAndFetch(t *testing.T) {
	n := newNode(t)
	n.run(t, WrappedArgv(id1, Record{Command: "sh", TTY: true}, []string{"sh", "-c", "exit 0"}), "")
	cast := "{\"version\":2,\"width\":80,\"height\":24}\n[0.1,\"o\",\"hi\"]\n"
	const id2 = "22222222222222222222222222222222"
	if _, _, st := n.run(t, RecordArgv(id2, false), "[0.1,\"o\",\"x\"]\n"); st != 3 {
		t.Fatalf("a next part of a recording never begun: status %d, want 3", st)
	}
	if _, errText, st := n.run(t, RecordArgv(id1, true), cast[:40]); st != 0 {
		t.Fatalf("record: status %d, stderr %q", st, errText)
	}
	if _, errText, st := n.run(t, RecordArgv(id1, false), cast[40:]); st != 0 {
		t.Fatalf("record the next part: status %d, stderr %q", st, errText)
	}
	if _, _, st := n.run(t, RecordArgv(id1, true), "forged\n"); st == 0 {
		t.Fatal("a second recording of the same session was accepted")
	}
	out, _, st := n.run(t, CastArgv(id1), "")
	if st != 0 || out != cast {
		t.Fatalf("cast: status %d, %q; want the recording unchanged", st, out)
	}
	e := n.entries(t)
	if len(e) != 1 || !e[0].Recorded() || e[0].CastBytes != int64(len(cast)) {
		t.Fatalf("entries %+v; want one, recorded, %d bytes", e, len(cast))
	}
	if _, _, st := n.run(t, CastArgv("fedcba9876543210fedcba9876543210"), ""); !IsNoRecording(st) {
		t.Errorf("an unknown session's recording: status %d, want %d", st, exitNoRecording)
	}
	for _, bad := range []string{"../../etc/passwd", ""} {
		if _, _, st := n.run(t, CastArgv(bad), ""); st != 2 {
			t.Errorf("CastArgv(%q): status %d, want 2 (refused)", bad, st)
		}
		if _, _, st := n.run(t, RecordArgv(bad, true), "x"); st != 2 {
			t.Errorf("RecordArgv(%q): status %d, want 2 (refused)", bad, st)
		}
	}
}

func TestOldRecordsAreRemovedAtTheNextStart(t *testing.T) {
	n := newNode(t)
	n.run(t, WrappedArgv(id1, Record{Command: "old"}, []string{"sh", "-c", "exit 0"}), "")
	old := time.Now().Add(-(RetentionDays + 1) * 24 * time.Hour)
	if err := os.Chtimes(filepath.Join(n.log, id1+".json"), old, old); err != nil {
		t.Fatal(err)
	}
	// An ID that does not begin with 0 does not sweep; the next that does, does.
	const id2, id3 = "11111111111111111111111111111111", "01111111111111111111111111111111"
	n.run(t, WrappedArgv(id2, Record{Command: "new"}, []string{"sh", "-c", "exit 0"}), "")
	if e := n.entries(t); len(e) != 2 {
		t.Fatalf("entries %+v; want both (no sweep yet)", e)
	}
	n.run(t, WrappedArgv(id3, Record{Command: "newer"}, []string{"sh", "-c", "exit 0"}), "")
	deadline := time.Now().Add(5 * time.Second)
	for {
		e := n.entries(t)
		if len(e) == 2 && e[0].ID != id1 && e[1].ID != id1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("entries %+v; want only the new ones (older than %d days removed)", e, RetentionDays)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestParseList(t *testing.T) {
	out := "=bb 120\n" +
		`{"event":"start","time":"2026-12-01T10:00:05Z","session":{"user":"bob","command":"top","agent":true}}` + "\n" +
		`{"event":"end","time":"2026-12-01T10:01:00Z","endedBy":"no heartbeat from the client for 45s"}` + "\n" +
		`{"event":"end","time":"2026-12-01T10:01:09Z","endedBy":"gc: its client was gone"}` + "\n\n" +
		"=aa -1\n" +
		`{"event":"start","time":"2026-12-01T10:00:00Z","session":{"user":"alice","command":"sh"}}` + "\n" +
		`not json` + "\n\n"
	e, err := ParseList(out)
	if err != nil || len(e) != 2 {
		t.Fatalf("ParseList = %+v, %v", e, err)
	}
	if e[0].ID != "aa" || e[0].Record.User != "alice" || !e[0].End.IsZero() || !e[0].Unreadable || e[0].Recorded() {
		t.Errorf("first (oldest) %+v: want alice's, no end, a line unreadable, not recorded", e[0])
	}
	if e[1].ID != "bb" || !e[1].Record.Agent || e[1].EndedBy != "no heartbeat from the client for 45s" || e[1].ExitStatus != nil ||
		e[1].End.Format(time.RFC3339) != "2026-12-01T10:01:00Z" || e[1].CastBytes != 120 {
		t.Errorf("second %+v: want bob's agent session, ended by the first end (the watcher)", e[1])
	}
	for _, bad := range []string{"=../x 1\n", "=aa x\n", "=aa\n"} {
		if _, err := ParseList(bad); err == nil {
			t.Errorf("ParseList(%q): want an error", bad)
		}
	}
}

// The command is found on $PATH as the runtime finds it: an image's own "true" earlier on
// $PATH runs, not busybox sh's applet of that name.
func TestWrapperRunsTheImagesCommandsFromPath(t *testing.T) {
	n := newNode(t)
	mine := t.TempDir()
	if err := os.WriteFile(filepath.Join(mine, "true"), []byte("#!"+n.busybox+" sh\necho \"the image's true: $1\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	n.path = mine + ":" + n.path
	out, errText, st := n.run(t, WrappedArgv(id1, Record{Command: "true"}, []string{"true", "arg"}), "")
	if st != 0 || out != "the image's true: arg\n" {
		t.Fatalf("stdout %q, stderr %q, status %d; want the image's true to run", out, errText, st)
	}
	if _, errText, st := n.run(t, WrappedArgv("22222222222222222222222222222222", Record{}, []string{"no-such-command"}), ""); st != 127 {
		t.Errorf("a command not on $PATH: status %d (stderr %q), want 127", st, errText)
	}
}
