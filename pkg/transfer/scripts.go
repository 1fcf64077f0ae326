// Package transfer copies files between this machine and a node as tar streams over
// exec, with the tar side run by the session image's busybox in container mode (the node
// at podspec.HostMount), so a node without tar works. Each stream is verified end to end:
// the far side hashes the exact bytes it sent or received and reports size and sha256 in
// a trailer, which must match what this side counted.
package transfer

import (
	"fmt"
	"path"
	"strconv"
	"strings"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/podspec"
)

// trailerPrefix starts the far side's line "node-shell-transfer SIZE SHA256".
const trailerPrefix = "node-shell-transfer "

// resolveScript prints `probe KIND SIZE` for $1 and its resolved path: a final symlink is
// followed within /host (an absolute target means the node's /, not the container's), as
// scp follows the path it is given. KIND is dir, file, none (the parent exists) or
// noparent.
const resolveScript = `p=$1; n=0
while [ -L "$p" ] && [ $n -lt 40 ]; do
  l=$(readlink "$p"); case $l in /*) p=` + podspec.HostMount + `$l;; *) p=$(dirname "$p")/$l;; esac; n=$((n+1))
done
if [ -d "$p" ]; then k=dir; s=$(du -sk "$p" 2>/dev/null | cut -f1); s=$((${s:-0}*1024))
elif [ -e "$p" ]; then k=file; s=$(stat -c %s "$p")
elif [ -d "$(dirname "$p")" ]; then k=none; s=0
else k=noparent; s=0; fi
printf 'probe %s %s\n%s\n' "$k" "$s" "$p"`

// hashPrelude starts a script that tees a stream into sha256sum and a byte count through
// fifos; hashReport prints their result as the trailer on file descriptor FD. The count
// is dd's of 512-byte output records: busybox wc -c reads a pipe a byte at a time, which
// cost more CPU than the rest of the far side together. A tar stream is whole 512-byte
// blocks, so a partial last record means the stream was cut: its size is then -1.
const hashPrelude = `set -o pipefail
t=$(mktemp -d) && mkfifo "$t/sum" "$t/size" || exit 125
sha256sum <"$t/sum" >"$t/sum.out" & dd ibs=64k obs=512 <"$t/size" >/dev/null 2>"$t/size.out" &
`

const hashReport = `s=$?
wait
r=$(grep 'records out' "$t/size.out"); n=${r%%+*}; p=${r#*+}; p=${p%% *}
if [ "$p" = 0 ] && [ -n "$n" ]; then n=$((n * 512)); else n=-1; fi
printf '` + trailerPrefix + `%s %s\n' "$n" "$(cut -d' ' -f1 "$t/sum.out")" >&FD
rm -rf "$t"
exit $s`

// sendScript writes the tar of $1/$2 on stdout, the trailer on stderr. busybox tee writes
// 1 KiB at a time, and every write became a message of its own on each hop of the exec
// stream (containerd, the kubelet, the apiserver): dd writes 64 KiB blocks instead.
var sendScript = hashPrelude + `tar cf - -C "$1" "./$2" | tee "$t/sum" "$t/size" | dd bs=64k iflag=fullblock 2>/dev/null
` + strings.Replace(hashReport, "FD", "2", 1)

// receiveScript extracts the tar on stdin into $1, trailer on stdout. tar may stop at
// the archive's end marker, before stdin ends: cat reads the rest so that tee sees it all.
var receiveScript = hashPrelude + `tee "$t/sum" "$t/size" | { tar xf - -C "$1"; r=$?; cat >/dev/null; exit $r; }
` + strings.Replace(hashReport, "FD", "1", 1)

// ResolveArgv probes nodePath (absolute, on the node) in the container.
func ResolveArgv(nodePath string) []string {
	return []string{"sh", "-c", resolveScript, "node-shell-probe", HostPath(nodePath)}
}

// SendArgv tars dir/name (container paths, from a Probe) to stdout.
func SendArgv(dir, name string) []string {
	return []string{"sh", "-c", sendScript, "node-shell-send", dir, name}
}

// ReceiveArgv extracts stdin into dir (a container path, from a Probe).
func ReceiveArgv(dir string) []string {
	return []string{"sh", "-c", receiveScript, "node-shell-receive", dir}
}

// HostPath is where the container sees the node's absolute path p.
func HostPath(p string) string {
	return path.Join(podspec.HostMount, path.Clean("/"+p))
}

// Kind is what a path is on the node.
type Kind string

// The kinds a Probe reports.
const (
	KindDir      Kind = "dir"
	KindFile     Kind = "file"
	KindNone     Kind = "none"
	KindNoParent Kind = "noparent"
)

// Probe is what resolveScript found: the kind and size of the path, and the path itself
// (in the container) after its final symlinks.
type Probe struct {
	Kind Kind
	Size int64
	Path string
}

// ParseProbe reads resolveScript's output.
func ParseProbe(out string) (Probe, error) {
	lines := strings.SplitN(strings.TrimRight(out, "\n"), "\n", 2)
	f := strings.Fields(lines[0])
	if len(lines) != 2 || len(f) != 3 || f[0] != "probe" {
		return Probe{}, fmt.Errorf("unexpected answer from the node's probe: %q", out)
	}
	size, err := strconv.ParseInt(f[2], 10, 64)
	if err != nil {
		return Probe{}, fmt.Errorf("unexpected size in the node's probe: %q", out)
	}
	p := Probe{Kind: Kind(f[1]), Size: size, Path: lines[1]}
	switch p.Kind {
	case KindDir, KindFile, KindNone, KindNoParent:
		return p, nil
	}
	return Probe{}, fmt.Errorf("unexpected kind in the node's probe: %q", out)
}

// NodePath is the node's view of a container path under /host, for messages.
func NodePath(containerPath string) string {
	if rest, ok := strings.CutPrefix(containerPath, podspec.HostMount); ok && (rest == "" || rest[0] == '/') {
		if rest == "" {
			return "/"
		}
		return rest
	}
	return containerPath
}
