package podspec

import (
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

// ModeWindows reaches a Windows node through a HostProcess pod: its processes run on the host
// as SYSTEM, in the host's network, with the host's files.
const ModeWindows Mode = "windows"

// WindowsImage is the HostProcess base image (a few KB: the host's own binaries run, among
// them powershell.exe). It replaces DefaultImage on Windows nodes; an --image is kept.
const WindowsImage = "mcr.microsoft.com/oss/kubernetes/windows-host-process-containers-base-image:v1.0.0"

// windowsUser is the account HostProcess containers run as for full rights on the node.
const windowsUser = `NT AUTHORITY\SYSTEM`

// Windows enters a Windows node with a PowerShell session in a HostProcess container.
type Windows struct{}

// Mode implements Entry.
func (Windows) Mode() Mode { return ModeWindows }

// Apply implements Entry. A Windows pod may share no PID or IPC namespace and takes no
// privileged flag; hostProcess is its privilege, and the API requires hostNetwork with it.
// The host's drives are the container's own, so no volume of the node's root is mounted.
func (Windows) Apply(pod *corev1.Pod) {
	pod.Spec.OS = &corev1.PodOS{Name: corev1.Windows}
	pod.Spec.HostNetwork = true
	pod.Spec.HostPID, pod.Spec.HostIPC = false, false
	pod.Spec.DNSPolicy = corev1.DNSClusterFirstWithHostNet
	pod.Spec.SecurityContext = &corev1.PodSecurityContext{WindowsOptions: &corev1.WindowsSecurityContextOptions{
		HostProcess:   ptr.To(true),
		RunAsUserName: ptr.To(windowsUser),
	}}
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		if c.Image == DefaultImage {
			c.Image, c.ImagePullPolicy = WindowsImage, corev1.PullIfNotPresent
		}
		c.SecurityContext = nil // the pod's windowsOptions apply to every container
	}
}

// windowsShell is the host's PowerShell, found by the host's PATH (HostProcess containers
// inherit it).
var windowsShell = []string{"powershell.exe", "-NoLogo", "-NoProfile"}

// Argv implements Entry: an interactive PowerShell, or the command run by PowerShell. TERM
// means nothing to the Windows console, so it is not passed.
func (Windows) Argv(command []string, _ string) []string {
	if len(command) == 0 {
		return windowsShell
	}
	return append(append(append([]string(nil), windowsShell...), "-Command"), command...)
}

// windowsWatchdogScript is the Windows pod's main process: the watchdog of watchdogScript in
// PowerShell, after "$t = SECONDS" (-Command joins its arguments into one script, so the
// timeout cannot follow as an argument). HostProcess containers see their volumes under
// $env:CONTAINER_SANDBOX_MOUNT_POINT; the node's monotonic clock is [Environment]::TickCount64.
const windowsWatchdogScript = `$f = Join-Path $env:CONTAINER_SANDBOX_MOUNT_POINT '` + heartbeatDir + `/` + heartbeatFile + `'
$last = $null; $seen = [Environment]::TickCount64
while ($true) {
  $now = [Environment]::TickCount64
  $v = Get-Content -Raw -ErrorAction SilentlyContinue $f
  if ($v -and $v -ne $last) { $last = $v; $seen = $now }
  elseif (($now - $seen) / 1000 -ge $t) {
    $msg = "node-shell: no heartbeat from the client for ${t}s; stopping"
    Write-Output $msg
    exit 0
  }
  Start-Sleep -Seconds 1
}`

// Watchdog implements Entry: the heartbeat watchdog in PowerShell, with the same file and
// annotation as on Linux.
func (Windows) Watchdog(pod *corev1.Pod, timeout time.Duration) {
	armWatchdog(pod, timeout)
	secs := int64((timeout + time.Second - 1) / time.Second)
	for i := range pod.Spec.Containers {
		pod.Spec.Containers[i].Command = []string{"powershell.exe", "-NoLogo", "-NoProfile", "-NonInteractive",
			"-Command", "$t = " + strconv.FormatInt(secs, 10) + "\n" + windowsWatchdogScript}
	}
}
