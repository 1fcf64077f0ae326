package e2e

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"

	"github.com/kubectl-node-shell/kubectl-node-shell/integration/localcluster"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/podspec"
)

// listenerImage holds one static binary and nothing else: no shell, no tools.
const (
	listenerImage = "docker.io/library/node-shell-listener:1"
	listenerPort  = "8765"
)

// listenerSource listens on the pod's own IP only, so the address shows which network
// namespace a socket list comes from.
const listenerSource = `package main

import (
	"net"
	"os"
)

func main() {
	l, err := net.Listen("tcp", net.JoinHostPort(os.Getenv("POD_IP"), "` + listenerPort + `"))
	if err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		os.Exit(1)
	}
	for {
		c, err := l.Accept()
		if err == nil {
			c.Close()
		}
	}
}
`

// pushListenerImage builds the listener with CGO off (static) and pushes it as the only file
// of an empty image.
func pushListenerImage(t *testing.T, c *localcluster.Cluster) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(listenerSource), 0o644); err != nil {
		t.Fatal(err)
	}
	build := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", "listener", "main.go")
	build.Dir, build.Env = dir, append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=", "GO111MODULE=off")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build the listener: %v\n%s", err, out)
	}
	bin, err := os.ReadFile(filepath.Join(dir, "listener"))
	if err != nil {
		t.Fatal(err)
	}
	base := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err := localcluster.NewImage(base, localcluster.ImageSpec{Files: map[string][]byte{"/listener": bin}, Entrypoint: []string{"/listener"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.PushImage(context.Background(), listenerImage, img); err != nil {
		t.Fatalf("push %s: %v", listenerImage, err)
	}
}

// startTargetPod creates pod on node and waits until it runs (or, with running false, only
// until the apiserver has it), returning it as last read.
func (e *E2E) startTargetPod(pod *corev1.Pod, node string, running bool) *corev1.Pod {
	e.t.Helper()
	pod.Spec.NodeName = node
	pod.Spec.TerminationGracePeriodSeconds = ptr.To[int64](0)
	created := e.createPod(pod)
	if !running {
		return created
	}
	var last *corev1.Pod
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		p, err := e.client.CoreV1().Pods(e.namespace).Get(ctx, created.Name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		last = p
		return p.Status.Phase == corev1.PodRunning && p.Status.PodIP != "", nil
	})
	if err != nil {
		e.t.Fatalf("pod %s not running on %s after a minute: %+v", created.Name, node, last.Status)
	}
	return last
}

func listenerPod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "listener"},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Containers: []corev1.Container{{
				Name: "app", Image: listenerImage, ImagePullPolicy: corev1.PullIfNotPresent,
				Env: []corev1.EnvVar{{Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}}},
			}},
		},
	}
}

// TestPodTarget: a pod with no shell, on the cluster's third node, entered from its node.
// The socket list in its network namespace has its port on its own IP, the node's own does
// not; that holds with the node's ss (chroot, the default) and the image's netstat
// (--mode container); the session pod is bound to the pod's node; list -o wide names the
// target; --target-namespaces net,pid joins both namespaces of the container's process.
func TestPodTarget(t *testing.T) {
	e := newE2E(t)
	pushListenerImage(t, e.cluster)
	node := e.Nodes()[2]
	pod := e.startTargetPod(listenerPod(), node, true)
	socket := pod.Status.PodIP + ":" + listenerPort
	if !strings.HasPrefix(pod.Status.PodIP, "198.18.") {
		t.Fatalf("pod IP %s is not on the cluster's pod network 198.18.0.0/15", pod.Status.PodIP)
	}
	host, err := exec.Command("ss", "-ltn").Output()
	if err != nil {
		t.Fatalf("ss -ltn on the host: %v", err)
	}
	if strings.Contains(string(host), socket) {
		t.Fatalf("the host's own network namespace lists %s: the test could not tell the namespaces apart\n%s", socket, host)
	}
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"node's ss", []string{"pod/" + pod.Name, "--", "ss", "-ltn"}},
		{"image's netstat", []string{"--mode", "container", "pods/" + pod.Name, "-c", "app", "--", "netstat", "-ltn"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := e.For(t)
			r := e.NodeShell(tc.args...).RunOK()
			if !strings.Contains(string(r.Stdout), socket) {
				t.Errorf("the socket list has no %s:\n%s", socket, r.Stdout)
			}
			for _, l := range strings.Split(string(r.Stdout), "\n") {
				if strings.Contains(l, socket) {
					t.Logf("in the pod's network namespace: %s", strings.Join(strings.Fields(l), " "))
				}
			}
			r.AssertOnNode(t, node)
		})
	}
	t.Run("net and pid namespaces", func(t *testing.T) {
		e := e.For(t)
		script := `for ns in net pid; do [ "$(readlink /proc/self/ns/$ns)" = "$(readlink /proc/$NODE_SHELL_TARGET_PID/ns/$ns)" ] && echo "$ns joined"; done`
		r := e.NodeShell("pod/"+pod.Name, "--target-namespaces", "net,pid", "--", "sh", "-c", script).RunOK()
		out := string(r.Stdout)
		if !strings.Contains(out, "net joined") || !strings.Contains(out, "pid joined") {
			t.Errorf("the command is not in the container's net and pid namespaces:\n%s", out)
		}
		r.AssertOnNode(t, node)
	})
	t.Run("list -o wide names the target", func(t *testing.T) {
		e := e.For(t)
		stdin, hold := io.Pipe()
		done := make(chan Result, 1)
		cmd := e.NodeShell("-i", "pod/"+pod.Name, "--", "cat").WithStdin(stdin).Command()
		go func() { done <- e.runStarted(cmd) }()
		session := e.waitTargetSession(pod)
		list := e.NodeShell("list", "-o", "wide")
		list.args = []string{"list", "-n", session.Namespace, "-o", "wide"}
		out := string(list.RunOK().Stdout)
		row := ""
		for _, l := range strings.Split(out, "\n") {
			if strings.Contains(l, session.Name) {
				row = l
			}
		}
		if want := e.namespace + "/" + pod.Name + "/app"; !strings.Contains(row, want) || !strings.Contains(row, "chroot") {
			t.Errorf("list -o wide row of %s = %q, want mode chroot and target %s\n%s", session.Name, row, want, out)
		}
		hold.Close()
		if r := <-done; r.Status != 0 {
			t.Errorf("the held session ended with status %d: %s", r.Status, r.Stderr)
		}
	})
}

// waitTargetSession waits for the running session pod, in any namespace, whose target
// annotation names pod.
func (e *E2E) waitTargetSession(pod *corev1.Pod) *corev1.Pod {
	e.t.Helper()
	want := pod.Namespace + "/" + pod.Name + "/"
	var found *corev1.Pod
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		pods, err := e.client.CoreV1().Pods("").List(ctx, metav1.ListOptions{LabelSelector: podspec.ManagedBySelector})
		if err != nil {
			return false, nil
		}
		for i := range pods.Items {
			p := &pods.Items[i]
			if strings.HasPrefix(p.Annotations[podspec.AnnotationTargetPod], want) && p.Status.Phase == corev1.PodRunning {
				found = p
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		e.t.Fatalf("no running session pod targets %s after a minute", want)
	}
	return found
}

// TestPodTargetRefusals: a pod on its node's network and a pod that does not run are each
// refused in one line, exit 255, before any session pod exists; so are a container the pod
// does not have and a pod that does not exist.
func TestPodTargetRefusals(t *testing.T) {
	e := newE2E(t)
	node := e.Nodes()[1]
	hostNet := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "on-host-network"},
		Spec: corev1.PodSpec{HostNetwork: true, RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{
			Name: "sleep", Image: podspec.DefaultImage, Command: []string{"sleep", "3600"}}}},
	}
	e.startTargetPod(hostNet, node, true)
	// Bound to the node but refused by its kubelet's admission (the selector matches no
	// node): it never runs.
	pending := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "never-runs"},
		Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, NodeSelector: map[string]string{"e2e/nowhere": "true"},
			Containers: []corev1.Container{{Name: "sleep", Image: podspec.DefaultImage, Command: []string{"sleep", "3600"}}}},
	}
	e.startTargetPod(pending, node, false)
	sleeper := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "sleeper"},
		Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{
			Name: "sleep", Image: podspec.DefaultImage, Command: []string{"sleep", "3600"}}}},
	}
	e.startTargetPod(sleeper, node, true)
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"hostNetwork", []string{"pod/on-host-network", "--", "true"},
			[]string{"pod " + e.namespace + "/on-host-network uses its node's network (hostNetwork)", "kubectl node-shell " + node}},
		{"not running", []string{"pod/never-runs", "--", "true"},
			[]string{"pod " + e.namespace + "/never-runs is ", "not Running", "kubectl describe pod -n " + e.namespace + " never-runs"}},
		{"no such container", []string{"pod/sleeper", "-c", "nope", "--", "true"},
			[]string{"pod " + e.namespace + "/sleeper has no running container nope", "-c: sleep"}},
		{"no such pod", []string{"pod/absent", "--", "true"},
			[]string{fmt.Sprintf("pod %s/absent not found", e.namespace)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := e.For(t)
			r := e.NodeShell(tc.args...).Run()
			e.assertFailed(r, 5*time.Second, tc.want...)
			t.Logf("stderr: %s", r.Stderr)
			if n := strings.Count(strings.TrimSuffix(string(r.Stderr), "\n"), "\n"); n > 1 {
				t.Errorf("stderr has %d lines, want the error and at most the shared-namespace notice:\n%s", n+1, r.Stderr)
			}
			r.AssertNoSession(t)
		})
	}
}
