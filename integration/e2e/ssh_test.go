package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/kubectl-node-shell/kubectl-node-shell/integration/localcluster"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/sshkeys"
)

// SSH with keys on Node objects (docs/ssh.md), against a real OpenSSH server per node:
// Debian's sshd on the node's address, with node-shell-authorized-keys as its
// AuthorizedKeysCommand and the node's own kubelet kubeconfig.

var (
	akOnce   sync.Once
	akBinary string
	akErr    error
)

// authorizedKeysBinary builds cmd/node-shell-authorized-keys once per test process.
func authorizedKeysBinary(t testing.TB) string {
	t.Helper()
	akOnce.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		dir, err := os.MkdirTemp("", "kns-e2e-ak-")
		if err != nil {
			akErr = err
			return
		}
		akBinary = filepath.Join(dir, "node-shell-authorized-keys")
		cmd := exec.Command("go", "build", "-o", akBinary, "./cmd/node-shell-authorized-keys")
		cmd.Dir = filepath.Join(filepath.Dir(file), "..", "..")
		if out, err := cmd.CombinedOutput(); err != nil {
			akErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if akErr != nil {
		t.Fatalf("building node-shell-authorized-keys: %v", akErr)
	}
	return akBinary
}

// sshNode is a node whose sshd runs for the test.
type sshNode struct {
	e    *E2E
	name string
	sshd localcluster.SSHD
}

// startSSHD starts node's sshd; with installed, node-shell-authorized-keys is its
// AuthorizedKeysCommand and the Node is marked as `ssh setup` marks it. Cleanup stops
// sshd and takes every ssh.node-shell.io annotation, the cache and the decision log away.
func (e *E2E) startSSHD(node string, installed bool, maxStartups string) *sshNode {
	e.t.Helper()
	opts := localcluster.SSHDOptions{MaxStartups: maxStartups}
	if installed {
		opts.AuthorizedKeysCommand = authorizedKeysBinary(e.t)
	}
	pluginBinary(e.t)
	if err := e.cluster.StartSSHD(context.Background(), node, opts); err != nil {
		e.t.Fatalf("start sshd on %s: %v", node, err)
	}
	s, err := e.cluster.SSHD(node)
	if err != nil {
		e.t.Fatal(err)
	}
	n := &sshNode{e: e, name: node, sshd: s}
	e.t.Cleanup(func() {
		if err := e.cluster.StopSSHD(context.Background(), node); err != nil {
			e.t.Errorf("stop sshd on %s: %v", node, err)
		}
		n.clearAnnotations()
		_ = os.RemoveAll(s.CacheDir)
		_ = os.Remove(s.DecisionLog)
		_ = os.RemoveAll(s.DropInDir)
	})
	if installed {
		fields := strings.Fields(s.HostKeyLine)
		n.annotate(map[string]*string{
			sshkeys.EnabledAnnotation:     strPtr(time.Now().UTC().Format(time.RFC3339)),
			sshkeys.Domain + "/host-keys": strPtr(fields[0] + " " + fields[1]),
		})
	}
	return n
}

func strPtr(s string) *string { return &s }

func (n *sshNode) annotate(annotations map[string]*string) {
	n.e.t.Helper()
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": annotations}})
	if _, err := n.e.client.CoreV1().Nodes().Patch(context.Background(), n.name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		n.e.t.Fatalf("annotate node %s: %v", n.name, err)
	}
}

// annotations are the node's ssh.node-shell.io annotations.
func (n *sshNode) annotations() map[string]string {
	n.e.t.Helper()
	node, err := n.e.client.CoreV1().Nodes().Get(context.Background(), n.name, metav1.GetOptions{})
	if err != nil {
		n.e.t.Fatalf("get node %s: %v", n.name, err)
	}
	out := map[string]string{}
	for k, v := range node.Annotations {
		if strings.HasPrefix(k, sshkeys.Domain+"/") {
			out[k] = v
		}
	}
	return out
}

// keyIDs are the ids of the keys on the node, sorted.
func (n *sshNode) keyIDs() []string {
	var ids []string
	for k := range n.annotations() {
		if id, ok := strings.CutPrefix(k, sshkeys.KeyPrefix); ok {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

func (n *sshNode) clearAnnotations() {
	remove := map[string]*string{}
	for k := range n.annotations() {
		remove[k] = nil
	}
	if len(remove) > 0 {
		n.annotate(remove)
	}
}

// addKey puts a key on the node as an admin would, bypassing the plugin.
func (n *sshNode) addKey(id, user string, expires time.Time, publicKey string) {
	n.e.t.Helper()
	k, err := sshkeys.NewKey(id, user, &expires, publicKey, "e2e")
	if err != nil {
		n.e.t.Fatal(err)
	}
	v, err := k.Encode()
	if err != nil {
		n.e.t.Fatal(err)
	}
	n.annotate(map[string]*string{k.AnnotationName(): &v})
}

// decisions is what node-shell-authorized-keys logged on the node so far.
func (n *sshNode) decisions() string {
	data, _ := os.ReadFile(n.sshd.DecisionLog)
	return string(data)
}

// userKey is a key pair made by ssh-keygen, as a user's own.
type userKey struct{ private, public string }

func newUserKey(t *testing.T) userKey {
	t.Helper()
	dir := t.TempDir()
	priv := filepath.Join(dir, "id_ed25519")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "e2e", "-f", priv).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	pub, err := os.ReadFile(priv + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	return userKey{private: priv, public: strings.TrimSpace(string(pub))}
}

// sshArgs are the plain OpenSSH client options of a test: this key only, no agent, no
// config file, the test's own known_hosts.
func (n *sshNode) sshArgs(key userKey) []string {
	return []string{"-F", "/dev/null", "-i", key.private, "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none",
		"-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "-o", "StrictHostKeyChecking=accept-new",
		"-o", "UserKnownHostsFile=" + filepath.Join(n.e.home, "known_hosts")}
}

// ssh runs the system's ssh as root@node with key.
func (n *sshNode) ssh(key userKey, command ...string) Result {
	n.e.t.Helper()
	args := append(n.sshArgs(key), "root@"+n.name, "--")
	cmd := exec.Command("ssh", append(args, command...)...)
	cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=" + n.e.home}
	return runPlain(n.e.t, cmd, time.Minute)
}

// runPlain runs a program that is not the plugin: it needs no apiserver (runCommand
// watches for session pods), so it works while the apiserver is stopped.
func runPlain(t *testing.T, cmd *exec.Cmd, timeout time.Duration) Result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", cmd.Path, err)
	}
	timer := time.AfterFunc(timeout, func() { _ = cmd.Process.Kill() })
	err := cmd.Wait()
	timer.Stop()
	r := Result{Stdout: stdout.Bytes(), Stderr: stderr.Bytes(), Elapsed: time.Since(start)}
	var exitErr *exec.ExitError
	switch {
	case errors.As(err, &exitErr):
		r.Status = exitErr.ExitCode()
	case err != nil:
		t.Fatalf("run %s: %v", cmd.Path, err)
	}
	t.Logf("%s %s → status %d in %v", filepath.Base(cmd.Path), strings.Join(cmd.Args[1:], " "), r.Status, r.Elapsed.Round(time.Millisecond))
	return r
}

func hostname(t *testing.T) string {
	h, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestSSHSetupThenSSHLeavesNoKey: `ssh setup` installs the binary and the drop-in through
// a session and marks the Node; `ssh NODE -- hostname` then gets in through the real ssh
// client, checks the host key that setup published, and leaves no key on the Node;
// `ssh setup --undo` takes it all out again; the same again through the fleet (-l).
func TestSSHSetupThenSSHLeavesNoKey(t *testing.T) {
	e := newE2E(t)
	n := e.startSSHD(e.Nodes()[0], false, "")
	setup := []string{"ssh", "setup", n.name, "--binary", authorizedKeysBinary(t),
		"--install-path", n.sshd.Binary, "--drop-in-dir", n.sshd.DropInDir, "--sshd-config", n.sshd.Config,
		"--kubelet-kubeconfig", n.sshd.Kubeconfig, "--keys-cache-dir", n.sshd.CacheDir, "--log-file", n.sshd.DecisionLog,
		"--host-keys", filepath.Join(n.sshd.Dir, "ssh_host_*_key.pub"), "--reload-command", n.sshd.ReloadCommand}

	r := e.NodeShell("ssh", n.name, "--", "true").Run()
	if r.Status != 255 || !strings.Contains(string(r.Stderr), "has not opted in") || !strings.Contains(string(r.Stderr), "ssh setup "+n.name) {
		t.Fatalf("before setup: status %d, stderr %q; want the opt-in error", r.Status, r.Stderr)
	}
	if ids := n.keyIDs(); len(ids) != 0 {
		t.Fatalf("a refused ssh left keys %v", ids)
	}
	for range 2 { // idempotent
		e.NodeShell(setup...).RunOK()
	}
	a := n.annotations()
	if a[sshkeys.EnabledAnnotation] == "" || !strings.Contains(n.sshd.HostKeyLine, a[sshkeys.Domain+"/host-keys"]) {
		t.Fatalf("Node annotations after setup: %v; want enabled and the host key %s", a, n.sshd.HostKeyLine)
	}
	dropIns, _ := filepath.Glob(filepath.Join(n.sshd.DropInDir, "*"))
	if len(dropIns) != 1 {
		t.Fatalf("drop-in dir holds %v; want one file", dropIns)
	}
	waitSSHD(t, n.sshd.Addr)

	r = e.NodeShell("ssh", n.name, "--", "hostname").RunOK()
	if got := strings.TrimSpace(string(r.Stdout)); got != hostname(t) {
		t.Fatalf("ssh NODE -- hostname printed %q; want %q", got, hostname(t))
	}
	if ids := n.keyIDs(); len(ids) != 0 {
		t.Fatalf("keys left on the Node after ssh: %v", ids)
	}
	if d := n.decisions(); !strings.Contains(d, "node="+n.name+" source=apiserver keys=1") {
		t.Fatalf("decision log:\n%s", d)
	}
	// The remote command's status is node-shell's.
	if r := e.NodeShell("ssh", n.name, "--", "exit 7").Run(); r.Status != 7 {
		t.Fatalf("ssh -- exit 7: status %d; stderr %s", r.Status, r.Stderr)
	}

	e.NodeShell(append(setup, "--undo")...).RunOK()
	n.assertUndone()

	// The same through the fleet (-l): the local cluster's nodes share one machine, so the
	// paths fit one node, which the selector picks.
	n.label("e2e-ssh-setup", "yes")
	fleetSetup := append([]string{"ssh", "setup", "-l", "e2e-ssh-setup=yes"}, setup[3:]...)
	e.NodeShell(fleetSetup...).RunOK()
	if a := n.annotations(); a[sshkeys.EnabledAnnotation] == "" {
		t.Fatalf("Node annotations after the fleet's setup: %v", a)
	}
	waitSSHD(t, n.sshd.Addr)
	if r := e.NodeShell("ssh", n.name, "--", "hostname").RunOK(); strings.TrimSpace(string(r.Stdout)) != hostname(t) {
		t.Fatalf("ssh after the fleet's setup printed %q", r.Stdout)
	}
	e.NodeShell(append(fleetSetup, "--undo")...).RunOK()
	n.assertUndone()
}

func (n *sshNode) assertUndone() {
	n.e.t.Helper()
	if a := n.annotations(); len(a) != 0 {
		n.e.t.Fatalf("annotations after --undo: %v", a)
	}
	for _, p := range []string{n.sshd.Binary, filepath.Join(n.sshd.DropInDir, "50-node-shell.conf")} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			n.e.t.Errorf("%s still there after --undo (%v)", p, err)
		}
	}
}

// label sets a label on the node until the test ends.
func (n *sshNode) label(key, value string) {
	n.e.t.Helper()
	set := func(v any) error {
		patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"labels": map[string]any{key: v}}})
		_, err := n.e.client.CoreV1().Nodes().Patch(context.Background(), n.name, types.MergePatchType, patch, metav1.PatchOptions{})
		return err
	}
	if err := set(value); err != nil {
		n.e.t.Fatalf("label node %s: %v", n.name, err)
	}
	n.e.t.Cleanup(func() { _ = set(nil) })
}

// waitSSHD waits until sshd accepts connections again (a reload re-executes it).
func waitSSHD(t *testing.T, addr string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		out, err := exec.Command("ssh-keyscan", "-T", "2", "-p", addr[strings.LastIndex(addr, ":")+1:], addr[:strings.LastIndex(addr, ":")]).Output()
		if err == nil && len(out) > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("sshd on %s does not answer after 10s: %v", addr, err)
		}
	}
}

// TestSSHKeyAddThenPlainSSHAndSCP: a long-lived key added with ssh-key add works for the
// plain ssh and scp clients, is listed, and opens nothing once removed.
func TestSSHKeyAddThenPlainSSHAndSCP(t *testing.T) {
	e := newE2E(t)
	n := e.startSSHD(e.Nodes()[1], true, "")
	key := newUserKey(t)
	pubFile := key.private + ".pub"

	r := e.NodeShell("ssh-key", "add", n.name, "--public-key", pubFile, "--ttl", "1h").RunOK()
	id := strings.TrimSpace(string(r.Stdout))
	if ids := n.keyIDs(); !slices.Equal(ids, []string{id}) {
		t.Fatalf("keys on the node: %v; want [%s]", ids, id)
	}
	if r := n.ssh(key, "hostname"); r.Status != 0 || strings.TrimSpace(string(r.Stdout)) != hostname(t) {
		t.Fatalf("ssh: status %d, stdout %q, stderr %s", r.Status, r.Stdout, r.Stderr)
	}
	// scp (SFTP underneath, OpenSSH 9) to a file on the node, which is this machine.
	local := filepath.Join(t.TempDir(), "payload")
	if err := os.WriteFile(local, []byte("through scp\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	remote := filepath.Join(t.TempDir(), "copied")
	cmd := exec.Command("scp", append(n.sshArgs(key), local, "root@"+n.name+":"+remote)...)
	cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=" + e.home}
	if r := runPlain(t, cmd, time.Minute); r.Status != 0 {
		t.Fatalf("scp: status %d, stderr %s", r.Status, r.Stderr)
	}
	if data, err := os.ReadFile(remote); err != nil || string(data) != "through scp\n" {
		t.Fatalf("copied file: %q, %v", data, err)
	}
	r = e.NodeShell("ssh-key", "list", n.name).RunOK()
	if !strings.Contains(string(r.Stdout), id+"  root") || !strings.Contains(string(r.Stdout), "localcluster-admin") {
		t.Fatalf("ssh-key list:\n%s", r.Stdout)
	}
	e.NodeShell("ssh-key", "remove", n.name, id).RunOK()
	if ids := n.keyIDs(); len(ids) != 0 {
		t.Fatalf("keys after remove: %v", ids)
	}
	if r := n.ssh(key, "true"); r.Status != 255 || !strings.Contains(string(r.Stderr), "Permission denied") {
		t.Fatalf("ssh after remove: status %d, stderr %s", r.Status, r.Stderr)
	}
	if r := e.NodeShell("ssh-key", "remove", n.name, id).Run(); r.Status != 255 || !strings.Contains(string(r.Stderr), "has no key "+id) {
		t.Fatalf("removing a removed key: status %d, stderr %s", r.Status, r.Stderr)
	}
}

// TestSSHExpiredKeyRefused: a key past its expiry opens nothing, and the node says why.
func TestSSHExpiredKeyRefused(t *testing.T) {
	e := newE2E(t)
	n := e.startSSHD(e.Nodes()[1], true, "")
	key := newUserKey(t)
	n.addKey("expired", "root", time.Now().Add(-time.Minute), key.public)
	if r := n.ssh(key, "true"); r.Status != 255 || !strings.Contains(string(r.Stderr), "Permission denied") {
		t.Fatalf("ssh with an expired key: status %d, stderr %s", r.Status, r.Stderr)
	}
	if d := n.decisions(); !strings.Contains(d, "keys=0") || !strings.Contains(d, "expired expired at") {
		t.Fatalf("decision log:\n%s", d)
	}
	// The same key for another user opens nothing for root either.
	n.addKey("expired", "nobody", time.Now().Add(time.Hour), key.public)
	if r := n.ssh(key, "true"); r.Status != 255 {
		t.Fatalf("root got in with nobody's key: status %d", r.Status)
	}
}

// TestSSHKeyOfOneNodeDoesNotOpenAnother: each node's binary reads its own Node (by its
// kubelet certificate), so a key on node A opens A and not B.
func TestSSHKeyOfOneNodeDoesNotOpenAnother(t *testing.T) {
	e := newE2E(t)
	a := e.startSSHD(e.Nodes()[0], true, "")
	b := e.startSSHD(e.Nodes()[1], true, "")
	key := newUserKey(t)
	a.addKey("only-a", "root", time.Now().Add(time.Hour), key.public)
	if r := a.ssh(key, "true"); r.Status != 0 {
		t.Fatalf("ssh to A: status %d, stderr %s", r.Status, r.Stderr)
	}
	if r := b.ssh(key, "true"); r.Status != 255 || !strings.Contains(string(r.Stderr), "Permission denied") {
		t.Fatalf("ssh to B with A's key: status %d, stderr %s", r.Status, r.Stderr)
	}
	if d := b.decisions(); !strings.Contains(d, "node="+b.name+" source=apiserver keys=0") {
		t.Fatalf("B's decision log:\n%s", d)
	}
}

// TestSSHPreflightRefusesWithoutPatchNodes: a user who may read nodes but not patch them is
// refused before anything changes on the Node.
func TestSSHPreflightRefusesWithoutPatchNodes(t *testing.T) {
	e := newE2E(t)
	n := e.startSSHD(e.Nodes()[0], true, "")
	user := "e2e-ssh-reader"
	e.grantClusterWide(user, rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"nodes"}, Verbs: []string{"get", "list"}})
	kubeconfig, err := e.cluster.MintKubeconfig(user)
	if err != nil {
		t.Fatal(err)
	}
	before, err := e.client.CoreV1().Nodes().Get(context.Background(), n.name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	key := newUserKey(t)
	for _, args := range [][]string{
		{"ssh", n.name, "--", "true"},
		{"ssh-key", "add", n.name, "--public-key", key.private + ".pub"},
	} {
		r := e.NodeShell(args...).WithKubeconfig(kubeconfig).Run()
		e.assertFailed(r, 10*time.Second, "you may not patch node "+n.name)
	}
	after, err := e.client.CoreV1().Nodes().Get(context.Background(), n.name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ids := n.keyIDs(); len(ids) != 0 || !mapsEqual(before.Annotations, after.Annotations) {
		t.Fatalf("the Node changed: keys %v", ids)
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestSSHCacheWhileTheAPIServerIsDown: with the apiserver stopped, a cached key still gets
// in until its expiry, and not after it.
func TestSSHCacheWhileTheAPIServerIsDown(t *testing.T) {
	e := newE2E(t)
	n := e.startSSHD(e.Nodes()[2], true, "")
	long, short := newUserKey(t), newUserKey(t)
	n.addKey("long", "root", time.Now().Add(time.Hour), long.public)
	shortExpiry := time.Now().Add(20 * time.Second).Truncate(time.Second)
	n.addKey("short", "root", shortExpiry, short.public)
	if r := n.ssh(short, "true"); r.Status != 0 { // fills the cache, both keys in it
		t.Fatalf("ssh with the short key: status %d, stderr %s", r.Status, r.Stderr)
	}
	if err := e.cluster.StopAPIServer(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := e.cluster.StartAPIServer(context.Background()); err != nil {
			t.Errorf("start the apiserver again: %v", err)
		}
		// Later tests need kubelets that watch pods again, and a controller manager that
		// makes their namespaces' ServiceAccounts: both back off after an outage.
		e.waitKubeletsServe(2 * time.Minute)
		e.waitServiceAccounts(2 * time.Minute)
	})
	if r := n.ssh(long, "hostname"); r.Status != 0 || strings.TrimSpace(string(r.Stdout)) != hostname(t) {
		t.Fatalf("ssh from the cache: status %d, stderr %s\ndecisions:\n%s", r.Status, r.Stderr, n.decisions())
	}
	if d := n.decisions(); !strings.Contains(d, "source=cache keys=2") || !strings.Contains(d, "connection refused") {
		t.Fatalf("decision log:\n%s", d)
	}
	// Past the short key's expiry (by this machine's clock, which is the node's).
	for time.Now().Before(shortExpiry.Add(time.Second)) {
		time.Sleep(time.Until(shortExpiry.Add(time.Second)))
	}
	if r := n.ssh(short, "true"); r.Status != 255 || !strings.Contains(string(r.Stderr), "Permission denied") {
		t.Fatalf("ssh with an expired cached key: status %d, stderr %s", r.Status, r.Stderr)
	}
	if d := n.decisions(); !strings.Contains(d, "short expired at") {
		t.Fatalf("decision log:\n%s", d)
	}
}

// waitServiceAccounts waits until the controller manager gives a new namespace its default
// ServiceAccount again.
func (e *E2E) waitServiceAccounts(timeout time.Duration) {
	e.t.Helper()
	ctx := context.Background()
	ns, err := e.client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "e2e-ssh-probe-"}}, metav1.CreateOptions{})
	if err != nil {
		e.t.Errorf("create a probe namespace: %v", err)
		return
	}
	defer e.client.CoreV1().Namespaces().Delete(ctx, ns.Name, metav1.DeleteOptions{})
	if err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		_, err := e.client.CoreV1().ServiceAccounts(ns.Name).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	}); err != nil {
		e.t.Errorf("the controller manager made no ServiceAccount within %v of the apiserver's restart", timeout)
	}
}

// TestSSHWhenKubeletAndContainerdAreDown: the pod way fails with its cause, naming `ssh`
// since the node opted in, and SSH still gets in.
func TestSSHWhenKubeletAndContainerdAreDown(t *testing.T) {
	e := newE2E(t)
	n := e.startSSHD(e.Nodes()[2], true, "")
	e.waitLease(n.name)
	ctx := context.Background()
	if err := e.cluster.StopKubelet(ctx, n.name); err != nil {
		t.Fatal(err)
	}
	if err := e.cluster.StopContainerd(ctx, n.name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// StartContainerd restarts the kubelet, and says so when it is not running.
		if err := e.cluster.StartContainerd(ctx, n.name); err != nil && !strings.Contains(err.Error(), "is not running") {
			t.Errorf("start containerd on %s: %v", n.name, err)
		}
		if err := e.cluster.StartKubelet(ctx, n.name); err != nil {
			t.Errorf("start kubelet on %s: %v", n.name, err)
		}
	})
	r := e.NodeShell("--pod-running-timeout", "2m", n.name, "--", "true").Run()
	// The node opted in, so the fix points at the way in that needs no kubelet.
	e.assertFailed(r, 30*time.Second, "on node "+n.name, "kubectl node-shell ssh "+n.name+" (the node takes SSH keys from its Node object)")

	r = e.NodeShell("ssh", n.name, "--", "hostname").RunOK()
	if strings.TrimSpace(string(r.Stdout)) != hostname(t) {
		t.Fatalf("ssh printed %q", r.Stdout)
	}
	if ids := n.keyIDs(); len(ids) != 0 {
		t.Fatalf("keys left: %v", ids)
	}
}

// TestSSHFiftyConcurrentLogins: 50 logins at once, each running the binary against the
// apiserver, all answered within sshd's MaxStartups.
func TestSSHFiftyConcurrentLogins(t *testing.T) {
	e := newE2E(t)
	const logins = 50
	n := e.startSSHD(e.Nodes()[0], true, "64:30:128")
	key := newUserKey(t)
	n.addKey("load", "root", time.Now().Add(time.Hour), key.public)
	if r := n.ssh(key, "true"); r.Status != 0 { // host key into known_hosts before the rush
		t.Fatalf("first ssh: status %d, stderr %s", r.Status, r.Stderr)
	}
	type login struct {
		took time.Duration
		err  error
		out  string
	}
	results := make([]login, logins)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range logins {
		wg.Go(func() {
			cmd := exec.Command("ssh", append(n.sshArgs(key), "root@"+n.name, "--", "echo", fmt.Sprint(i))...)
			cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=" + e.home}
			began := time.Now()
			out, err := cmd.CombinedOutput()
			results[i] = login{took: time.Since(began), err: err, out: string(out)}
		})
	}
	wg.Wait()
	total := time.Since(start)
	var took []time.Duration
	for i, r := range results {
		// The last line: root's shell profile on this machine may say things first.
		lines := strings.Split(strings.TrimSpace(r.out), "\n")
		if r.err != nil || lines[len(lines)-1] != fmt.Sprint(i) {
			t.Errorf("login %d: %v, output %q", i, r.err, r.out)
		}
		took = append(took, r.took)
	}
	slices.Sort(took)
	t.Logf("%d concurrent logins in %v: median %v, p90 %v, max %v", logins, total.Round(time.Millisecond),
		took[len(took)/2].Round(time.Millisecond), took[len(took)*9/10].Round(time.Millisecond), took[len(took)-1].Round(time.Millisecond))
	if took[len(took)-1] > 30*time.Second {
		t.Errorf("slowest login took %v", took[len(took)-1])
	}
	if got := strings.Count(n.decisions(), "source=apiserver keys=1"); got < logins {
		t.Errorf("%d lookups answered from the apiserver; want at least %d", got, logins)
	}
}
