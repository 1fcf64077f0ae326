package localcluster

import (
	"context"
	"fmt"
	"net/http"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// waitFor polls check every 200 ms until it reports done, timeout passes or
// ctx ends. It gives up at once if a daemon of the cluster has exited: a
// crashed kubelet never becomes Ready, and its log says why.
func waitFor(ctx context.Context, l layout, timeout time.Duration, what string, check func(context.Context) (bool, error)) error {
	deadline := time.Now().Add(timeout)
	var last error
	for {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		done, err := check(cctx)
		cancel()
		if done {
			return nil
		}
		if err != nil {
			last = err
		}
		if name, ok := exitedDaemon(l); ok {
			return fmt.Errorf("%s exited while waiting for %s (see %s)", name, what, l.logFile(name))
		}
		if time.Now().After(deadline) {
			if last != nil {
				return fmt.Errorf("timed out after %s waiting for %s: %w", timeout, what, last)
			}
			return fmt.Errorf("timed out after %s waiting for %s", timeout, what)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// exitedDaemon returns a recorded daemon that no longer runs. Daemons
// stopped on purpose (StopKubelet, StopAPIServer) have no pid file.
func exitedDaemon(l layout) (string, bool) {
	for _, name := range recordedDaemons(l) {
		if pid, ok := daemonPID(l, name); ok && !running(pid) {
			return name, true
		}
	}
	return "", false
}

func apiServing(cs kubernetes.Interface) func(context.Context) (bool, error) {
	return func(ctx context.Context) (bool, error) {
		_, err := cs.Discovery().RESTClient().Get().AbsPath("/version").DoRaw(ctx)
		return err == nil, err
	}
}

// apiReady is /readyz. It stays red until the rbac/bootstrap-roles
// post-start hook finishes, ~1.5 s after /version answers; kubelets and the
// controller manager do not need that and start earlier.
func apiReady(cs kubernetes.Interface) func(context.Context) (bool, error) {
	return func(ctx context.Context) (bool, error) {
		_, err := cs.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		return err == nil, err
	}
}

// nodesReady: every node of the cluster is registered and Ready.
func nodesReady(cs kubernetes.Interface, names []string) func(context.Context) (bool, error) {
	return func(ctx context.Context) (bool, error) {
		list, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		ready := map[string]bool{}
		for _, n := range list.Items {
			ready[n.Name] = isReady(&n)
		}
		for _, name := range names {
			if !ready[name] {
				return false, fmt.Errorf("node %s not Ready yet", name)
			}
		}
		return true, nil
	}
}

func isReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// nodeHeartbeatSince: the node is Ready and its kubelet reported after
// since, i.e. a restarted kubelet has re-registered.
func nodeHeartbeatSince(cs kubernetes.Interface, name string, since time.Time) func(context.Context) (bool, error) {
	since = since.Truncate(time.Second) // heartbeats have second precision
	return func(ctx context.Context) (bool, error) {
		n, err := cs.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady {
				ok := c.Status == corev1.ConditionTrue && !c.LastHeartbeatTime.Time.Before(since)
				return ok, nil
			}
		}
		return false, nil
	}
}

// defaultServiceAccount: pods are rejected until the namespace's default
// ServiceAccount exists (the controller manager creates it).
func defaultServiceAccount(cs kubernetes.Interface) func(context.Context) (bool, error) {
	return func(ctx context.Context) (bool, error) {
		_, err := cs.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		return err == nil, err
	}
}

// kubeletHealthy is kubelet's own /healthz on its node address.
func kubeletHealthy(k int) func(context.Context) (bool, error) {
	url := fmt.Sprintf("http://%s:%d/healthz", nodeName(k), kubeletHealth)
	return func(ctx context.Context) (bool, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false, err
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	}
}
