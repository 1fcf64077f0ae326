package localcluster

import (
	"context"
	"fmt"
	"os"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Fault injection for tests: stop and restart the apiserver or one node's
// kubelet while the rest of the cluster runs. Restarted daemons get the
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
