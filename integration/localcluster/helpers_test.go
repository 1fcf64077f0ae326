package localcluster

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
)

// requireRealCluster: the tests below start real clusters. They are part of
// `make test` and must not pass silently where they cannot run, so only
// -short skips them; anywhere else, not being root is a failure.
func requireRealCluster(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a real cluster; skipped with -short")
	}
	if err := checkRootLinux(); err != nil {
		t.Fatalf("cannot run: %v", err)
	}
}

// clusterDir is a directory for Up that does not exist yet, so Down must
// remove it.
func clusterDir(t *testing.T) string {
	return filepath.Join(t.TempDir(), "cluster")
}

// testWriter sends progress lines to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// up starts a cluster and registers a Down (and a log dump on failure) as
// cleanup.
func up(t *testing.T, nodes int) (*Cluster, time.Duration) {
	t.Helper()
	start := time.Now()
	c, err := Up(context.Background(), Options{Nodes: nodes, Dir: clusterDir(t), Log: testWriter{t}})
	if err != nil {
		t.Fatalf("Up: %v", err)
	}
	took := time.Since(start)
	t.Cleanup(func() {
		if t.Failed() {
			var b bytes.Buffer
			c.DumpLogs(&b, 20)
			t.Log(b.String())
		}
		if err := c.Down(context.Background()); err != nil {
			t.Errorf("Down: %v", err)
		}
	})
	return c, took
}

// savedState is the machine as Up found it, once it held the machine lock
// and no other cluster ran: the reference Down must restore. Taking it from
// the cluster rather than before Up keeps the tests right on a machine where
// another test package's cluster may run at the same time.
type savedState struct {
	sysctls   []string
	hostPaths []string
}

func readSaved(t *testing.T, state string) savedState {
	t.Helper()
	lines := func(name string) []string {
		data, err := os.ReadFile(filepath.Join(state, "saved", name))
		if err != nil {
			t.Fatalf("reading what Up saved: %v", err)
		}
		var out []string
		for _, l := range strings.Split(string(data), "\n") {
			if l != "" {
				out = append(out, l)
			}
		}
		return out
	}
	return savedState{sysctls: lines("sysctl"), hostPaths: lines("host-paths")}
}

// lockMachine takes the lock Up and Down take, so that checks of the
// machine's state are not disturbed by another process's cluster.
func lockForChecks(t *testing.T) func() {
	t.Helper()
	lock, err := lockMachine(context.Background(), testWriter{t})
	if err != nil {
		t.Fatal(err)
	}
	return lock.unlock
}

// downAndCheck tears c down and checks the machine is as Up found it.
func downAndCheck(t *testing.T, c *Cluster) time.Duration {
	t.Helper()
	saved := readSaved(t, c.StateDir())
	unlock := lockForChecks(t)
	defer unlock()
	start := time.Now()
	if err := teardown(context.Background(), c.l, &c.spec, testWriter{t}); err != nil {
		t.Errorf("Down: %v", err)
	}
	took := time.Since(start)
	checkTornDown(t, c.StateDir(), c.Dir(), saved)
	return took
}

// checkTornDown asserts that nothing of the cluster is left and that the
// machine is as saved. The caller holds the machine lock.
func checkTornDown(t *testing.T, state, dir string, saved savedState) {
	t.Helper()
	for _, pid := range ourPIDs(state) {
		t.Errorf("process left: %d %s", pid, procCmdline(pid))
	}
	for _, d := range []string{state, dir} {
		if m, _ := mountsUnder(d); len(m) > 0 {
			t.Errorf("mounts left under %s: %v", d, m)
		}
		if _, err := os.Lstat(d); err == nil {
			t.Errorf("%s still exists", d)
		}
	}
	if others := stateDirs(); len(others) > 0 {
		t.Errorf("runtime directories left: %v", others)
	}
	if sys, err := readSysctls(); err != nil || !slices.Equal(sys, saved.sysctls) {
		t.Errorf("sysctls not restored: %v %v, want %v", sys, err, saved.sysctls)
	}
	if now := listHostPaths(); !slices.Equal(now, saved.hostPaths) {
		t.Errorf("host paths changed:\nbefore %v\nafter  %v", saved.hostPaths, now)
	}
	if bridgeExists() {
		t.Errorf("bridge %s left", podBridge)
	}
	if cgroupExists() {
		t.Errorf("cgroup /%s left", cgroupName)
	}
}

// privilegedPod is what kubectl node-shell creates, in its simplest form:
// host namespaces, privileged, the host's / at /host, pinned to a node,
// tolerating every taint.
func privilegedPod(name, node, image string) *corev1.Pod {
	yes := true
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{
			NodeName:    node,
			HostPID:     true,
			HostNetwork: true,
			Tolerations: []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
			Containers: []corev1.Container{{
				Name: "main", Image: image, Command: []string{"sleep", "2147483647"},
				SecurityContext: &corev1.SecurityContext{Privileged: &yes},
				VolumeMounts:    []corev1.VolumeMount{{Name: "host", MountPath: "/host"}},
			}},
			Volumes: []corev1.Volume{{Name: "host", VolumeSource: corev1.VolumeSource{
				HostPath: &corev1.HostPathVolumeSource{Path: "/"},
			}}},
		},
	}
}

// createPod creates pod in default and waits until cond holds.
func createPod(ctx context.Context, t *testing.T, cs kubernetes.Interface, pod *corev1.Pod, what string, cond func(*corev1.Pod) bool) *corev1.Pod {
	t.Helper()
	if _, err := cs.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating pod %s: %v", pod.Name, err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		p, err := cs.CoreV1().Pods("default").Get(ctx, pod.Name, metav1.GetOptions{})
		if err == nil && cond(p) {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("pod %s not %s after 60 s: %v %+v", pod.Name, what, err, p.Status)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// execPod runs cmd in the pod's first container through the apiserver and
// the kubelet, as kubectl exec does, and returns stdout.
func execPod(ctx context.Context, cfg *rest.Config, cs kubernetes.Interface, pod string, cmd ...string) (string, error) {
	req := cs.CoreV1().RESTClient().Post().Resource("pods").Namespace("default").Name(pod).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{Command: cmd, Stdout: true, Stderr: true}, scheme.ParameterCodec)
	ex, err := remotecommand.NewSPDYExecutor(cfg, "POST", req.URL())
	if err != nil {
		return "", err
	}
	var stdout, stderr bytes.Buffer
	err = ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: &stdout, Stderr: &stderr})
	if err != nil {
		return stdout.String(), fmt.Errorf("exec %v in %s: %w (stderr %q)", cmd, pod, err, stderr.String())
	}
	return stdout.String(), nil
}
