package localcluster

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// TestUpDown: a 3-node cluster in which every node runs a node-shell-like
// privileged pod that reaches the host; RBAC with a minted user; a locally
// pushed image and a missing one; then Down leaves nothing behind.
func TestUpDown(t *testing.T) {
	requireRealCluster(t)
	c, took := up(t, 3)
	saved := readSaved(t, c.StateDir())
	t.Logf("up, 3 nodes: %s", took.Round(time.Millisecond))
	ctx := context.Background()
	cfg, err := c.RESTConfig()
	if err != nil {
		t.Fatal(err)
	}
	cs, err := c.Clientset()
	if err != nil {
		t.Fatal(err)
	}

	if got, _ := readSysctls(); !slices.Equal(got, saved.sysctls) {
		t.Errorf("sysctls changed while the cluster runs: %v, want %v", got, saved.sysctls)
	}
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes.Items) != 3 {
		t.Fatalf("%d nodes, want 3", len(nodes.Items))
	}
	for _, n := range nodes.Items {
		if !isReady(&n) {
			t.Errorf("node %s not Ready", n.Name)
		}
	}

	osRelease, err := os.ReadFile("/etc/os-release")
	if err != nil {
		t.Fatal(err)
	}
	for i, node := range c.NodeNames() {
		name := "shell-" + strings.ReplaceAll(node, ".", "-")
		image := BusyboxImage
		if i == 2 {
			image = BusyboxLatestImage // pulled every time
		}
		start := time.Now()
		createPod(ctx, t, cs, privilegedPod(name, node, image), "Ready", podReady)
		t.Logf("pod on %s Ready in %s", node, time.Since(start).Round(time.Millisecond))
		if _, err := execPod(ctx, cfg, cs, name, "chroot", "/host", "true"); err != nil {
			t.Errorf("node %s: %v", node, err)
		}
		out, err := execPod(ctx, cfg, cs, name, "chroot", "/host", "cat", "/etc/os-release")
		if err != nil || out != string(osRelease) {
			t.Errorf("node %s: host /etc/os-release through the pod: %q, %v", node, out, err)
		}
	}

	t.Run("MintKubeconfig", func(t *testing.T) {
		path, err := c.MintKubeconfig("alice", "dev")
		if err != nil {
			t.Fatal(err)
		}
		acfg, err := clientcmd.BuildConfigFromFlags("", path)
		if err != nil {
			t.Fatal(err)
		}
		alice := kubernetes.NewForConfigOrDie(acfg)
		if _, err := alice.CoreV1().Pods("default").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
			t.Fatalf("alice without RBAC: %v, want Forbidden", err)
		}
		rb := &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "dev-view"},
			RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "view"},
			Subjects:   []rbacv1.Subject{{Kind: "Group", APIGroup: "rbac.authorization.k8s.io", Name: "dev"}},
		}
		if _, err := cs.RbacV1().RoleBindings("default").Create(ctx, rb, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			_, err := alice.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("alice in group dev with view: %v", err)
			}
			time.Sleep(100 * time.Millisecond)
		}
		audit, err := os.ReadFile(c.AuditLogPath())
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(audit), `"username":"alice","groups":["dev"`) {
			t.Error("the audit log has no request of alice")
		}
	})

	t.Run("PodSecurityAdmission", func(t *testing.T) {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "restricted",
			Labels: map[string]string{"pod-security.kubernetes.io/enforce": "restricted"}}}
		if _, err := cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		_, err := cs.CoreV1().Pods("restricted").Create(ctx, privilegedPod("shell", c.NodeNames()[0], BusyboxImage), metav1.CreateOptions{})
		if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "violates PodSecurity") {
			t.Errorf("privileged pod in a restricted namespace: %v, want Forbidden by PodSecurity", err)
		}
	})

	t.Run("PushImage", func(t *testing.T) {
		const ref = "docker.io/library/localcluster-test:1"
		err := c.PushBusyboxImage(ctx, ref, ImageSpec{
			Files:      map[string][]byte{"/usr/local/bin/hello": []byte("#!/bin/sh\necho hello from the pushed image\nexec sleep 2147483647\n")},
			Entrypoint: []string{"/usr/local/bin/hello"},
		})
		if err != nil {
			t.Fatal(err)
		}
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "pushed"},
			Spec:       corev1.PodSpec{NodeName: c.NodeNames()[1], Containers: []corev1.Container{{Name: "main", Image: ref}}},
		}
		createPod(ctx, t, cs, pod, "Ready", podReady)
		out, err := execPod(ctx, cfg, cs, "pushed", "cat", "/usr/local/bin/hello")
		if err != nil || !strings.Contains(out, "hello from the pushed image") {
			t.Errorf("pushed image content: %q, %v", out, err)
		}

		missing := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "missing"},
			Spec:       corev1.PodSpec{NodeName: c.NodeNames()[0], Containers: []corev1.Container{{Name: "main", Image: AbsentImage}}},
		}
		createPod(ctx, t, cs, missing, "failing to pull", func(p *corev1.Pod) bool {
			for _, s := range p.Status.ContainerStatuses {
				if w := s.State.Waiting; w != nil && (w.Reason == "ErrImagePull" || w.Reason == "ImagePullBackOff") {
					return true
				}
			}
			return false
		})
	})

	t.Logf("down, 3 nodes with 5 pods: %s", downAndCheck(t, c).Round(time.Millisecond))
}

// TestUpDownCycles: five up/down cycles on one node, each running a
// privileged pod, leave the machine as it was; a warm up takes seconds.
func TestUpDownCycles(t *testing.T) {
	requireRealCluster(t)
	ctx := context.Background()
	for i := 1; i <= 5; i++ {
		start := time.Now()
		c, err := Up(ctx, Options{Nodes: 1, Dir: clusterDir(t), Log: testWriter{t}})
		if err != nil {
			t.Fatalf("cycle %d: Up: %v", i, err)
		}
		// Time spent waiting for another test process's cluster (on a
		// shared machine) is not the cluster's start time.
		took, ready := time.Since(start), time.Since(c.spec.Started)
		t.Logf("cycle %d: up in %s (Ready %s after the machine was free)", i, took.Round(time.Millisecond), ready.Round(time.Millisecond))
		if ready > 30*time.Second {
			t.Errorf("cycle %d: up took %s, want < 30 s with a warm cache", i, ready)
		}
		cfg, _ := c.RESTConfig()
		cs, _ := c.Clientset()
		createPod(ctx, t, cs, privilegedPod("shell", c.NodeNames()[0], BusyboxImage), "Ready", podReady)
		if _, err := execPod(ctx, cfg, cs, "shell", "chroot", "/host", "true"); err != nil {
			t.Errorf("cycle %d: %v", i, err)
		}
		t.Logf("cycle %d: down in %s", i, downAndCheck(t, c).Round(time.Millisecond))
		if t.Failed() {
			return
		}
	}
}

// TestFaults: the apiserver and a kubelet can be stopped and started again
// mid-test, with the same flags and certificates.
func TestFaults(t *testing.T) {
	requireRealCluster(t)
	c, _ := up(t, 2)
	ctx := context.Background()
	cs, err := c.Clientset()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.StopAPIServer(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{}); err == nil {
		t.Error("the API answers with the apiserver stopped")
	}
	if err := c.StopAPIServer(ctx); err == nil {
		t.Error("stopping a stopped apiserver is not an error")
	}
	start := time.Now()
	if err := c.StartAPIServer(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("apiserver restarted and ready in %s", time.Since(start).Round(time.Millisecond))
	if _, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{}); err != nil {
		t.Errorf("after the restart: %v", err)
	}

	node := c.NodeNames()[1]
	if err := c.StopKubelet(ctx, node); err != nil {
		t.Fatal(err)
	}
	if ok, _ := kubeletHealthy(2)(ctx); ok {
		t.Error("the kubelet answers after StopKubelet")
	}
	start = time.Now()
	if err := c.StartKubelet(ctx, node); err != nil {
		t.Fatal(err)
	}
	t.Logf("kubelet restarted and re-registered in %s", time.Since(start).Round(time.Millisecond))
	createPod(ctx, t, cs, privilegedPod("after-restart", node, BusyboxImage), "Ready", podReady)
	if err := c.StopKubelet(ctx, "127.0.0.3"); err == nil {
		t.Error("StopKubelet accepted a node the cluster does not have")
	}
}

// TestUpFailureTearsDown: an Up that fails half-way (here: its context is
// canceled once the apiserver has started) removes everything it started.
func TestUpFailureTearsDown(t *testing.T) {
	requireRealCluster(t)
	dir := clusterDir(t)
	state := newLayout(dir).state
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for ctx.Err() == nil && !fileExists(filepath.Join(state, "logs", apiServerName+".log")) {
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
	}()
	var log strings.Builder
	c, err := Up(ctx, Options{Nodes: 2, Dir: dir, Log: &log})
	t.Log(log.String())
	if err == nil {
		c.Down(context.Background())
		t.Fatal("Up succeeded with its context canceled")
	}
	if !strings.Contains(log.String(), "last log lines") || !strings.Contains(log.String(), "kube-apiserver.log") {
		t.Error("no log tails printed on failure")
	}
	unlock := lockForChecks(t)
	defer unlock()
	for _, pid := range ourPIDs(state) {
		t.Errorf("process left: %d %s", pid, procCmdline(pid))
	}
	for _, d := range []string{state, dir} {
		if _, err := os.Lstat(d); err == nil {
			t.Errorf("%s left", d)
		}
	}
	if m, _ := mountsUnder(state); len(m) > 0 {
		t.Errorf("mounts left: %v", m)
	}
	if len(stateDirs()) == 0 && (bridgeExists() || cgroupExists()) {
		t.Errorf("bridge (%v) or cgroup (%v) left", bridgeExists(), cgroupExists())
	}
}
