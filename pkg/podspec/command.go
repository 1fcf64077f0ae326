package podspec

// loginShell starts the node's bash as a login shell where it has one, else sh.
var loginShell = []string{"/bin/sh", "-c", "if command -v bash >/dev/null 2>&1; then exec bash -l; fi; exec sh -l"}

// nsenterScript joins the namespaces of PID 1, the node's init. Where PID 1's namespaces
// cannot be opened (some sandboxed VMs deny it even to root), it joins the kubelet's or
// containerd's instead: they run in the node's own namespaces, and a one-line notice on
// stderr says so. Exit status 126 means no target process could be found.
const nsenterScript = `target=1
if ! nsenter -t 1 -m -- true 2>/dev/null; then
  target=
  for p in $(pidof kubelet) $(pidof containerd); do target=$p; break; done
  if [ -z "$target" ]; then
    echo "node-shell: cannot enter PID 1's namespaces, and no kubelet or containerd process to enter instead" >&2
    exit 126
  fi
  echo "node-shell: PID 1's namespaces are not accessible here; entering those of pid $target (kubelet/containerd)" >&2
fi
exec nsenter -t "$target" -m -u -i -n -p -- "$@"`

// ExecCommand is the argv exec'd in the container for a session: command, or a login shell
// when command is empty, entered into the node the way mode says. term, when set, becomes
// the command's TERM, so a TTY session gets the user's terminal type.
func ExecCommand(mode Mode, command []string, term string) []string {
	if len(command) == 0 {
		command = loginShell
	}
	var argv []string
	if term != "" {
		argv = append(argv, "env", "TERM="+term)
	}
	switch mode {
	case ModeNsenter:
		argv = append(argv, "sh", "-c", nsenterScript, "node-shell-nsenter")
	case ModeContainer:
	default:
		argv = append(argv, "chroot", HostMount)
	}
	return append(argv, command...)
}
