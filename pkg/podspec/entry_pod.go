package podspec

import (
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// AnnotationTargetPod names the pod a session entered from its node, as
// NAMESPACE/POD/CONTAINER (audit trail, shown by `list -o wide`).
const AnnotationTargetPod = "kubectl-node-shell.io/target-pod"

// Namespace kinds a pod target can join (--target-namespaces), as nsenter names its flags.
var targetNamespaceFlags = map[string]string{"net": "-n", "pid": "-p", "ipc": "-i", "uts": "-u"}

// TargetNamespaces lists the namespace kinds a pod target can join, in help-text order.
var TargetNamespaces = []string{"net", "pid", "ipc", "uts"}

// ParseTargetNamespaces checks a --target-namespaces list. mnt is refused: joining the
// container's mount namespace would run binaries of its image as root with every privilege
// of the session, so whoever controls that image could take the session over.
func ParseTargetNamespaces(kinds []string) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	for _, k := range kinds {
		k = strings.TrimSpace(k)
		switch {
		case k == "mnt":
			return nil, fmt.Errorf("mnt is refused: the container's own binaries would run with the session's root privileges, so its image could take the session over; its files are at $%s instead", EnvTargetRoot)
		case targetNamespaceFlags[k] == "":
			return nil, fmt.Errorf("unknown namespace %q: use %s", k, strings.Join(TargetNamespaces, ", "))
		case !seen[k]:
			seen[k] = true
			out = append(out, k)
		}
	}
	if !seen["net"] {
		return nil, fmt.Errorf("net is required: a pod target always joins the container's network namespace")
	}
	return out, nil
}

// Environment of a command run in a pod target: the container's process as the node sees it.
const (
	EnvTargetPID  = "NODE_SHELL_TARGET_PID"
	EnvTargetRoot = "NODE_SHELL_TARGET_ROOT"
)

// PodTarget runs the command in the namespaces of one container of a pod, from that pod's
// node: the node's tools (Tools is Chroot) or the session image's (Tools is Container).
// The container's process is found through the node's /proc (the pod is hostPID) by its
// cgroup path, which the kubelet and runtime name after the pod's UID and the container's ID
// (podScript).
type PodTarget struct {
	Tools Entry
	// Namespace, Pod and Container name the target for the audit annotation and messages.
	Namespace, Pod, Container string
	// PodUID is the pod's metadata.uid; ContainerID the container's ID without the
	// runtime prefix (containerStatuses[].containerID is "containerd://ID").
	PodUID, ContainerID string
	// Namespaces are the kinds to join (ParseTargetNamespaces); empty means net.
	Namespaces []string
}

// Mode implements Entry: the tools' mode (the pod's mode annotation says which tools ran).
func (p PodTarget) Mode() Mode { return p.tools().Mode() }

func (p PodTarget) tools() Entry {
	if p.Tools == nil {
		return Chroot{}
	}
	return p.Tools
}

// Apply implements Entry: the tools' pod (hostPID is what shows the container's process),
// and the target in the audit trail.
func (p PodTarget) Apply(pod *corev1.Pod) {
	p.tools().Apply(pod)
	pod.Annotations[AnnotationTargetPod] = p.Namespace + "/" + p.Pod + "/" + p.Container
}

// Argv implements Entry: podScript finds and proves the container's process, then nsenter
// joins its namespaces and runs the command with the tools' argv (chroot /host … or as is).
func (p PodTarget) Argv(command []string, term string) []string {
	kinds := p.Namespaces
	if len(kinds) == 0 {
		kinds = []string{"net"}
	}
	flags := make([]string, len(kinds))
	for i, k := range kinds {
		flags[i] = targetNamespaceFlags[k]
	}
	enter := []string{"sh", "-c", podScript, "node-shell-pod",
		p.ContainerID, p.PodUID, strings.Join(flags, " "), p.Namespace + "/" + p.Pod + "/" + p.Container}
	// The tools' argv without a TERM of its own: the script's env prefix sets it once.
	return execArgv(enter, p.tools().Argv(command, ""), term)
}

// Watchdog implements Entry: the tools' watchdog.
func (p PodTarget) Watchdog(pod *corev1.Pod, timeout time.Duration) { p.tools().Watchdog(pod, timeout) }

// ContainerIDOf is the bare ID of a containerStatuses[].containerID ("containerd://ID"), or
// "" when it has no runtime prefix or no ID.
func ContainerIDOf(statusID string) string {
	_, id, ok := strings.Cut(statusID, "://")
	if !ok || id == "" || strings.ContainsAny(id, "/ \t\n") {
		return ""
	}
	return id
}

// podScript finds a process of the target container and runs "$@" in its namespaces. Its
// arguments: the container ID, the pod UID, nsenter's namespace flags and the target's name
// for messages. A process qualifies only when one line of its /proc/PID/cgroup is exactly the
// container's cgroup under this node's pod root: ROOT/kubepods[/QOS]/pod<UID>/<ID> (cgroupfs
// driver) or ROOT/kubepods.slice[/kubepods-QOS.slice]/kubepods[-QOS]-pod<UID_>.slice/
// <runtime>-<ID>.scope (systemd driver), where ROOT is what precedes kubepods in this
// session pod's own cgroup. The kubelet and the runtime make those directories; the exact
// depth refuses a cgroup a tenant nested under its own pod with the target's names. When no
// process qualifies it refuses in one line with status 126. NODE_SHELL_PROC and
// NODE_SHELL_NSENTER stand in for /proc and nsenter in unit tests only.
const podScript = `proc=${NODE_SHELL_PROC:-/proc} nsenter=${NODE_SHELL_NSENTER:-nsenter}
id=$1 uid=$2 flags=$3 name=$4; shift 4
uidu=${uid//-/_}
refuse() {
  echo "node-shell: cannot enter container $name: $1; check that the pod still runs on this node (kubectl get pod -o wide)" >&2
  exit 126
}
case $id:$uid in *[!0-9a-zA-Z_.:-]*|:*|*:) refuse "its container ID or pod UID is missing or malformed";; esac
kroot= found=
{ while IFS= read -r line; do
    p=${line#*:}; p=${p#*:}
    case $p in */kubepods*) kroot=${p%%/kubepods*} found=1; break;; esac
  done <"$proc/self/cgroup"; } 2>/dev/null
[ -n "$found" ] || refuse "this session pod's own cgroup does not name kubepods, so the container's cgroup cannot be told from another"
owned() {
  case $1 in "$kroot"/kubepods/*|"$kroot"/kubepods.slice/*) ;; *) return 1;; esac
  rel=${1#"$kroot"/}
  old=$IFS; IFS=/; set -f; set -- $rel; set +f; IFS=$old
  case $#:$1 in
    3:kubepods) pod=$2 ctr=$3; [ "$pod" = "pod$uid" ] || return 1; [ "$ctr" = "$id" ];;
    4:kubepods) case $2 in besteffort|burstable) ;; *) return 1;; esac; [ "$3" = "pod$uid" ] && [ "$4" = "$id" ];;
    3:kubepods.slice) [ "$2" = "kubepods-pod$uidu.slice" ] || return 1; scope "$3";;
    4:kubepods.slice) case $2 in kubepods-besteffort.slice|kubepods-burstable.slice) ;; *) return 1;; esac
      [ "$3" = "${2%.slice}-pod$uidu.slice" ] || return 1; scope "$4";;
    *) return 1;;
  esac
}
scope() { case $1 in "cri-containerd-$id.scope"|"crio-$id.scope"|"docker-$id.scope") return 0;; esac; return 1; }
target=
for d in "$proc"/[0-9]*; do
  { while IFS= read -r line; do
      p=${line#*:}; p=${p#*:}
      if owned "$p"; then target=${d##*/}; break; fi
    done <"$d/cgroup"; } 2>/dev/null
  [ -z "$target" ] || break
done
[ -n "$target" ] || refuse "no process on this node runs in its cgroup (pod UID $uid, container ID $id)"
export ` + EnvTargetPID + `=$target ` + EnvTargetRoot + `=/proc/$target/root
exec "$nsenter" -t "$target" $flags -- "$@"`
