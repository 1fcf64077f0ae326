package podspec

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeProc is one process of a fake /proc. Empty fields are what cannot be read there: no
// root (as /proc/1/root on a VM that denies it), no cgroup file, no mount namespace.
type fakeProc struct {
	pid, comm string
	root      string // "host" (the node's /), "tenant" (a container's root), or ""
	cgroup    string // a file of testdata/cgroup, or ""
	mnt       string // "host", "tenant", or ""
}

// fakeNode lays out a fake /proc (procs, and self in selfCgroup) and a fake /host in a
// temporary directory, and returns the environment that points the script at them.
func fakeNode(t *testing.T, selfCgroup string, procs []fakeProc) []string {
	t.Helper()
	dir := t.TempDir()
	proc, host := filepath.Join(dir, "proc"), filepath.Join(dir, "host")
	roots := map[string]string{"host": host, "tenant": filepath.Join(dir, "tenant-root"), "": filepath.Join(dir, "denied")}
	mnts := map[string]string{"host": filepath.Join(dir, "ns", "host-mnt"), "tenant": filepath.Join(dir, "ns", "tenant-mnt"), "": filepath.Join(dir, "denied")}
	for _, d := range []string{host, roots["tenant"], filepath.Join(dir, "ns")} {
		mustMkdir(t, d)
	}
	for _, f := range []string{mnts["host"], mnts["tenant"]} {
		writeFile(t, f, "")
	}
	writeCgroup(t, filepath.Join(proc, "self"), selfCgroup)
	for _, p := range procs {
		d := filepath.Join(proc, p.pid)
		mustMkdir(t, filepath.Join(d, "ns"))
		writeFile(t, filepath.Join(d, "comm"), p.comm+"\n")
		writeCgroup(t, d, p.cgroup)
		for link, target := range map[string]string{"root": roots[p.root], "ns/mnt": mnts[p.mnt]} {
			if err := os.Symlink(target, filepath.Join(d, link)); err != nil {
				t.Fatal(err)
			}
		}
	}
	return []string{"NODE_SHELL_PROC=" + proc, "NODE_SHELL_HOST=" + host}
}

func writeCgroup(t *testing.T, dir, sample string) {
	t.Helper()
	mustMkdir(t, dir)
	if sample == "" {
		return
	}
	data, err := os.ReadFile(filepath.Join("testdata", "cgroup", sample))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "cgroup"), string(data))
}

func mustMkdir(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// scriptRun is what the nsenter script did: nsenter's arguments if it exec'd it (a fake
// that prints them one per line), its stderr and status.
type scriptRun struct {
	nsenterArgs []string
	stderr      string
	status      int
}

// runNsenterScript runs the Nsenter entry's argv under busybox sh, as the session image
// does, with a fake nsenter and an empty PATH: the script needs nothing but sh's builtins.
func runNsenterScript(t *testing.T, env []string, command ...string) scriptRun {
	t.Helper()
	return runEntryScript(t, "nsenter", Nsenter{}.Argv(command, ""), env, `printf '%s\n' "$@"`)
}

// runEntryScript runs an entry's argv under busybox sh (what names it in failures) with
// PATH empty, env added and $NODE_SHELL_NSENTER a fake nsenter whose body is
// fakeNsenter, and returns what happened.
func runEntryScript(t *testing.T, what string, argv, env []string, fakeNsenter string) scriptRun {
	t.Helper()
	busybox, err := exec.LookPath("busybox")
	if err != nil {
		t.Fatalf("busybox is not on PATH (%v): the %s script is tested under busybox sh, the session image's shell; install it (apt-get install busybox-static)", err, what)
	}
	bin := t.TempDir()
	writeFile(t, filepath.Join(bin, "nsenter"), "#!"+busybox+" sh\n"+fakeNsenter+"\n")
	if err := os.Chmod(filepath.Join(bin, "nsenter"), 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, busybox, argv...)
	cmd.Env = append([]string{"PATH=" + t.TempDir(), "NODE_SHELL_NSENTER=" + filepath.Join(bin, "nsenter")}, env...)
	cmd.WaitDelay = 2 * time.Second // the timeout ends Run even if a child holds the pipes open
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	run := scriptRun{stderr: stderr.String()}
	var exitErr *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr) && exitErr.ExitCode() >= 0:
		run.status = exitErr.ExitCode()
	default:
		t.Fatalf("running the %s script: %v; stderr %q", what, err, run.stderr)
	}
	if stdout.Len() > 0 {
		run.nsenterArgs = strings.Split(strings.TrimSuffix(stdout.String(), "\n"), "\n")
	}
	return run
}

func TestNsenterScript(t *testing.T) {
	pid1 := fakeProc{pid: "1", comm: "systemd", root: "host", cgroup: "node-v2-init", mnt: "host"}
	pid1Denied := fakeProc{pid: "1", comm: "process_api", cgroup: "localcluster-kubelet"}
	kubelet := fakeProc{pid: "5164", comm: "kubelet", root: "host", cgroup: "localcluster-kubelet", mnt: "host"}
	tenantKubelet := fakeProc{pid: "1000", comm: "kubelet", root: "tenant", cgroup: "localcluster-pod", mnt: "tenant"}
	tenantContainerd := fakeProc{pid: "1001", comm: "containerd", root: "tenant", cgroup: "localcluster-pod", mnt: "tenant"}
	with := func(p fakeProc, change func(*fakeProc)) fakeProc { change(&p); return p }
	var manyFakes []fakeProc
	for _, pid := range []string{"1002", "1003", "1004", "1005", "1006"} {
		manyFakes = append(manyFakes, with(tenantKubelet, func(p *fakeProc) { p.pid = pid }))
	}

	tests := []struct {
		name       string
		selfCgroup string // default: localcluster-pod
		procs      []fakeProc
		target     string   // the pid nsenter is given; "" when the script must refuse
		stderr     []string // what its one line of stderr says, if anything
	}{
		{
			name:   "PID 1 usable: joined without a word",
			procs:  []fakeProc{pid1, kubelet},
			target: "1",
		},
		{
			name:   "PID 1 denied: the real kubelet",
			procs:  []fakeProc{pid1Denied, kubelet},
			target: "5164",
			stderr: []string{"PID 1: its root cannot be read", "entering those of kubelet pid 5164"},
		},
		{
			name:   "only a tenant's kubelet and containerd: refused",
			procs:  []fakeProc{pid1Denied, tenantKubelet, tenantContainerd},
			stderr: []string{"refusing --nsenter", "PID 1: its root cannot be read", "kubelet pid 1000: its root is not the node's /", "containerd pid 1001: its root is not the node's /"},
		},
		{
			name:   "a kubelet with another root, even outside pod cgroups: refused",
			procs:  []fakeProc{pid1Denied, with(kubelet, func(p *fakeProc) { p.root = "tenant" })},
			stderr: []string{"kubelet pid 5164: its root is not the node's /"},
		},
		{
			name:   "a tenant's kubelet listed before the real one: the real one",
			procs:  []fakeProc{pid1Denied, tenantKubelet, tenantContainerd, kubelet},
			target: "5164",
			stderr: []string{"kubelet pid 1000: its root is not the node's /", "entering those of kubelet pid 5164"},
		},
		{
			name:   "only fakes of kubelet: the real containerd",
			procs:  []fakeProc{pid1Denied, tenantKubelet, {pid: "5109", comm: "containerd", root: "host", cgroup: "localcluster-kubelet", mnt: "host"}},
			target: "5109",
			stderr: []string{"kubelet pid 1000: its root is not the node's /", "entering those of containerd pid 5109"},
		},
		{
			name:   "the node's root in a pod's cgroup (a chroot to a hostPath): refused",
			procs:  []fakeProc{pid1Denied, with(kubelet, func(p *fakeProc) { p.cgroup = "localcluster-pod" })},
			stderr: []string{"kubelet pid 5164: it runs in a pod's cgroup"},
		},
		{
			name: "cgroup v2 node, BestEffort and Guaranteed pods and a cgroupfs pod: refused",
			procs: []fakeProc{pid1Denied,
				with(kubelet, func(p *fakeProc) { p.pid, p.cgroup = "301", "node-v2-pod-besteffort" }),
				with(kubelet, func(p *fakeProc) { p.pid, p.cgroup = "302", "node-v2-pod-guaranteed" }),
				with(kubelet, func(p *fakeProc) { p.pid, p.cgroup = "303", "node-v1-cgroupfs-pod" })},
			selfCgroup: "node-v2-pod-besteffort",
			stderr:     []string{"kubelet pid 301: it runs in a pod's cgroup", "kubelet pid 302: it runs in a pod's cgroup", "kubelet pid 303: it runs in a pod's cgroup"},
		},
		{
			name:       "cgroup v2 node, kubelet in system.slice: the kubelet",
			procs:      []fakeProc{pid1Denied, with(kubelet, func(p *fakeProc) { p.pid, p.cgroup = "812", "node-v2-kubelet" })},
			selfCgroup: "node-v2-pod-besteffort",
			target:     "812",
			stderr:     []string{"entering those of kubelet pid 812"},
		},
		{
			name:       "cgroup v1 node: containerd in system.slice after a kubelet in a pod",
			procs:      []fakeProc{pid1Denied, with(kubelet, func(p *fakeProc) { p.pid, p.cgroup = "700", "node-v1-cgroupfs-pod" }), {pid: "640", comm: "containerd", root: "host", cgroup: "node-v1-kubelet", mnt: "host"}},
			selfCgroup: "node-v1-cgroupfs-pod",
			target:     "640",
			stderr:     []string{"kubelet pid 700: it runs in a pod's cgroup", "entering those of containerd pid 640"},
		},
		{
			name:   "a kubelet whose cgroup cannot be read: refused",
			procs:  []fakeProc{pid1Denied, with(kubelet, func(p *fakeProc) { p.cgroup = "" })},
			stderr: []string{"kubelet pid 5164: its cgroup cannot be read"},
		},
		{
			name: "PID 1 readable but rooted elsewhere, kubelet in another mount namespace: refused",
			procs: []fakeProc{with(pid1, func(p *fakeProc) { p.root = "tenant" }),
				with(kubelet, func(p *fakeProc) { p.mnt = "tenant" })},
			stderr: []string{"PID 1: its root is not the node's /", "kubelet pid 5164: it is not in PID 1's mount namespace"},
		},
		{
			name:   "PID 1 readable but rooted elsewhere, kubelet in its mount namespace: the kubelet",
			procs:  []fakeProc{with(pid1, func(p *fakeProc) { p.root = "tenant" }), kubelet},
			target: "5164",
			stderr: []string{"PID 1: its root is not the node's /", "entering those of kubelet pid 5164"},
		},
		{
			name:   "no kubelet or containerd at all: refused",
			procs:  []fakeProc{pid1Denied, {pid: "42", comm: "sshd", root: "host", cgroup: "node-v2-kubelet", mnt: "host"}},
			stderr: []string{"PID 1: its root cannot be read; no kubelet or containerd process"},
		},
		{
			name:   "many fakes: still one line, the real one found",
			procs:  append([]fakeProc{pid1Denied, kubelet}, manyFakes...),
			target: "5164",
			stderr: []string{"kubelet pid 1002: its root is not the node's /; kubelet pid 1003", "; 2 more); entering those of kubelet pid 5164"},
		},
		{
			name:   "many fakes and no real one: one line",
			procs:  append([]fakeProc{pid1Denied}, manyFakes...),
			stderr: []string{"kubelet pid 1004: its root is not the node's /; 2 more)"},
		},
		{
			name:       "the session's own cgroup names no pod: pods cannot be told apart, refused",
			selfCgroup: "node-v2-kubelet",
			procs:      []fakeProc{pid1, kubelet},
			stderr:     []string{"this pod's own cgroup does not name kubepods"},
		},
	}
	command := []string{"printf", "%s|", "two words", "it's"}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			self := tc.selfCgroup
			if self == "" {
				self = "localcluster-pod"
			}
			run := runNsenterScript(t, fakeNode(t, self, tc.procs), command...)
			if lines := strings.Count(run.stderr, "\n"); lines > 1 || (lines == 0) != (len(tc.stderr) == 0) {
				t.Errorf("stderr %q: want %d line(s)", run.stderr, min(len(tc.stderr), 1))
			}
			for _, s := range tc.stderr {
				if !strings.Contains(run.stderr, s) {
					t.Errorf("stderr %q, want it to say %q", run.stderr, s)
				}
			}
			if tc.target == "" {
				if run.status != 126 || run.nsenterArgs != nil {
					t.Errorf("status %d, nsenter called with %q; want a refusal: status 126, no nsenter", run.status, run.nsenterArgs)
				}
				if !strings.HasPrefix(run.stderr, "node-shell: refusing --nsenter: ") || !strings.HasSuffix(run.stderr, "; omit --nsenter (or use --mode=chroot) for the default chroot mode\n") {
					t.Errorf("refusal %q: want the cause and the chroot mode suggested", run.stderr)
				}
				return
			}
			want := append([]string{"-t", tc.target, "-m", "-u", "-i", "-n", "-p", "--"}, command...)
			if run.status != 0 || strings.Join(run.nsenterArgs, "\x00") != strings.Join(want, "\x00") {
				t.Errorf("status %d, nsenter %q; want status 0, nsenter %q (stderr %q)", run.status, run.nsenterArgs, want, run.stderr)
			}
		})
	}
}

// TestNsenterScriptDefaultsToProcAndHost: without the test's variables the script reads the
// real /proc and /host. This test process is no pod with the node at /host, so nothing is
// proven and it refuses.
func TestNsenterScriptDefaultsToProcAndHost(t *testing.T) {
	if _, err := os.Stat(HostMount); err == nil {
		t.Fatalf("%s exists on this machine: the test needs a machine without it", HostMount)
	}
	run := runNsenterScript(t, nil, "true")
	if run.status != 126 || run.nsenterArgs != nil || !strings.HasPrefix(run.stderr, "node-shell: refusing --nsenter: ") {
		t.Errorf("status %d, nsenter %q, stderr %q; want a refusal", run.status, run.nsenterArgs, run.stderr)
	}
}
