package podspec

import (
	"fmt"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// Bounds of the pod's self-expiry. See docs/lifecycle.md for the numbers behind them.
const (
	// DefaultHeartbeatTimeout is how long the watchdog waits for a new heartbeat before it
	// stops the container. With the kubelet's ~1 s to refresh the heartbeat file and the ~4 s
	// it takes to kill exec'd processes, a pod whose client vanished stops within ~50 s.
	DefaultHeartbeatTimeout = 45 * time.Second
	// MinHeartbeatTimeout leaves room for the client's renewal interval (a quarter of the
	// timeout) plus the kubelet's refresh of the file.
	MinHeartbeatTimeout = 5 * time.Second
	// DefaultMaxLifetime is the backstop when everything else fails: activeDeadlineSeconds.
	DefaultMaxLifetime = 12 * time.Hour

	// heartbeatDir is where the downward API volume shows the heartbeat annotation.
	heartbeatDir    = "/run/node-shell"
	heartbeatFile   = "heartbeat"
	heartbeatVolume = "node-shell-heartbeat"
)

// PodSessionsFile lists, in a session pod's own container, the node's session records
// (pkg/sessionlog) of the sessions exec'd into it, one path a line: the watchdog ends them
// when it stops the pod, since their wrappers stop with it.
const PodSessionsFile = "/tmp/node-shell-sessions"

// watchdogScript is the container's main process. It holds the pod open while the heartbeat
// file (the pod's heartbeat annotation, through the downward API) keeps changing, and exits
// once the value has not changed for $1 seconds, as measured by the node's own monotonic
// clock (/proc/uptime): values are compared, never timestamps, so the client's clock does not
// matter. The count starts when the container starts, which is the startup slack. When the
// main process of a hostPID pod exits, the kubelet stops every process exec'd into it, so it
// first writes the end of each of their records that has none: the client is gone. Everything
// in the loop is an ash builtin but sleep, so a tick costs one fork.
var watchdogScript = watchdogLoop(`    { while IFS= read -r r; do
        [ -f "$r" ] || continue
        case $(cat "$r") in *'"event":"end"'*) continue;; esac
        printf '{"event":"end","time":"%s","endedBy":"the pod'"'"'s watchdog: no heartbeat from the client for %ss"}\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$t" >>"$r"
      done <` + PodSessionsFile + `; } 2>/dev/null
`)

// legacyWatchdogScripts are the watchdogs of earlier versions (which ended no records), whose
// pods are ours too.
var legacyWatchdogScripts = []string{watchdogLoop("")}

// watchdogLoop is the watchdog, with atExpiry run when the heartbeat has stopped, just
// before it exits.
func watchdogLoop(atExpiry string) string {
	return `t=$1 f=` + heartbeatDir + `/` + heartbeatFile + ` last= seen=0
while :; do
  read -r now _ </proc/uptime; now=${now%.*}
  v=; read -r v <"$f"
  if [ -n "$v" ] && [ "$v" != "$last" ]; then last=$v seen=$now
  elif [ $((now - seen)) -ge "$t" ]; then
    msg="node-shell: no heartbeat from the client for ${t}s; stopping"
    echo "$msg"; echo "$msg" >/dev/termination-log
` + atExpiry + `    exit 0
  fi
  sleep 1
done`
}

// WatchdogExpiredMessage starts the termination message of a container its watchdog stopped.
const WatchdogExpiredMessage = "node-shell: no heartbeat"

// watchdogCommand runs watchdogScript with the timeout in whole seconds, rounded up.
func watchdogCommand(timeout time.Duration) []string {
	secs := int64((timeout + time.Second - 1) / time.Second)
	return []string{"/bin/sh", "-c", watchdogScript, "node-shell-watchdog", strconv.FormatInt(secs, 10)}
}

// heartbeatVolumeSource shows the heartbeat annotation as a file the watchdog reads; the
// kubelet rewrites it within about a second of a change to the annotation.
func heartbeatVolumeSource() corev1.VolumeSource {
	return corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{
		Items: []corev1.DownwardAPIVolumeFile{{
			Path: heartbeatFile,
			FieldRef: &corev1.ObjectFieldSelector{
				APIVersion: "v1",
				FieldPath:  fmt.Sprintf("metadata.annotations['%s']", AnnotationHeartbeat),
			},
		}},
	}}
}

// armWatchdog makes the watchdog the container's command, gives it its heartbeat file, and
// records its timeout for `gc` and `list`.
func armWatchdog(pod *corev1.Pod, timeout time.Duration) {
	pod.Annotations[AnnotationHeartbeatTimeout] = timeout.String()
	for i := range pod.Spec.Containers {
		pod.Spec.Containers[i].Command = watchdogCommand(timeout)
	}
	pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: heartbeatVolume, VolumeSource: heartbeatVolumeSource()})
	for i := range pod.Spec.Containers {
		pod.Spec.Containers[i].VolumeMounts = append(pod.Spec.Containers[i].VolumeMounts,
			corev1.VolumeMount{Name: heartbeatVolume, MountPath: heartbeatDir, ReadOnly: true})
	}
}

// heartbeatLayout is the format of heartbeat values: the client's clock in UTC, to the
// millisecond. Renewals are seconds apart, so each one changes the value.
const heartbeatLayout = "2006-01-02T15:04:05.000Z07:00"

// FormatHeartbeat is the heartbeat value for a renewal at t.
func FormatHeartbeat(t time.Time) string { return t.UTC().Format(heartbeatLayout) }

// ParseHeartbeat reads a heartbeat value back; `gc` and `list` use it to judge whether the
// client is still alive. It accepts any RFC 3339 time.
func ParseHeartbeat(s string) (time.Time, error) { return time.Parse(time.RFC3339Nano, s) }

// HeartbeatTimeoutOf is the heartbeat timeout the pod's watchdog enforces (see
// WatchdogTimeoutOf), or DefaultHeartbeatTimeout for a pod without one. The annotation is
// not read: it is only what its writer claims.
func HeartbeatTimeoutOf(pod *corev1.Pod) time.Duration {
	if d, ok := WatchdogTimeoutOf(pod); ok {
		return d
	}
	return DefaultHeartbeatTimeout
}
