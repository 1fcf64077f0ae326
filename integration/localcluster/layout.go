package localcluster

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// stateRoot holds one runtime directory per cluster. It is short on purpose:
// kubelet and containerd create unix sockets deep below the runtime
// directory, and a socket path must fit in 107 bytes.
const stateRoot = "/var/lib/kubectl-node-shell"

// maxStateDirLen is the longest runtime directory that leaves room for the
// deepest socket (kubelet's pod-resources socket of node 100).
const maxStateDirLen = 60

// layout knows where every file of a cluster lives. dir is the directory the
// caller asked for (kubeconfig, pointer); state is the runtime directory
// (everything else).
type layout struct {
	dir   string
	state string
}

// newLayout returns the layout for the requested directory, which must be
// absolute. Its runtime directory is derived from a hash of the path, so the
// same directory always maps to the same runtime directory and `down --dir`
// finds a cluster that `up --dir` started.
func newLayout(dir string) layout {
	sum := sha256.Sum256([]byte(dir))
	return layout{dir: dir, state: filepath.Join(stateRoot, hex.EncodeToString(sum[:])[:12])}
}

func (l layout) path(elem ...string) string {
	return filepath.Join(append([]string{l.state}, elem...)...)
}

// Files in the requested directory.
func (l layout) kubeconfig() string  { return filepath.Join(l.dir, "kubeconfig") }
func (l layout) pointerFile() string { return filepath.Join(l.dir, markerName) }
func (l layout) stateLink() string   { return filepath.Join(l.dir, "state") }

// Files in the runtime directory.
func (l layout) specFile() string             { return l.path(markerName) }
func (l layout) pki(name string) string       { return l.path("pki", name) }
func (l layout) logFile(name string) string   { return l.path("logs", name+".log") }
func (l layout) pidFile(name string) string   { return l.path("pids", name+".pid") }
func (l layout) auditLog() string             { return l.path("logs", "audit.log") }
func (l layout) auditPolicy() string          { return l.path("audit-policy.yaml") }
func (l layout) adminKubeconfig() string      { return l.path("kubeconfig") }
func (l layout) kcmKubeconfig() string        { return l.path("kube-controller-manager.kubeconfig") }
func (l layout) certsDir() string             { return l.path("certs.d") }
func (l layout) registryDir() string          { return l.path("registry") }
func (l layout) savedFile(name string) string { return l.path("saved", name) }
func (l layout) nodeDir(k int) string         { return l.path("nodes", strconv.Itoa(k)) }
func (l layout) node(k int, elem ...string) string {
	return filepath.Join(append([]string{l.nodeDir(k)}, elem...)...)
}

// markerName marks a directory as created by this package: Down refuses to
// touch a directory without it. In the runtime directory it holds the
// cluster's spec; in the requested directory, a pointer to the runtime one.
const markerName = ".localcluster"

// nodeName is the name (and InternalIP) of node k.
func nodeName(k int) string { return fmt.Sprintf("127.0.0.%d", k) }

// nodeIndex is the inverse of nodeName.
func nodeIndex(name string) (int, error) {
	rest, ok := strings.CutPrefix(name, "127.0.0.")
	k, err := strconv.Atoi(rest)
	if !ok || err != nil || k < 1 || k > MaxNodes {
		return 0, fmt.Errorf("%q is not a node name of a local cluster (127.0.0.K)", name)
	}
	return k, nil
}

// absDir cleans and absolutizes a directory argument.
func absDir(dir string) (string, error) {
	if dir == "" {
		return "", fmt.Errorf("a cluster directory is required")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("resolving %s: %w", dir, err)
	}
	return abs, nil
}

// cacheRoot is where Build puts binaries and the image layer:
// $KNS_CACHE, or ~/.cache/kubectl-node-shell.
func cacheRoot() (string, error) {
	if c := os.Getenv("KNS_CACHE"); c != "" {
		return filepath.Abs(c)
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("finding the cache directory (set KNS_CACHE): %w", err)
	}
	return filepath.Join(home, ".cache", "kubectl-node-shell"), nil
}

// binaries are the paths of everything Build produces.
type binaries struct {
	KubeDir string `json:"kubeDir"` // kube-apiserver, kubelet, kube-controller-manager, kubectl
	Etcd    string `json:"etcd"`
	Layer   string `json:"layer"` // busybox layer tar
}

func binariesIn(cache, kubernetesVersion string) binaries {
	return binaries{
		KubeDir: filepath.Join(cache, "bin", "kubernetes-"+kubernetesVersion),
		Etcd:    filepath.Join(cache, "bin", "etcd-"+EtcdVersion, "etcd"),
		Layer:   filepath.Join(cache, "images", "busybox-layer.tar"),
	}
}

func (b binaries) kube(name string) string { return filepath.Join(b.KubeDir, name) }

// kubeCommands are built by one `go build`, so shared packages compile once.
var kubeCommands = []string{"kube-apiserver", "kubelet", "kube-controller-manager", "kubectl"}
