package podspec

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const (
	targetUID = "0800fb75-4aa9-4730-84bd-f7c09aa5cb42"
	targetID  = "502a115f933a735eff723ca523c29d357d70c892e1370d178e8d48c65595a1ae"
	// selfPath is this session pod's own cgroup on the local cluster's node3.
	selfPath = "/localcluster/node3/kubepods/besteffort/pod11111111-2222-3333-4444-555555555555/aaaa"
)

// cgroupV1 is a cgroup v1 file with path in every hierarchy, and the empty unified line.
func cgroupV1(path string) string {
	var b strings.Builder
	for i, c := range []string{"cpu", "memory", "pids", "name=systemd"} {
		b.WriteString(string(rune('1'+i)) + ":" + c + ":" + path + "\n")
	}
	return b.String() + "0::/\n"
}

// runPodScript lays out a fake /proc (self with selfCgroup, and PID → cgroup file contents),
// runs PodTarget p's argv for command under busybox sh with a fake nsenter that prints its
// arguments and the target environment, and returns what happened.
func runPodScript(t *testing.T, p PodTarget, selfCgroup string, procs map[string]string, command ...string) scriptRun {
	t.Helper()
	proc := filepath.Join(t.TempDir(), "proc")
	mustMkdir(t, filepath.Join(proc, "self"))
	writeFile(t, filepath.Join(proc, "self", "cgroup"), selfCgroup)
	for pid, cg := range procs {
		mustMkdir(t, filepath.Join(proc, pid))
		writeFile(t, filepath.Join(proc, pid, "cgroup"), cg)
	}
	return runEntryScript(t, "pod", p.Argv(command, ""), []string{"NODE_SHELL_PROC=" + proc},
		`printf '%s\n' "$@" "pid=$`+EnvTargetPID+`" "root=$`+EnvTargetRoot+`"`)
}

// The script enters the process whose cgroup is exactly the target container's under this
// node's pod root, in each driver's layout, and refuses every look-alike in one line.
func TestPodScript(t *testing.T) {
	uidu := strings.ReplaceAll(targetUID, "-", "_")
	cgroupfs := "/localcluster/node3/kubepods/besteffort/pod" + targetUID + "/" + targetID
	systemdSelf := "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1111_2222.slice/cri-containerd-aaaa.scope\n"
	base := PodTarget{Namespace: "shop", Pod: "web-0", Container: "app", PodUID: targetUID, ContainerID: targetID}
	enter := func(pid string, flags ...string) []string {
		return append(append(append([]string{"-t", pid}, flags...), "--", "chroot", "/host", "ss", "-ltn"), "pid="+pid, "root=/proc/"+pid+"/root")
	}
	refused := "node-shell: cannot enter container shop/web-0/app: "
	tests := []struct {
		name       string
		namespaces []string
		self       string
		procs      map[string]string
		want       []string // nsenter's arguments, or nil for a refusal
		why        string   // the refusal's reason
	}{
		{name: "cgroupfs v1, the local cluster's layout", self: cgroupV1(selfPath),
			procs: map[string]string{"1": "0::/init.scope\n", "4242": cgroupV1(cgroupfs)}, want: enter("4242", "-n")},
		{name: "net and pid", namespaces: []string{"net", "pid"}, self: cgroupV1(selfPath),
			procs: map[string]string{"4242": cgroupV1(cgroupfs)}, want: enter("4242", "-n", "-p")},
		{name: "cgroupfs Guaranteed pod (no QoS level)", self: cgroupV1(selfPath),
			procs: map[string]string{"77": cgroupV1("/localcluster/node3/kubepods/pod" + targetUID + "/" + targetID)}, want: enter("77", "-n")},
		{name: "systemd v2 Burstable", self: systemdSelf,
			procs: map[string]string{"900": "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + uidu + ".slice/cri-containerd-" + targetID + ".scope\n"},
			want:  enter("900", "-n")},
		{name: "systemd v2 Guaranteed, CRI-O", self: systemdSelf,
			procs: map[string]string{"901": "0::/kubepods.slice/kubepods-pod" + uidu + ".slice/crio-" + targetID + ".scope\n"},
			want:  enter("901", "-n")},
		{name: "a tenant's cgroup nested under its own pod with the target's names", self: cgroupV1(selfPath),
			procs: map[string]string{"666": cgroupV1("/localcluster/node3/kubepods/besteffort/pod99999999-0000-0000-0000-000000000000/bbbb/kubepods/besteffort/pod" + targetUID + "/" + targetID)},
			why:   "no process on this node runs in its cgroup"},
		{name: "the same container ID on another node's pod root", self: cgroupV1(selfPath),
			procs: map[string]string{"4242": cgroupV1("/localcluster/node2/kubepods/besteffort/pod" + targetUID + "/" + targetID)},
			why:   "no process on this node runs in its cgroup"},
		{name: "the container ID under another pod's UID", self: cgroupV1(selfPath),
			procs: map[string]string{"4242": cgroupV1("/localcluster/node3/kubepods/besteffort/pod99999999-0000-0000-0000-000000000000/" + targetID)},
			why:   "no process on this node runs in its cgroup"},
		{name: "the pod's sandbox (another container ID)", self: cgroupV1(selfPath),
			procs: map[string]string{"10": cgroupV1("/localcluster/node3/kubepods/besteffort/pod" + targetUID + "/" + strings.Repeat("c", 64))},
			why:   "no process on this node runs in its cgroup"},
		{name: "the container ID as a prefix of a longer name", self: cgroupV1(selfPath),
			procs: map[string]string{"4242": cgroupV1(cgroupfs + "x")},
			why:   "no process on this node runs in its cgroup"},
		{name: "a session pod outside any pod cgroup", self: "0::/user.slice\n",
			procs: map[string]string{"4242": cgroupV1(cgroupfs)},
			why:   "this session pod's own cgroup does not name kubepods"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := base
			p.Namespaces = tc.namespaces
			run := runPodScript(t, p, tc.self, tc.procs, "ss", "-ltn")
			if tc.want != nil {
				if run.status != 0 || run.stderr != "" {
					t.Fatalf("status %d, stderr %q; want nsenter run", run.status, run.stderr)
				}
				if diff := cmp.Diff(tc.want, run.nsenterArgs); diff != "" {
					t.Errorf("nsenter arguments (-want +got):\n%s", diff)
				}
				return
			}
			if run.status != 126 || run.nsenterArgs != nil || !strings.HasPrefix(run.stderr, refused+tc.why) || strings.Count(run.stderr, "\n") != 1 {
				t.Errorf("status %d, nsenter %q, stderr %q; want status 126 and one line starting %q", run.status, run.nsenterArgs, run.stderr, refused+tc.why)
			}
		})
	}
}

// A malformed container ID or UID (it reaches sh as an argument) is refused before /proc is read.
func TestPodScriptRefusesMalformedIDs(t *testing.T) {
	for _, p := range []PodTarget{
		{Namespace: "a", Pod: "b", Container: "c", PodUID: targetUID, ContainerID: ""},
		{Namespace: "a", Pod: "b", Container: "c", PodUID: targetUID, ContainerID: "*"},
		{Namespace: "a", Pod: "b", Container: "c", PodUID: "../x", ContainerID: targetID},
	} {
		run := runPodScript(t, p, cgroupV1(selfPath), nil, "true")
		if run.status != 126 || !strings.Contains(run.stderr, "its container ID or pod UID is missing or malformed") {
			t.Errorf("id %q uid %q: status %d, stderr %q; want a refusal", p.ContainerID, p.PodUID, run.status, run.stderr)
		}
	}
}

// The container tools run the command as is in the container's namespaces; TERM is set once.
func TestPodTargetArgv(t *testing.T) {
	p := PodTarget{Tools: Container{}, Namespace: "n", Pod: "p", Container: "c", PodUID: "u", ContainerID: "i", Namespaces: []string{"net", "uts"}}
	want := []string{"env", "TERM=xterm", "sh", "-c", podScript, "node-shell-pod", "i", "u", "-n -u", "n/p/c", "netstat", "-ltn"}
	if diff := cmp.Diff(want, p.Argv([]string{"netstat", "-ltn"}, "xterm")); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	shell := PodTarget{PodUID: "u", ContainerID: "i", Namespace: "n", Pod: "p", Container: "c"}.Argv(nil, "")
	if diff := cmp.Diff(append([]string{"sh", "-c", podScript, "node-shell-pod", "i", "u", "-n", "n/p/c", "chroot", "/host"}, loginShell...), shell); diff != "" {
		t.Errorf("login shell (-want +got):\n%s", diff)
	}
}

// The pod is the tools' pod, recognised by cleanup, with the target in its audit trail.
func TestPodTargetPod(t *testing.T) {
	for _, tools := range []Entry{Chroot{}, Container{}} {
		p := PodTarget{Tools: tools, Namespace: "shop", Pod: "web-0", Container: "app", PodUID: targetUID, ContainerID: targetID}
		pod, err := Build(Spec{Node: "n3", Namespace: "node-shell", Entry: p})
		if err != nil {
			t.Fatal(err)
		}
		pod.Name = pod.GenerateName + "abcde"
		if err := Identify(pod); err != nil {
			t.Errorf("%s: Identify = %v", tools.Mode(), err)
		}
		if got := pod.Annotations[AnnotationTargetPod]; got != "shop/web-0/app" || pod.Annotations[AnnotationMode] != string(tools.Mode()) || !pod.Spec.HostPID {
			t.Errorf("%s: target %q, mode %q, hostPID %v", tools.Mode(), got, pod.Annotations[AnnotationMode], pod.Spec.HostPID)
		}
	}
}

func TestParseTargetNamespaces(t *testing.T) {
	got, err := ParseTargetNamespaces([]string{"net", "pid", "net"})
	if err != nil || !cmp.Equal(got, []string{"net", "pid"}) {
		t.Errorf("net,pid,net = %q, %v", got, err)
	}
	for in, want := range map[string]string{
		"pid":     "net is required",
		"net,mnt": "mnt is refused: the container's own binaries would run with the session's root privileges",
		"net,usr": `unknown namespace "usr": use net, pid, ipc, uts`,
	} {
		if _, err := ParseTargetNamespaces(strings.Split(in, ",")); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", in, err, want)
		}
	}
}

func TestContainerIDOf(t *testing.T) {
	for in, want := range map[string]string{
		"containerd://" + targetID: targetID, "cri-o://abc": "abc", "": "", "abc": "", "containerd://": "", "docker://a/b": "",
	} {
		if got := ContainerIDOf(in); got != want {
			t.Errorf("ContainerIDOf(%q) = %q, want %q", in, got, want)
		}
	}
}
