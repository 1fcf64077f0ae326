package localcluster

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

func daemonLayout(t *testing.T) layout {
	l := layout{dir: t.TempDir(), state: t.TempDir()}
	for _, d := range []string{"pids", "logs"} {
		if err := os.MkdirAll(l.path(d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return l
}

// Daemons run in their own session with nothing of the caller's
// environment, and are not ours unless they run one of our binaries.
func TestStartDaemon(t *testing.T) {
	l := daemonLayout(t)
	t.Setenv("LEAK", "secret")
	pid, err := startDaemon(l, "env", []string{"/bin/sh", "-c", "env; exec sleep 60"})
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Kill(pid, syscall.SIGKILL)
	if got, ok := daemonPID(l, "env"); !ok || got != pid {
		t.Errorf("pid file: %d %v, want %d", got, ok, pid)
	}
	sid, err := session(pid)
	if err != nil || sid != pid {
		t.Errorf("session of the daemon: %d %v, want its own (%d)", sid, err, pid)
	}
	var log string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		data, _ := os.ReadFile(l.logFile("env"))
		if log = string(data); strings.Contains(log, "PATH=") {
			break
		}
	}
	if strings.Contains(log, "LEAK") || !strings.Contains(log, "PATH="+daemonPath) {
		t.Errorf("daemon environment:\n%s", log)
	}
	if ours(pid, l.state) {
		t.Error("a shell counts as a process of the cluster")
	}
	if !running(pid) {
		t.Error("the daemon does not run")
	}
	// Nothing that is not provably ours is ever signalled.
	stopNamed(l, 0, "env")
	if !running(pid) {
		t.Error("stopNamed killed a process that is not the cluster's")
	}
}

// Up gives up at once when a daemon dies, instead of waiting for a node
// that will never be Ready, and points at its log.
func TestWaitForStopsWhenADaemonExits(t *testing.T) {
	l := daemonLayout(t)
	if _, err := startDaemon(l, "doomed", []string{"/bin/sh", "-c", "echo failing on purpose; exit 3"}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err := waitFor(context.Background(), l, time.Minute, "Godot", func(context.Context) (bool, error) {
		return false, fmt.Errorf("not yet")
	})
	if err == nil || !strings.Contains(err.Error(), "doomed exited while waiting for Godot") || !strings.Contains(err.Error(), l.logFile("doomed")) {
		t.Errorf("waitFor: %v", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("waitFor took %s to notice", took)
	}
	if data, _ := os.ReadFile(l.logFile("doomed")); !strings.Contains(string(data), "failing on purpose") {
		t.Errorf("log: %q", data)
	}
}

// session reads a process's session id from /proc/PID/stat.
func session(pid int) (int, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	fields := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
	var sid int
	_, err = fmt.Sscan(fields[3], &sid)
	return sid, err
}

// The registry may run from any program that has the registry subcommand
// (the localcluster command, a test binary's build of it, a benchmark
// embedding this package): Down recognizes it by its arguments.
func TestRegistryIsOurs(t *testing.T) {
	l := daemonLayout(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	pid, err := startDaemon(l, registryName, registryArgs(l, exe))
	if err != nil {
		t.Fatal(err)
	}
	other := daemonLayout(t)
	otherPID, err := startDaemon(other, registryName, registryArgs(other, exe))
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Kill(otherPID, syscall.SIGKILL)
	for deadline := time.Now().Add(5 * time.Second); !ours(pid, l.state) && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond) // until the exec is done
	}
	if !ours(pid, l.state) || !slices.Contains(ourPIDs(l.state), pid) {
		t.Fatalf("the registry (%s) is not recognized as the cluster's", procCmdline(pid))
	}
	if ours(otherPID, l.state) || slices.Contains(ourPIDs(l.state), otherPID) {
		t.Error("another cluster's registry is taken for this one's")
	}
	stopNamed(l, time.Second, registryName)
	if running(pid) {
		t.Error("the registry survived stopNamed")
	}
	if !running(otherPID) {
		t.Error("another cluster's registry was stopped")
	}
}
