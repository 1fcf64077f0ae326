package podspec

// loginShell starts the node's bash as a login shell where it has one, else sh.
var loginShell = []string{"/bin/sh", "-c", "if command -v bash >/dev/null 2>&1; then exec bash -l; fi; exec sh -l"}

// nsenterScript joins the namespaces of a process proven to be the node's own: PID 1 or,
// where PID 1's cannot be opened (some sandboxed VMs deny it even to root), a kubelet or
// containerd, with a one-line notice. A tenant can name a process kubelet, so every candidate
// must have the node's / (the pod's HostMount) as its root, run in no pod's cgroup (the pod
// is privileged, so it sees cgroup paths unnamespaced) and share PID 1's mount namespace
// where that is readable. If none does, it refuses in one line with status 126.
// NODE_SHELL_PROC, NODE_SHELL_HOST and NODE_SHELL_NSENTER stand in for /proc, HostMount
// and nsenter in unit tests only (busybox sh runs its own applets ahead of PATH).
const nsenterScript = `proc=${NODE_SHELL_PROC:-/proc} host=${NODE_SHELL_HOST:-` + HostMount + `} nsenter=${NODE_SHELL_NSENTER:-nsenter}
cgroup_of() {
  cg=
  { while IFS= read -r line; do cg="$cg $line"; done <"$proc/$1/cgroup"; } 2>/dev/null || cg=
}
unproven() {
  why=
  cgroup_of "$1"
  if ! [ "$proc/$1/root/" -ef "$host/" ]; then
    if [ -e "$proc/$1/root/" ]; then why="its root is not the node's /"; else why="its root cannot be read"; fi
  elif [ -z "$cg" ]; then why="its cgroup cannot be read"
  else
    case $cg in *kubepods*) why="it runs in a pod's cgroup";; esac
    if [ -z "$why" ] && [ -e "$proc/1/ns/mnt" ] && ! [ "$proc/$1/ns/mnt" -ef "$proc/1/ns/mnt" ]; then why="it is not in PID 1's mount namespace"; fi
  fi
}
refuse() {
  echo "node-shell: refusing --nsenter: no process is proven to be the node's own ($1); omit --nsenter (or use --mode=chroot) for the default chroot mode" >&2
  exit 126
}
cgroup_of self
case $cg in *kubepods*) ;; *) refuse "this pod's own cgroup does not name kubepods, so pods cannot be told from the node's processes";; esac
target=1
unproven 1
if [ -n "$why" ]; then
  reasons="PID 1: $why" more=0 target= kubelets= containerds=
  for d in "$proc"/[0-9]*; do
    p=${d##*/}
    [ "$p" != 1 ] || continue
    { read -r comm <"$d/comm"; } 2>/dev/null || continue
    case $comm in kubelet) kubelets="$kubelets kubelet/$p";; containerd) containerds="$containerds containerd/$p";; esac
  done
  for c in $kubelets $containerds; do
    unproven "${c#*/}"
    if [ -z "$why" ]; then target=${c#*/} name=${c%/*}; break; fi
    case $reasons in *\;*\;*\;*) more=$((more + 1));; *) reasons="$reasons; ${c%/*} pid ${c#*/}: $why";; esac
  done
  [ "$more" = 0 ] || reasons="$reasons; $more more"
  [ -n "$kubelets$containerds" ] || reasons="$reasons; no kubelet or containerd process"
  [ -n "$target" ] || refuse "$reasons"
  echo "node-shell: PID 1's namespaces are not usable ($reasons); entering those of $name pid $target, whose root is the node's / and whose cgroup is no pod's" >&2
fi
exec "$nsenter" -t "$target" -m -u -i -n -p -- "$@"`

// execArgv is enter followed by command, or a login shell when command is empty. term,
// when set, becomes the command's TERM, so a TTY session gets the user's terminal type.
func execArgv(enter, command []string, term string) []string {
	if len(command) == 0 {
		command = loginShell
	}
	var argv []string
	if term != "" {
		argv = append(argv, "env", "TERM="+term)
	}
	argv = append(argv, enter...)
	return append(argv, command...)
}
