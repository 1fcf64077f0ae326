package podspec

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// Identify tells a pod that Build made from one that merely carries our label. Anyone who
// may create pods can set a label, so cleanup must not trust it: Identify checks what
// admission makes expensive to fake and what Build always sets (no owner, the name, one
// container running the watchdog, the host's / and the heartbeat file as its only host path and
// downward API volumes,
// the host's PID namespace). It returns nil for a pod of ours, else why it is not ours.
func Identify(pod *corev1.Pod) error {
	switch {
	case pod.Labels[LabelManagedBy] != ManagedByValue:
		return fmt.Errorf("no %s=%s label", LabelManagedBy, ManagedByValue)
	case IsAgent(pod):
		return fmt.Errorf("a node-shell agent pod, not a session's")
	case len(pod.OwnerReferences) > 0:
		o := pod.OwnerReferences[0]
		return fmt.Errorf("owned by %s/%s", o.Kind, o.Name)
	case pod.Spec.NodeName == "" || !strings.HasPrefix(pod.Name, generateName(pod.Spec.NodeName)):
		return fmt.Errorf("name %q is not node-shell's for node %q", pod.Name, pod.Spec.NodeName)
	case len(pod.Spec.Containers) != 1 || pod.Spec.Containers[0].Name != ContainerName || len(pod.Spec.InitContainers) > 0:
		return fmt.Errorf("containers are not node-shell's single %q container", ContainerName)
	case !pod.Spec.HostPID || pod.Spec.RestartPolicy != corev1.RestartPolicyNever:
		return fmt.Errorf("not a host-PID pod that never restarts")
	}
	if _, ok := WatchdogTimeoutOf(pod); !ok {
		return fmt.Errorf("its container does not run node-shell's watchdog")
	}
	if !hasOnlySessionVolumes(pod) {
		return fmt.Errorf("volumes are not node-shell's")
	}
	return nil
}

// WatchdogTimeoutOf is the heartbeat timeout the pod's watchdog really enforces, read from
// its container's command (immutable once the pod exists), unlike the annotation, which
// anyone who may patch the pod can change. ok is false when the container is not the watchdog.
func WatchdogTimeoutOf(pod *corev1.Pod) (time.Duration, bool) {
	if len(pod.Spec.Containers) == 0 {
		return 0, false
	}
	cmd := pod.Spec.Containers[0].Command
	want := watchdogCommand(time.Second)
	if len(cmd) != len(want) || !slices.Equal(cmd[:len(want)-1], want[:len(want)-1]) && !isLegacyWatchdog(cmd, want) {
		return 0, false
	}
	secs, err := strconv.ParseInt(cmd[len(cmd)-1], 10, 64)
	if err != nil || secs <= 0 {
		return 0, false
	}
	return time.Duration(secs) * time.Second, true
}

// hasOnlySessionVolumes: the host's / and the heartbeat file, and no other host path (a
// session may carry extra volumes of other kinds, see Overrides).
func hasOnlySessionVolumes(pod *corev1.Pod) bool {
	var hostRoot, heartbeat bool
	for _, v := range pod.Spec.Volumes {
		switch {
		case v.Name == hostRootVolume && v.HostPath != nil && v.HostPath.Path == "/":
			hostRoot = true
		case v.Name == heartbeatVolume && v.DownwardAPI != nil && len(v.DownwardAPI.Items) == 1 &&
			v.DownwardAPI.Items[0].FieldRef != nil &&
			v.DownwardAPI.Items[0].FieldRef.FieldPath == heartbeatVolumeSource().DownwardAPI.Items[0].FieldRef.FieldPath:
			heartbeat = true
		case v.HostPath != nil:
			return false
		}
	}
	return hostRoot && heartbeat
}

// Agent pods: the DaemonSet `kubectl node-shell agent install` makes (pkg/agent). They carry
// LabelManagedBy too, and are never a session's pod.
const (
	LabelComponent = "app.kubernetes.io/component"
	ComponentAgent = "agent"
	// AgentName names the agent's DaemonSet (and prefixes its pods' names).
	AgentName = "kubectl-node-shell-agent"
)

// IsAgent reports whether pod is one of the agent's: in the dedicated namespace (which only
// node admins may create pods in, so a tenant cannot make one pass), labelled as the agent,
// controlled by the agent's DaemonSet.
func IsAgent(pod *corev1.Pod) bool {
	if pod.Namespace != DedicatedNamespace || pod.Labels[LabelComponent] != ComponentAgent {
		return false
	}
	for _, o := range pod.OwnerReferences {
		if o.Controller != nil && *o.Controller && o.Kind == "DaemonSet" && o.Name == AgentName {
			return true
		}
	}
	return false
}

// isLegacyWatchdog: cmd is want with an earlier version's watchdog script.
func isLegacyWatchdog(cmd, want []string) bool {
	for _, legacy := range legacyWatchdogScripts {
		old := slices.Clone(want)
		old[2] = legacy
		if slices.Equal(cmd[:len(old)-1], old[:len(old)-1]) {
			return true
		}
	}
	return false
}
