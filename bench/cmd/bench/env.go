package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-node-shell/kubectl-node-shell/bench/nodepod"
	"github.com/kubectl-node-shell/kubectl-node-shell/integration/localcluster"
)

// harnessUserAgent marks the benchmark's own requests (setup, settling), which the request
// counts leave out.
const harnessUserAgent = "kns-bench-harness"

// adminUser is the user of the cluster's admin kubeconfig, which every tool uses.
const adminUser = "localcluster-admin"

// benchNamespace holds every pod the tools create.
const benchNamespace = "bench"

// env is the cluster and the tools under test.
type env struct {
	cluster *localcluster.Cluster
	client  kubernetes.Interface // the harness's, with harnessUserAgent
	node    string
	kubectl string
	plugin  string
	floor   string
	script  string
	// home is the tools' HOME: kubectl's discovery and HTTP caches live there and are warm
	// after the warm-up round, as they are for a user.
	home string
	// hostname is what `cat /etc/hostname` prints on the node (this machine).
	hostname string
}

// procEnv is the environment of every tool process, built from scratch.
func (e *env) procEnv(extra ...string) []string {
	path := strings.Join([]string{filepath.Dir(e.plugin), "/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"}, ":")
	return append([]string{"PATH=" + path, "HOME=" + e.home, "KUBECONFIG=" + e.cluster.Kubeconfig(), "LANG=C"}, extra...)
}

func (e *env) setup(ctx context.Context) error {
	cfg, err := e.cluster.RESTConfig()
	if err != nil {
		return err
	}
	cfg.UserAgent = harnessUserAgent
	if e.client, err = kubernetes.NewForConfig(cfg); err != nil {
		return err
	}
	_, err = e.client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: benchNamespace}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create namespace %s: %w", benchNamespace, err)
	}
	// The namespace's default ServiceAccount is created asynchronously; pods wait for it.
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := e.client.CoreV1().ServiceAccounts(benchNamespace).Get(ctx, "default", metav1.GetOptions{})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("namespace %s has no default ServiceAccount: %w", benchNamespace, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	data, err := os.ReadFile("/etc/hostname")
	if err != nil {
		return err
	}
	e.hostname = string(data)
	return nil
}

// settle waits until the previous run has left nothing behind: no pod in the namespace but
// keep, and no pod cgroup on the node but keep's (a pod deleted with grace 0 is gone from
// the API at once; the kubelet tears its containers down afterwards). So no run pays for
// the teardown of the one before it.
func (e *env) settle(ctx context.Context, keep ...types.UID) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		left, err := e.leftovers(ctx, keep)
		if err != nil {
			return err
		}
		if left == "" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("still there after 60 s: %s", left)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// cleanUp deletes whatever pod a failed run left in the namespace, but keep.
func (e *env) cleanUp(ctx context.Context, keep ...types.UID) error {
	pods, err := e.client.CoreV1().Pods(benchNamespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	for _, p := range pods.Items {
		if !slices.Contains(keep, p.UID) {
			e.deletePod(&p)
		}
	}
	return nil
}

func (e *env) leftovers(ctx context.Context, keep []types.UID) (string, error) {
	kept := map[string]bool{}
	for _, uid := range keep {
		kept[string(uid)] = true
	}
	pods, err := e.client.CoreV1().Pods(benchNamespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return "", err
	}
	for _, p := range pods.Items {
		if !kept[string(p.UID)] {
			return "pod " + p.Name, nil
		}
	}
	for _, uid := range podCgroups(e.node) {
		if !kept[uid] {
			return "the cgroup of pod " + uid, nil
		}
	}
	return "", nil
}

// podCgroups lists the UIDs of the pods that have a cgroup on node (cgroupfs driver, v1
// pids hierarchy: /localcluster/nodeK/kubepods[/QOS]/pod<UID>).
func podCgroups(node string) []string {
	k := node[strings.LastIndex(node, ".")+1:]
	base := filepath.Join("/sys/fs/cgroup/pids/localcluster", "node"+k, "kubepods")
	var uids []string
	for _, dir := range []string{base, filepath.Join(base, "burstable"), filepath.Join(base, "besteffort")} {
		entries, _ := os.ReadDir(dir)
		for _, en := range entries {
			if en.IsDir() && strings.HasPrefix(en.Name(), "pod") {
				uids = append(uids, strings.TrimPrefix(en.Name(), "pod"))
			}
		}
	}
	return uids
}

// startExecTarget creates the pod `kubectl exec` streams through, and waits until it runs.
func (e *env) startExecTarget(ctx context.Context) (*corev1.Pod, error) {
	pods := e.client.CoreV1().Pods(benchNamespace)
	pod, err := pods.Create(ctx, nodepod.New(e.node, benchNamespace, "exec-target-", "exec-target"), metav1.CreateOptions{})
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(60 * time.Second)
	for !nodepod.Running(pod) {
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("pod %s not running after 60 s (phase %s)", pod.Name, pod.Status.Phase)
		}
		time.Sleep(100 * time.Millisecond)
		if pod, err = pods.Get(ctx, pod.Name, metav1.GetOptions{}); err != nil {
			return nil, err
		}
	}
	return pod, nil
}

func (e *env) deletePod(pod *corev1.Pod) {
	zero := int64(0)
	_ = e.client.CoreV1().Pods(pod.Namespace).Delete(context.Background(), pod.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero})
}
