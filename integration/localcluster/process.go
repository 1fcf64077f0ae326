package localcluster

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ourExes are the binaries a cluster runs. A process is ours only if its
// executable is one of these AND its command line mentions the runtime
// directory (every daemon and every containerd shim gets a path under it),
// or if it is the registry with exactly the arguments Up gives it (see
// ours). This guards against recycled pids, and against killing, say, a
// user's `kubectl --kubeconfig DIR/kubeconfig`. Nothing is ever killed by
// name.
var ourExes = map[string]bool{
	"etcd": true, "kube-apiserver": true, "kube-controller-manager": true, "kubelet": true,
	"containerd": true, "containerd-shim-runc-v2": true, "sshd": true,
}

// procExe is the base name of a process's executable. A binary replaced
// while it runs (a rebuilt cache, `make localcluster`) reads as
// "NAME (deleted)": still ours.
func procExe(pid int) string {
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil {
		return ""
	}
	return filepath.Base(strings.TrimSuffix(exe, " (deleted)"))
}

// procCmdline is a process's command line with arguments joined by spaces.
func procCmdline(pid int) string {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return ""
	}
	return string(bytes.ReplaceAll(bytes.TrimRight(data, "\x00"), []byte{0}, []byte{' '}))
}

// procStat returns a process's state letter and start time (clock ticks
// since boot), which together with the pid identify a process for good.
func procStat(pid int) (state byte, start uint64, ok bool) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, false
	}
	// pid (comm) S ppid ... ; comm may contain spaces and parentheses.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 || i+2 >= len(data) {
		return 0, 0, false
	}
	fields := strings.Fields(string(data[i+2:]))
	if len(fields) < 20 {
		return 0, 0, false
	}
	start, err = strconv.ParseUint(fields[19], 10, 64)
	if err != nil {
		return 0, 0, false
	}
	return fields[0][0], start, true
}

// running reports whether pid exists and is not a zombie.
func running(pid int) bool {
	state, _, ok := procStat(pid)
	return ok && state != 'Z'
}

// ours reports whether pid is a live process of the cluster whose runtime
// directory is state. The registry is any program with the `registry`
// subcommand (the localcluster command, or another program embedding this
// package), so it is recognized by its exact arguments instead of its
// executable.
func ours(pid int, state string) bool {
	if pid <= 1 || !running(pid) {
		return false
	}
	cmdline := procCmdline(pid)
	if ourExes[procExe(pid)] {
		return strings.Contains(cmdline, state+"/")
	}
	_, args, _ := strings.Cut(cmdline, " ")
	return args == strings.Join(registryArgs(layout{state: state}, "")[1:], " ")
}

// ourPIDs lists every live process of the cluster in state, found by
// scanning /proc: recorded daemons, shims, and anything a crashed run left.
func ourPIDs(state string) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ours(pid, state) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// startDaemon starts argv as daemon name: in its own session (it survives
// the caller and the caller's terminal), with a clean environment, stdio to
// logs/NAME.log (appended, so a restarted daemon keeps its history), and its
// pid in pids/NAME.pid. The calling process reaps it if it exits first.
func startDaemon(l layout, name string, argv []string) (int, error) {
	logf, err := os.OpenFile(l.logFile(name), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return 0, fmt.Errorf("opening log of %s: %w", name, err)
	}
	defer logf.Close()
	fmt.Fprintf(logf, "=== %s: starting %s\n", time.Now().Format(time.RFC3339Nano), strings.Join(argv, " "))
	cmd := exec.Command(argv[0], argv[1:]...)
	home := os.Getenv("HOME")
	if home == "" {
		home = "/"
	}
	cmd.Env = []string{"PATH=" + daemonPath, "HOME=" + home}
	cmd.Dir = l.state
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("starting %s: %w", name, err)
	}
	pid := cmd.Process.Pid
	go cmd.Wait() //nolint:errcheck // only reaps; exits are detected through /proc
	if err := os.WriteFile(l.pidFile(name), []byte(strconv.Itoa(pid)+"\n"), 0o644); err != nil {
		return pid, fmt.Errorf("recording pid of %s: %w", name, err)
	}
	return pid, nil
}

// daemonPID returns the recorded pid of daemon name, if any.
func daemonPID(l layout, name string) (int, bool) {
	data, err := os.ReadFile(l.pidFile(name))
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	return pid, err == nil
}

// recordedDaemons lists the names with a pid file.
func recordedDaemons(l layout) []string {
	matches, _ := filepath.Glob(l.pidFile("*"))
	names := make([]string, 0, len(matches))
	for _, m := range matches {
		names = append(names, strings.TrimSuffix(filepath.Base(m), ".pid"))
	}
	return names
}

// stopPIDs sends SIGTERM to every pid that is ours, waits up to grace for
// them to exit and SIGKILLs the rest (grace 0: SIGKILL at once). It returns
// once they are all gone, or after a few seconds more.
func stopPIDs(state string, grace time.Duration, pids []int) {
	var live []int
	for _, pid := range pids {
		if ours(pid, state) {
			live = append(live, pid)
		}
	}
	sig := syscall.SIGTERM
	if grace == 0 {
		sig = syscall.SIGKILL
	}
	for _, pid := range live {
		_ = syscall.Kill(pid, sig)
	}
	live = waitGone(live, grace)
	for _, pid := range live {
		if ours(pid, state) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	waitGone(live, 3*time.Second)
}

// waitGone polls until none of pids runs or timeout passes, and returns
// those still running.
func waitGone(pids []int, timeout time.Duration) []int {
	deadline := time.Now().Add(timeout)
	for {
		var left []int
		for _, pid := range pids {
			if running(pid) {
				left = append(left, pid)
			}
		}
		if len(left) == 0 || !time.Now().Before(deadline) {
			return left
		}
		pids = left
		time.Sleep(50 * time.Millisecond)
	}
}

// stopNamed stops the recorded daemons and removes their pid files.
func stopNamed(l layout, grace time.Duration, names ...string) {
	var pids []int
	for _, name := range names {
		if pid, ok := daemonPID(l, name); ok {
			pids = append(pids, pid)
		}
	}
	stopPIDs(l.state, grace, pids)
	for _, name := range names {
		_ = os.Remove(l.pidFile(name))
	}
}
