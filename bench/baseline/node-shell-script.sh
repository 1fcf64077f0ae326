#!/usr/bin/env bash
# The kubectl calls the popular shell-script plugin (kvaps/kubectl-node-shell v1.11.0) makes
# for `kubectl node-shell -n NS NODE -- COMMAND` with stdin not a terminal, written anew for
# the benchmark (none of its code is copied). In order:
#
#   kubectl config current-context          pins the context (local, no request)
#   kubectl get node NODE -o jsonpath=…     checks the node and reads its OS label
#   kubectl version --client                picks the run generator for kubectl < 1.18 (local)
#   kubectl run -i --restart=Never --overrides=POD --pod-running-timeout=1m NAME
#                                           creates the pod, waits, attaches (or reads logs)
#   kubectl delete pod --wait=false NAME    from its EXIT trap
#
# The pod is the plugin's: hostPID, hostNetwork, hostIPC, privileged, stdin + stdinOnce, CPU and
# memory 100m/256Mi, tolerations for CriticalAddonsOnly and NoExecute taints. Its default
# command is nsenter into PID 1, which this machine denies (see docs/benchmarks.md); like the
# plugin's -x mode it mounts the node's / at /host, and the command is `chroot /host COMMAND`
# so that every tool in the benchmark runs the same thing.
#
#   KUBECTL=/path/to/kubectl node-shell-script.sh -n NS NODE -- COMMAND [ARGS...]
set -eu

kubectl=(${KUBECTL:-kubectl})
image=${KUBECTL_NODE_SHELL_IMAGE:-docker.io/library/busybox:1.37}
namespace=
node=
while [ $# -gt 0 ]; do
	case $1 in
	-n) namespace=$2; shift 2 ;;
	--) shift; break ;;
	*) node=$1; shift ;;
	esac
done
[ -n "$node" ] || { echo "usage: $0 -n NS NODE -- COMMAND" >&2; exit 2; }

kubectl+=(--context "$("${kubectl[@]}" config current-context)")
[ -z "$namespace" ] || kubectl+=(--namespace "$namespace")

os=$("${kubectl[@]}" get node "$node" -o 'jsonpath={.metadata.labels.kubernetes\.io/os}')
[ "$os" = linux ] || { echo "node $node is not linux: $os" >&2; exit 1; }
"${kubectl[@]}" version --client -o yaml >/dev/null

# The command as a JSON array of strings.
command='["chroot", "/host"'
for arg in "$@"; do
	arg=${arg//\\/\\\\}
	command+=", \"${arg//\"/\\\"}\""
done
command+=']'

pod="nsenter-$(LC_ALL=C tr -dc a-z0-9 </dev/urandom | head -c 6)"
overrides=$(cat <<JSON
{
  "spec": {
    "nodeName": "$node",
    "hostPID": true,
    "hostNetwork": true,
    "hostIPC": true,
    "containers": [{
      "name": "nsenter",
      "image": "$image",
      "securityContext": {"privileged": true},
      "stdin": true,
      "stdinOnce": true,
      "tty": false,
      "command": $command,
      "resources": {
        "limits": {"cpu": "100m", "memory": "256Mi"},
        "requests": {"cpu": "100m", "memory": "256Mi"}
      },
      "volumeMounts": [{"name": "host-root", "mountPath": "/host"}]
    }],
    "tolerations": [
      {"key": "CriticalAddonsOnly", "operator": "Exists"},
      {"effect": "NoExecute", "operator": "Exists"}
    ],
    "volumes": [{"name": "host-root", "hostPath": {"path": "/"}}]
  }
}
JSON
)

trap 'status=$?; "${kubectl[@]}" delete pod --wait=false "$pod" >&2 || true; exit $status' EXIT
"${kubectl[@]}" run --image "$image" --restart=Never --overrides="$overrides" \
	--pod-running-timeout=1m -i "$pod"
