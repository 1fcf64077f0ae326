package localcluster

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Options configures Up.
type Options struct {
	// Nodes is the number of nodes, 1 (the default) to MaxNodes. Node K is
	// named 127.0.0.K.
	Nodes int
	// Dir receives the admin kubeconfig ("kubeconfig"), a pointer to the
	// runtime directory (".localcluster") and a symlink to it ("state").
	// It must be empty or not exist. Required.
	Dir string
	// Log receives progress messages; nil discards them.
	Log io.Writer
	// Detached makes the cluster outlive the calling process, as the
	// command's `up` does: it runs until someone calls Down. Otherwise the
	// cluster belongs to the calling process, and if that process dies
	// without calling Down (a test binary killed by a timeout or SIGKILL),
	// the next Up removes the leftovers.
	Detached bool
	// KeepOnFailure keeps a cluster that failed to start, for debugging;
	// so does the environment variable KNS_KEEP_ON_FAILURE=1.
	KeepOnFailure bool
	// KubernetesVersion is the release to run (v1.MINOR.PATCH, 1.30 or
	// newer); empty means $KNS_KUBERNETES_VERSION or DefaultKubernetesVersion.
	// Each version is built once into the cache.
	KubernetesVersion string
}

// Cluster is a running local cluster. Its methods may be used from any
// process: Attach rebuilds one from the directory.
type Cluster struct {
	spec clusterSpec
	l    layout
}

// Attach returns the cluster started by Up with Dir dir, for another process
// (the command's down and status, a test's child process). It fails if
// there is no cluster there; it does not check that it still runs.
func Attach(dir string) (*Cluster, error) {
	abs, err := absDir(dir)
	if err != nil {
		return nil, err
	}
	state := newLayout(abs).state
	if p, err := readPointer(abs); err == nil && p.State != "" {
		state = p.State
	}
	return attachState(state)
}

func attachState(state string) (*Cluster, error) {
	spec, err := readSpec(state)
	if err != nil {
		return nil, fmt.Errorf("no local cluster in %s: %w", state, err)
	}
	return &Cluster{spec: spec, l: layout{dir: spec.Dir, state: spec.State}}, nil
}

// Dir is the directory given to Up.
func (c *Cluster) Dir() string { return c.l.dir }

// StateDir is the runtime directory: PKI, configs, data, logs/, pids/.
func (c *Cluster) StateDir() string { return c.l.state }

// Kubeconfig is the path of the admin kubeconfig (user localcluster-admin,
// group system:masters).
func (c *Cluster) Kubeconfig() string { return c.l.kubeconfig() }

// RESTConfig is the admin's client configuration.
func (c *Cluster) RESTConfig() (*rest.Config, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", c.l.adminKubeconfig())
	if err != nil {
		return nil, fmt.Errorf("loading admin kubeconfig: %w", err)
	}
	// Tests create many objects quickly; client-go's default of 5 QPS
	// would throttle them.
	cfg.QPS, cfg.Burst = 100, 200
	return cfg, nil
}

// Clientset is an admin client.
func (c *Cluster) Clientset() (kubernetes.Interface, error) {
	cfg, err := c.RESTConfig()
	if err != nil {
		return nil, err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("creating client: %w", err)
	}
	return cs, nil
}

// NodeNames are the names of the nodes: 127.0.0.1 to 127.0.0.N.
func (c *Cluster) NodeNames() []string {
	names := make([]string, c.spec.Nodes)
	for k := 1; k <= c.spec.Nodes; k++ {
		names[k-1] = nodeName(k)
	}
	return names
}

// AuditLogPath is the apiserver's audit log: one JSON event per line, level
// Metadata, stages ResponseStarted (long-running requests) and
// ResponseComplete.
func (c *Cluster) AuditLogPath() string { return c.l.auditLog() }

// KubectlPath is the kubectl built with the cluster (same version).
func (c *Cluster) KubectlPath() string { return c.spec.Binaries.kube("kubectl") }

// KubernetesVersion is the release the cluster runs (and its kubectl is).
func (c *Cluster) KubernetesVersion() string { return c.spec.Kubernetes }

// Logs is the path of a daemon's log: "etcd", "kube-apiserver",
// "kube-controller-manager", "registry", "kubelet-K", "containerd-K".
func (c *Cluster) Logs(name string) string { return c.l.logFile(name) }

// LogNames lists the daemons that have a log, sorted.
func (c *Cluster) LogNames() []string {
	matches, _ := filepath.Glob(c.l.logFile("*"))
	var names []string
	for _, m := range matches {
		if n := strings.TrimSuffix(filepath.Base(m), ".log"); n != "audit" {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

// DumpLogs writes the last lines of every daemon's log to w, for a failed
// test or Up.
func (c *Cluster) DumpLogs(w io.Writer, lines int) {
	dumpLogs(c.l, w, lines)
}

func dumpLogs(l layout, w io.Writer, lines int) {
	matches, _ := filepath.Glob(l.logFile("*"))
	sort.Strings(matches)
	for _, m := range matches {
		if filepath.Base(m) == "audit.log" {
			continue
		}
		data, err := readTail(m, 64*1024)
		if err != nil {
			continue
		}
		fmt.Fprintf(w, "--- %s (last %d lines)\n%s\n", m, lines, indent(clip(tail(string(data), lines), 300), "    "))
	}
}

// readTail reads at most the last n bytes of a file.
func readTail(path string, n int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	off := max(fi.Size()-n, 0)
	buf := make([]byte, fi.Size()-off)
	_, err = f.ReadAt(buf, off)
	if err == io.EOF {
		err = nil
	}
	return buf, err
}

// clip shortens every line of s to n bytes.
func clip(s string, n int) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if len(l) > n {
			lines[i] = l[:n] + "…"
		}
	}
	return strings.Join(lines, "\n")
}

var unsafeFileChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// MintKubeconfig writes a kubeconfig for user in groups, authenticated by a
// client certificate from the cluster's CA (CN user, O groups), and returns
// its path (in the runtime directory; removed by Down). Grant it rights
// with RBAC objects: with none, every request is Forbidden.
func (c *Cluster) MintKubeconfig(user string, groups ...string) (string, error) {
	if user == "" {
		return "", fmt.Errorf("a user name is required")
	}
	ca, err := loadCA(c.l.path("pki"))
	if err != nil {
		return "", err
	}
	certPEM, keyPEM, err := ca.issue(certSpec{name: user, cn: user, orgs: groups})
	if err != nil {
		return "", err
	}
	data, err := kubeconfigFor(user, ca.certPEM(), certPEM, keyPEM)
	if err != nil {
		return "", err
	}
	dir := c.l.path("users")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	f, err := os.CreateTemp(dir, unsafeFileChars.ReplaceAllString(user, "_")+"-*.kubeconfig")
	if err != nil {
		return "", fmt.Errorf("creating kubeconfig: %w", err)
	}
	defer f.Close()
	if _, err := f.Write(data); err != nil {
		return "", fmt.Errorf("writing %s: %w", f.Name(), err)
	}
	return f.Name(), nil
}

// BusyboxImage returns the image pushed as BusyboxImage, to build test
// images on (see NewImage and PushImage).
func (c *Cluster) BusyboxImage() (v1.Image, error) {
	return busyboxImage(c.spec.Binaries.Layer)
}

// PushImage makes img pullable by pods as ref, e.g.
// "docker.io/library/node-shell-test:1". ref's registry must be one the
// nodes mirror (docker.io, registry.k8s.io, k8s.gcr.io, gcr.io, ghcr.io,
// quay.io, or 127.0.0.1:5000 itself). The registry keeps manifests in
// memory: images pushed here are gone after Down.
func (c *Cluster) PushImage(ctx context.Context, ref string, img v1.Image) error {
	return pushImage(ctx, ref, img)
}

// PushBusyboxImage pushes BusyboxImage with spec applied as ref.
func (c *Cluster) PushBusyboxImage(ctx context.Context, ref string, spec ImageSpec) error {
	base, err := c.BusyboxImage()
	if err != nil {
		return err
	}
	img, err := NewImage(base, spec)
	if err != nil {
		return err
	}
	return c.PushImage(ctx, ref, img)
}
