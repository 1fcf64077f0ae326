package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-node-shell/kubectl-node-shell/integration/localcluster"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/podspec"
)

// pluginBinaryEnv names a prebuilt binary to test instead of building one.
const pluginBinaryEnv = "KNS_PLUGIN_BINARY"

var (
	buildOnce   sync.Once
	builtBinary string
	buildErr    error
)

// pluginBinary builds cmd/kubectl-node_shell once per test process.
func pluginBinary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv(pluginBinaryEnv); p != "" {
		return p
	}
	buildOnce.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..")
		dir, err := os.MkdirTemp("", "kns-e2e-bin-")
		if err != nil {
			buildErr = err
			return
		}
		builtBinary = filepath.Join(dir, "kubectl-node_shell")
		cmd := exec.Command("go", "build", "-o", builtBinary, "./cmd/kubectl-node_shell")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatalf("building the plugin: %v", buildErr)
	}
	return builtBinary
}

// E2E is one test's view of the cluster: a private namespace, a private HOME, and the
// assertion, at the end, that no node-shell pod is left anywhere.
type E2E struct {
	t          *testing.T
	cluster    *localcluster.Cluster
	client     kubernetes.Interface
	namespace  string
	kubeconfig string
	home       string
}

// newE2E prepares a test: namespace "e2e-<test>" (privileged, since the plugin's pods are),
// cleanup that checks nothing is left behind, and the namespace kept with its pods listed
// on failure.
func newE2E(t *testing.T) *E2E {
	t.Helper()
	c := localcluster.Require(t)
	client, err := c.Clientset()
	if err != nil {
		t.Fatalf("clientset: %v", err)
	}
	e := &E2E{t: t, cluster: c, client: client, kubeconfig: c.Kubeconfig(), home: t.TempDir()}
	e.namespace = namespaceName(t.Name())
	ctx := context.Background()
	_, err = client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name:   e.namespace,
		Labels: map[string]string{"kubectl-node-shell.io/e2e": "true"},
	}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("create namespace: %v", err)
	}
	// Tests that create pods of their own need the default ServiceAccount, which the
	// controller manager adds a moment after the namespace.
	if err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := client.CoreV1().ServiceAccounts(e.namespace).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	}); err != nil {
		t.Fatalf("namespace %s has no default ServiceAccount after 30s: %v", e.namespace, err)
	}
	t.Cleanup(func() {
		e.AssertNoNodeShellPods()
		if !t.Failed() {
			_ = client.CoreV1().Namespaces().Delete(context.Background(), e.namespace, metav1.DeleteOptions{})
		}
	})
	return e
}

func namespaceName(testName string) string {
	name := strings.ToLower(testName)
	var b strings.Builder
	for _, r := range name {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteRune('-')
		}
	}
	s := strings.Trim(b.String(), "-")
	if len(s) > 50 {
		s = strings.Trim(s[:50], "-")
	}
	return "e2e-" + s
}

// Nodes are the cluster's node names.
func (e *E2E) Nodes() []string { return e.cluster.NodeNames() }

// AssertNoNodeShellPods fails the test if any pod with our label exists, in any namespace.
func (e *E2E) AssertNoNodeShellPods() {
	e.t.Helper()
	pods, err := e.client.CoreV1().Pods("").List(context.Background(), metav1.ListOptions{LabelSelector: podspec.ManagedBySelector})
	if err != nil {
		e.t.Errorf("list node-shell pods: %v", err)
		return
	}
	for _, p := range pods.Items {
		e.t.Errorf("node-shell pod left behind: %s/%s on %s (phase %s)", p.Namespace, p.Name, p.Spec.NodeName, p.Status.Phase)
	}
}

// NodeShell starts building a plugin invocation: `kubectl-node_shell -n <ns> ARGS...`.
func (e *E2E) NodeShell(args ...string) *Invocation {
	e.t.Helper()
	return &Invocation{
		e:    e,
		args: append([]string{"-n", e.namespace}, args...),
		env: []string{
			"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
			"HOME=" + e.home,
			"KUBECONFIG=" + e.kubeconfig,
		},
		timeout: 2 * time.Minute,
	}
}

// Invocation is one run of the plugin binary, configured fluently.
type Invocation struct {
	e       *E2E
	args    []string
	env     []string
	stdin   io.Reader
	timeout time.Duration
}

// WithStdin feeds r to the plugin's stdin (default: empty, like </dev/null).
func (i *Invocation) WithStdin(r io.Reader) *Invocation { i.stdin = r; return i }

// WithEnv adds KEY=VALUE to the plugin's environment.
func (i *Invocation) WithEnv(kv string) *Invocation { i.env = append(i.env, kv); return i }

// WithKubeconfig runs the plugin as another user.
func (i *Invocation) WithKubeconfig(path string) *Invocation {
	i.env = append(i.env, "KUBECONFIG="+path)
	return i
}

// WithTimeout bounds the run (default 2 minutes); the process is killed after it.
func (i *Invocation) WithTimeout(d time.Duration) *Invocation { i.timeout = d; return i }

// Result is what a run produced.
type Result struct {
	Stdout, Stderr []byte
	Status         int
	Elapsed        time.Duration
	Sessions       []SessionPod // node-shell pods created during the run (nodes_test.go)
}

// Command returns the exec.Cmd for the invocation, for tests that drive the process
// themselves (signals, PTYs).
func (i *Invocation) Command() *exec.Cmd {
	cmd := exec.Command(pluginBinary(i.e.t), i.args...)
	cmd.Env = i.env
	cmd.Stdin = i.stdin
	return cmd
}

// Run runs the plugin to completion and returns what it did.
func (i *Invocation) Run() Result {
	i.e.t.Helper()
	return i.e.runCommand(i.Command(), i.timeout)
}

// runCommand runs cmd to completion, killed after timeout, and returns what it did. A
// process killed by a signal (the timeout) fails the test: it never finished its work.
func (e *E2E) runCommand(cmd *exec.Cmd, timeout time.Duration) Result {
	e.t.Helper()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	sessions := e.WatchSessionPods()
	defer sessions.Stop()
	start := time.Now()
	if err := cmd.Start(); err != nil {
		e.t.Fatalf("start %s: %v", cmd.Path, err)
	}
	timer := time.AfterFunc(timeout, func() { _ = cmd.Process.Kill() })
	err := cmd.Wait()
	timer.Stop()
	r := Result{Stdout: stdout.Bytes(), Stderr: stderr.Bytes(), Elapsed: time.Since(start)}
	var exitErr *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr):
		r.Status = exitErr.ExitCode()
		if ws, ok := exitErr.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			e.t.Fatalf("%s killed by %v after %v (timeout %v); stderr:\n%s", filepath.Base(cmd.Path), ws.Signal(), r.Elapsed, timeout, r.Stderr)
		}
	default:
		e.t.Fatalf("run %s: %v", cmd.Path, err)
	}
	e.t.Logf("%s %s → status %d in %v", filepath.Base(cmd.Path), strings.Join(cmd.Args[1:], " "), r.Status, r.Elapsed.Round(time.Millisecond))
	r.Sessions = sessions.Created(e.t)
	return r
}

// RunOK runs the plugin and fails the test unless it exits 0.
func (i *Invocation) RunOK() Result {
	i.e.t.Helper()
	r := i.Run()
	if r.Status != 0 {
		i.e.t.Fatalf("status %d, want 0; stderr:\n%s", r.Status, r.Stderr)
	}
	return r
}
