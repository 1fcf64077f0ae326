package localcluster

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Fault injection for tests: stop and restart the apiserver or one node's
// kubelet or containerd, fill a node's disk or make its kubelet's certificate
// untrusted, while the rest of the cluster runs. Restarted daemons get the
// same command line, hence the same flags, certificates and data.

// StopAPIServer kills the apiserver (SIGKILL: a graceful stop waits up to
// 60 s for open watches; etcd keeps the state). Clients then get "connection
// refused" on 127.0.0.1:6443.
func (c *Cluster) StopAPIServer(ctx context.Context) error {
	return c.stopDaemon(apiServerName, 0)
}

// StartAPIServer starts the apiserver again and waits for /readyz.
func (c *Cluster) StartAPIServer(ctx context.Context) error {
	if err := c.startDaemon(apiServerName, apiServerArgs(c.l, c.spec.Binaries)); err != nil {
		return err
	}
	cs, err := c.Clientset()
	if err != nil {
		return err
	}
	return waitFor(ctx, c.l, 60*time.Second, "kube-apiserver /readyz", apiReady(cs))
}

// StopKubelet stops node's kubelet (SIGTERM, SIGKILL after 10 s). Its
// containerd and containers keep running, as on a real node; the node goes
// NotReady after the controller manager's grace period (40 s).
func (c *Cluster) StopKubelet(ctx context.Context, node string) error {
	k, err := c.nodeIndex(node)
	if err != nil {
		return err
	}
	return c.stopDaemon(kubeletName(k), 10*time.Second)
}

// StartKubelet starts node's kubelet again and waits until it is healthy
// and has reported the node Ready since it started.
func (c *Cluster) StartKubelet(ctx context.Context, node string) error {
	k, err := c.nodeIndex(node)
	if err != nil {
		return err
	}
	started := time.Now()
	if err := c.startDaemon(kubeletName(k), kubeletArgs(c.l, c.spec.Binaries, k)); err != nil {
		return err
	}
	cs, err := c.Clientset()
	if err != nil {
		return err
	}
	if err := waitFor(ctx, c.l, 60*time.Second, "kubelet "+node+" /healthz", kubeletHealthy(k)); err != nil {
		return err
	}
	if err := waitFor(ctx, c.l, 60*time.Second, "node "+node+" to report Ready", nodeHeartbeatSince(cs, node, started)); err != nil {
		return err
	}
	// A starting kubelet rewrites the sysctls again.
	return restoreSysctls(c.l)
}

// SetMaxPods restarts node's kubelet with maxPods set to n (0: the kubelet's
// default, 110) and waits until the node reports that capacity, so a test
// can fill a node to its pod limit with a few pods. Running pods survive the
// restart, as on a real node.
func (c *Cluster) SetMaxPods(ctx context.Context, node string, n int) error {
	k, err := c.nodeIndex(node)
	if err != nil {
		return err
	}
	resolv, err := resolvConf(c.l)
	if err != nil {
		return err
	}
	config, want := kubeletConfig(c.l, k, resolv), int64(110)
	if n > 0 {
		config += fmt.Sprintf("maxPods: %d\n", n)
		want = int64(n)
	}
	if err := os.WriteFile(c.l.node(k, "kubelet.yaml"), []byte(config), 0o644); err != nil {
		return err
	}
	if err := c.StopKubelet(ctx, node); err != nil {
		return err
	}
	if err := c.StartKubelet(ctx, node); err != nil {
		return err
	}
	cs, err := c.Clientset()
	if err != nil {
		return err
	}
	return waitFor(ctx, c.l, 60*time.Second, fmt.Sprintf("node %s to report %d pods of capacity", node, want),
		func(ctx context.Context) (bool, error) {
			n, err := cs.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
			if err != nil {
				return false, nil
			}
			return n.Status.Capacity.Pods().Value() == want, nil
		})
}

// StopContainerd stops node's containerd (SIGTERM, SIGKILL after 10 s). Its
// shims and containers keep running, as on a real node; the kubelet keeps
// running too, and reports the node Ready=False ("container runtime is
// down") once its runtime checks have failed for a while.
func (c *Cluster) StopContainerd(ctx context.Context, node string) error {
	k, err := c.nodeIndex(node)
	if err != nil {
		return err
	}
	return c.stopDaemon(containerdName(k), 10*time.Second)
}

// StartContainerd starts node's containerd again, waits until its socket
// answers, and restarts the node's kubelet (StartKubelet waits until it is
// Ready): a kubelet whose runtime went away reconnects only after a backoff,
// and fails the calls it makes meanwhile, so the next test's pod would.
func (c *Cluster) StartContainerd(ctx context.Context, node string) error {
	k, err := c.nodeIndex(node)
	if err != nil {
		return err
	}
	if err := c.startDaemon(containerdName(k), containerdArgs(c.l, c.spec.Containerd, k)); err != nil {
		return err
	}
	socket := c.l.node(k, "containerd.sock")
	if err := waitFor(ctx, c.l, 60*time.Second, "containerd "+node+" to listen on "+socket, func(ctx context.Context) (bool, error) {
		conn, err := (&net.Dialer{}).DialContext(ctx, "unix", socket)
		if err != nil {
			return false, err
		}
		return true, conn.Close()
	}); err != nil {
		return err
	}
	if err := c.StopKubelet(ctx, node); err != nil {
		return err
	}
	return c.StartKubelet(ctx, node)
}

// FillPodLogsDir makes node's pod log directory (the kubelet's podLogsDir)
// a full filesystem: a tmpfs with no free inode is mounted over it, so the
// kubelet's mkdir of a new pod's log directory fails with "no space left on
// device", as on a node whose disk is full, and it cannot create the pod's
// sandbox. Existing pods keep their open log files. FreePodLogsDir undoes it
// (Down too: it unmounts everything under the state dir).
func (c *Cluster) FillPodLogsDir(ctx context.Context, node string) error {
	k, err := c.nodeIndex(node)
	if err != nil {
		return err
	}
	// The root directory takes the only inode.
	return syscall.Mount("kns-full", c.l.node(k, "pod-logs"), "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, "size=4k,nr_inodes=1,mode=0755")
}

// FreePodLogsDir unmounts what FillPodLogsDir mounted.
func (c *Cluster) FreePodLogsDir(ctx context.Context, node string) error {
	k, err := c.nodeIndex(node)
	if err != nil {
		return err
	}
	return syscall.Unmount(c.l.node(k, "pod-logs"), 0)
}

// UntrustKubeletCert restarts node's kubelet with a serving certificate
// from a CA the apiserver does not trust, as on a node whose certificate was
// replaced or re-signed by hand: the kubelet runs pods as before, and the
// apiserver refuses to connect to it for exec, logs and port-forward
// ("x509: certificate signed by unknown authority"). TrustKubeletCert undoes
// it; both drop a SetMaxPods limit.
func (c *Cluster) UntrustKubeletCert(ctx context.Context, node string) error {
	k, err := c.nodeIndex(node)
	if err != nil {
		return err
	}
	ca, err := newCA()
	if err != nil {
		return err
	}
	certPEM, keyPEM, err := ca.issue(certSpec{name: "untrusted-serving", cn: nodeName(k), server: true, ips: []net.IP{net.ParseIP(nodeName(k))}})
	if err != nil {
		return err
	}
	certFile, keyFile := c.l.node(k, "untrusted-serving.crt"), c.l.node(k, "untrusted-serving.key")
	if err := os.WriteFile(certFile, certPEM, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		return err
	}
	return c.restartKubeletWith(ctx, node, k, strings.NewReplacer(
		c.l.pki(fmt.Sprintf("node%d-serving.crt", k)), certFile,
		c.l.pki(fmt.Sprintf("node%d-serving.key", k)), keyFile))
}

// TrustKubeletCert restarts node's kubelet with its own serving certificate.
func (c *Cluster) TrustKubeletCert(ctx context.Context, node string) error {
	k, err := c.nodeIndex(node)
	if err != nil {
		return err
	}
	return c.restartKubeletWith(ctx, node, k, strings.NewReplacer())
}

// restartKubeletWith writes node k's kubelet config, edited by edit, and
// restarts the kubelet with it.
func (c *Cluster) restartKubeletWith(ctx context.Context, node string, k int, edit *strings.Replacer) error {
	resolv, err := resolvConf(c.l)
	if err != nil {
		return err
	}
	if err := os.WriteFile(c.l.node(k, "kubelet.yaml"), []byte(edit.Replace(kubeletConfig(c.l, k, resolv))), 0o644); err != nil {
		return err
	}
	if err := c.StopKubelet(ctx, node); err != nil {
		return err
	}
	return c.StartKubelet(ctx, node)
}

func (c *Cluster) nodeIndex(node string) (int, error) {
	k, err := nodeIndex(node)
	if err != nil {
		return 0, err
	}
	if k > c.spec.Nodes {
		return 0, fmt.Errorf("the cluster has %d node(s); there is no %s", c.spec.Nodes, node)
	}
	return k, nil
}

func (c *Cluster) stopDaemon(name string, grace time.Duration) error {
	pid, ok := daemonPID(c.l, name)
	if !ok || !ours(pid, c.l.state) {
		return fmt.Errorf("%s is not running", name)
	}
	stopNamed(c.l, grace, name)
	if running(pid) {
		return fmt.Errorf("%s (pid %d) did not exit", name, pid)
	}
	return nil
}

func (c *Cluster) startDaemon(name string, argv []string) error {
	if pid, ok := daemonPID(c.l, name); ok && ours(pid, c.l.state) {
		return fmt.Errorf("%s is already running (pid %d)", name, pid)
	}
	_, err := startDaemon(c.l, name, argv)
	return err
}
