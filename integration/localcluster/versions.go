package localcluster

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
)

// Versions of what Build builds. The cache is keyed by them, so another
// version builds that component only, next to the others.
const (
	// DefaultKubernetesVersion is the version of kube-apiserver, kubelet,
	// kube-controller-manager and kubectl unless Options or
	// $KNS_KUBERNETES_VERSION name another: the newest release that builds here.
	DefaultKubernetesVersion = "v1.37.2"
	// OldestKubernetesVersion is the oldest release node-shell supports that
	// builds here (1.29's staging modules are not served); `make
	// test-versions` runs the e2e suite on it and on the default.
	OldestKubernetesVersion = "v1.30.14"
	// EtcdVersion is the version of etcd.
	EtcdVersion = "v3.6.16"
)

// KubernetesVersionEnv names the environment variable that picks the
// Kubernetes version when Options leave it empty (the e2e TestMain, `make
// test-versions`).
const KubernetesVersionEnv = "KNS_KUBERNETES_VERSION"

var releaseVersion = regexp.MustCompile(`^v1\.(\d+)\.\d+$`)

// KubernetesVersion resolves the version to use: v, else
// $KNS_KUBERNETES_VERSION, else DefaultKubernetesVersion. Only releases
// (v1.MINOR.PATCH) from 1.30 on are accepted.
func KubernetesVersion(v string) (string, error) {
	if v == "" {
		v = os.Getenv(KubernetesVersionEnv)
	}
	if v == "" {
		return DefaultKubernetesVersion, nil
	}
	if !strings.HasPrefix(v, "v") {
		v = "v" + v
	}
	m := releaseVersion.FindStringSubmatch(v)
	if m == nil {
		return "", fmt.Errorf("kubernetes version %q: want a release such as %s", v, DefaultKubernetesVersion)
	}
	if minor, _ := strconv.Atoi(m[1]); minor < 30 {
		return "", fmt.Errorf("kubernetes version %s: the oldest that builds here is %s", v, OldestKubernetesVersion)
	}
	return v, nil
}

// Image references available in every cluster. Pods use them exactly as
// they would on a real cluster; containerd resolves them from the local
// registry.
const (
	// BusyboxImage is Debian's static busybox (1.35, whatever the tag says)
	// with a symlink per applet, PATH set and cmd "sh".
	BusyboxImage = "docker.io/library/busybox:1.37"
	// BusyboxLatestImage is the same image; kubelet pulls a :latest image
	// every time (imagePullPolicy Always), which works against the local
	// registry too.
	BusyboxLatestImage = "docker.io/library/busybox:latest"
	// PauseImage is the pod sandbox image: the busybox layer running
	// "sleep 2147483647". containerd stops sandboxes with SIGKILL, so it
	// needs no signal handling.
	PauseImage = "registry.k8s.io/pause:3.10.1"
	// AbsentImage is never pushed: a pod using it fails to pull with the
	// registry's "not found", which is what pull-failure tests need.
	AbsentImage = "docker.io/library/kubectl-node-shell-absent:0"
)

// Fixed endpoints. Everything listens on 127.0.0.0/8 only, which is also why
// only one cluster can run on a machine at a time.
const (
	// RegistryAddr is where the image registry listens.
	RegistryAddr  = "127.0.0.1:5000"
	apiServerPort = 6443
	etcdClient    = "127.0.0.1:2379"
	etcdPeer      = "127.0.0.1:2380"
	kcmPort       = 10257
	kubeletPort   = 10250
	kubeletHealth = 10248

	// serviceCIDR is a loopback range on purpose: without kube-proxy a
	// ClusterIP never routes, and a pod that tries one gets "connection
	// refused" locally instead of sending packets off the machine.
	serviceCIDR      = "127.96.0.0/16"
	serviceClusterIP = "127.96.0.1"

	// Pod network for pods without hostNetwork: one bridge holding
	// 198.18.0.1/16 (RFC 2544 benchmark range, never routed here). Pods
	// get no default route and nothing forwards or NATs.
	podBridge       = "lcbr0"
	podSubnetPrefix = "198.18"

	// cgroupName is the parent cgroup of every node: kubelet K uses
	// cgroupRoot /localcluster/nodeK in every cgroup v1 hierarchy.
	cgroupName = "localcluster"

	// MaxNodes bounds Options.Nodes: node K is 127.0.0.K and hands out pod
	// IPs 198.18.K.2-254.
	MaxNodes = 100
)

// aptPackages are the Debian packages the nodes need: containerd and runc
// run the containers, containernetworking-plugins provides bridge,
// host-local and loopback, busybox-static is the content of every image.
var aptPackages = []string{"containerd", "runc", "containernetworking-plugins", "busybox-static"}

// mirroredRegistries are the registry hosts containerd resolves from the
// local registry. An image under any other host cannot be pulled.
var mirroredRegistries = []string{"docker.io", "registry.k8s.io", "k8s.gcr.io", "gcr.io", "ghcr.io", "quay.io", RegistryAddr}

// kubeletSysctls are rewritten by kubelet when it starts (kernel.panic=10,
// panic_on_oops=1, overcommit_memory=1, ...). On a developer's machine or a
// shared VM an oops must not turn into a reboot, so they are saved at Up and
// put back as soon as the kubelets have started, and again at Down.
var kubeletSysctls = []string{
	"kernel.panic", "kernel.panic_on_oops", "vm.overcommit_memory", "vm.panic_on_oom",
	"kernel.keys.root_maxkeys", "kernel.keys.root_maxbytes", "net.ipv4.ip_forward",
}

// hostPaths are written by kubelet, containerd and CNI even though their own
// directories are moved under the state directory: /var/log/containers
// symlinks and the device-plugin socket (kubelet, hard-coded), shim sockets
// in /run/containerd/s (containerd 1.6, hard-coded), libcni's result cache
// in /var/lib/cni. The rest are defaults we override, listed to catch
// regressions. Up saves a listing; Down deletes whatever is new.
var hostPaths = []string{
	"/run/containerd", "/run/netns", "/var/lib/cni", "/var/log/containers", "/var/log/pods",
	"/var/lib/kubelet", "/var/lib/containerd", "/opt/containerd", "/etc/cni", "/etc/kubernetes",
	"/usr/libexec/kubernetes", "/opt/cni",
}

// daemonPath is the whole PATH of every daemon: they run with a clean
// environment so nothing from the caller's leaks in.
const daemonPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
