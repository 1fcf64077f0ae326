package podspec

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

// nodeInfos reads testdata/nodeinfo.json: status.nodeInfo of each distribution.
func nodeInfos(t *testing.T) map[string]corev1.NodeSystemInfo {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "nodeinfo.json"))
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatal(err)
	}
	infos := map[string]corev1.NodeSystemInfo{}
	for name, msg := range raw {
		if strings.HasPrefix(name, "_") {
			continue
		}
		var info corev1.NodeSystemInfo
		if err := json.Unmarshal(msg, &info); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		infos[name] = info
	}
	return infos
}

// Each distribution's nodeInfo gets its entry, and that entry's pod and argv.
func TestEntryForNode(t *testing.T) {
	infos := nodeInfos(t)
	chroot := []string{"chroot", "/host", "journalctl", "-u", "kubelet"}
	tests := []struct {
		fixture  string
		mode     Mode
		notice   string
		argv     []string // for `journalctl -u kubelet`
		shell    []string // for a login shell with TERM=xterm
		checkPod func(t *testing.T, pod *corev1.Pod)
	}{
		{fixture: "ubuntu-eks", mode: ModeChroot, argv: chroot,
			shell: append([]string{"env", "TERM=xterm", "chroot", "/host"}, loginShell...), checkPod: linuxPod},
		{fixture: "flatcar", mode: ModeChroot, argv: chroot,
			shell: append([]string{"env", "TERM=xterm", "chroot", "/host"}, loginShell...), checkPod: linuxPod},
		{fixture: "cos-gke", mode: ModeChroot, argv: chroot,
			shell: append([]string{"env", "TERM=xterm", "chroot", "/host"}, loginShell...), checkPod: linuxPod},
		{fixture: "bottlerocket-eks", mode: ModeBottlerocket,
			argv:     []string{"chroot", "/host", "apiclient", "exec", "admin", "sheltie", "journalctl", "-u", "kubelet"},
			shell:    []string{"env", "TERM=xterm", "chroot", "/host", "apiclient", "exec", "admin", "sheltie"},
			checkPod: linuxPod},
		{fixture: "talos", mode: ModeContainer,
			notice:   "node n1 runs Talos (v1.7.6), which has no shell: using the session image's tools (--mode container), the node's / at /host",
			argv:     []string{"journalctl", "-u", "kubelet"},
			shell:    append([]string{"env", "TERM=xterm"}, loginShell...),
			checkPod: linuxPod},
		{fixture: "windows-aks", mode: ModeWindows,
			argv:     []string{"powershell.exe", "-NoLogo", "-NoProfile", "-Command", "journalctl", "-u", "kubelet"},
			shell:    []string{"powershell.exe", "-NoLogo", "-NoProfile"},
			checkPod: windowsPod},
	}
	for _, tc := range tests {
		t.Run(tc.fixture, func(t *testing.T) {
			info, ok := infos[tc.fixture]
			if !ok {
				t.Fatalf("no fixture %s in testdata/nodeinfo.json", tc.fixture)
			}
			choice := EntryForNode("n1", info)
			if choice.Entry.Mode() != tc.mode || choice.Notice != tc.notice {
				t.Fatalf("EntryForNode = %s, notice %q; want %s, notice %q", choice.Entry.Mode(), choice.Notice, tc.mode, tc.notice)
			}
			if diff := cmp.Diff(tc.argv, choice.Entry.Argv([]string{"journalctl", "-u", "kubelet"}, "")); diff != "" {
				t.Errorf("argv (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.shell, choice.Entry.Argv(nil, "xterm")); diff != "" {
				t.Errorf("login shell argv (-want +got):\n%s", diff)
			}
			pod, err := Build(Spec{Node: "n1", Namespace: "node-shell", Entry: choice.Entry, HeartbeatTimeout: 30 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			if pod.Annotations[AnnotationMode] != string(tc.mode) || pod.Spec.NodeName != "n1" {
				t.Errorf("mode annotation %q, nodeName %q", pod.Annotations[AnnotationMode], pod.Spec.NodeName)
			}
			tc.checkPod(t, pod)
		})
	}
}

// linuxPod: the privileged host-namespace pod with the node's / and the sh watchdog.
func linuxPod(t *testing.T, pod *corev1.Pod) {
	t.Helper()
	pod = pod.DeepCopy()
	pod.Name = pod.GenerateName + "abcde" // as the apiserver names it
	if err := Identify(pod); err != nil {
		t.Errorf("Identify = %v, want a pod of ours", err)
	}
	c := pod.Spec.Containers[0]
	if !pod.Spec.HostPID || !pod.Spec.HostNetwork || pod.Spec.OS != nil || c.Image != DefaultImage ||
		c.SecurityContext == nil || !ptr.Deref(c.SecurityContext.Privileged, false) {
		t.Errorf("pod is not the privileged Linux pod: hostPID %v, hostNetwork %v, os %v, image %s, securityContext %+v",
			pod.Spec.HostPID, pod.Spec.HostNetwork, pod.Spec.OS, c.Image, c.SecurityContext)
	}
	if d, ok := WatchdogTimeoutOf(pod); !ok || d != 30*time.Second {
		t.Errorf("watchdog timeout %v, %v; want 30s", d, ok)
	}
}

// windowsPod: a HostProcess pod as SYSTEM, on the host network, none of what the API
// refuses a Windows pod (host PID or IPC, privileged, seccomp), the PowerShell watchdog.
func windowsPod(t *testing.T, pod *corev1.Pod) {
	t.Helper()
	s := pod.Spec
	want := &corev1.PodSecurityContext{WindowsOptions: &corev1.WindowsSecurityContextOptions{
		HostProcess: ptr.To(true), RunAsUserName: ptr.To(`NT AUTHORITY\SYSTEM`)}}
	if diff := cmp.Diff(want, s.SecurityContext); diff != "" {
		t.Errorf("pod securityContext (-want +got):\n%s", diff)
	}
	if s.OS == nil || s.OS.Name != corev1.Windows || !s.HostNetwork || s.HostPID || s.HostIPC {
		t.Errorf("os %v, hostNetwork %v, hostPID %v, hostIPC %v; want windows on the host network only", s.OS, s.HostNetwork, s.HostPID, s.HostIPC)
	}
	c := s.Containers[0]
	if c.Image != WindowsImage || c.SecurityContext != nil {
		t.Errorf("image %s, container securityContext %+v; want %s and none", c.Image, c.SecurityContext, WindowsImage)
	}
	for _, v := range s.Volumes {
		if v.HostPath != nil {
			t.Errorf("volume %s mounts the host's %s; a HostProcess container has the host's drives already", v.Name, v.HostPath.Path)
		}
	}
	if len(c.Command) != 6 || c.Command[0] != "powershell.exe" || !strings.HasPrefix(c.Command[5], "$t = 30\n") ||
		!strings.Contains(c.Command[5], "CONTAINER_SANDBOX_MOUNT_POINT") {
		t.Errorf("command %q, want the PowerShell watchdog with a 30 s timeout", c.Command)
	}
	if pod.Annotations[AnnotationHeartbeatTimeout] != "30s" {
		t.Errorf("heartbeat-timeout annotation %q", pod.Annotations[AnnotationHeartbeatTimeout])
	}
}

// An --image stays on a Windows node; only the Linux default is swapped.
func TestWindowsKeepsGivenImage(t *testing.T) {
	pod, err := Build(Spec{Node: "w1", Image: "registry.example/tools:1", Entry: Windows{}})
	if err != nil {
		t.Fatal(err)
	}
	if got := pod.Spec.Containers[0].Image; got != "registry.example/tools:1" {
		t.Errorf("image %s, want the one given", got)
	}
}
