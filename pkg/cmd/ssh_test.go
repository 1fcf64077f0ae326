package cmd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/diagnose"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/serverclock"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/sshkeys"
)

const testPublicKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBdW0j1tNVcDXFEIRoLh7sOPJ4n6R9kUe2PIlh1szlN5 alice@laptop"

func TestSSHCommandTree(t *testing.T) {
	root := NewCmdRoot(genericiooptions.NewTestIOStreamsDiscard())
	for _, path := range [][]string{{"ssh"}, {"ssh", "setup"}, {"ssh-key", "add"}, {"ssh-key", "list"}, {"ssh-key", "remove"}} {
		c, _, err := root.Find(path)
		if err != nil || c.Name() != path[len(path)-1] {
			t.Errorf("%v: found %v, %v", path, c.Name(), err)
		}
	}
	// NODE is not taken for an unknown subcommand of ssh.
	c, rest, err := root.Find([]string{"ssh", "node-1", "--", "uptime"})
	if err != nil || c.Name() != "ssh" || rest[0] != "node-1" {
		t.Fatalf("ssh node-1: %v %v %v", c.Name(), rest, err)
	}
}

func node(annotations map[string]string, addresses ...corev1.NodeAddress) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-1", Annotations: annotations}, Status: corev1.NodeStatus{Addresses: addresses}}
}

func TestNodeAddressPrefersInternalIP(t *testing.T) {
	in := corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: "10.0.0.1"}
	ex := corev1.NodeAddress{Type: corev1.NodeExternalIP, Address: "203.0.113.1"}
	hn := corev1.NodeAddress{Type: corev1.NodeHostName, Address: "node-1"}
	for _, c := range []struct {
		addrs []corev1.NodeAddress
		want  string
	}{{[]corev1.NodeAddress{ex, in}, "10.0.0.1"}, {[]corev1.NodeAddress{hn, ex}, "203.0.113.1"}} {
		if got, err := nodeAddress(node(nil, c.addrs...)); err != nil || got != c.want {
			t.Errorf("nodeAddress(%v) = %q, %v; want %q", c.addrs, got, err, c.want)
		}
	}
	if _, err := nodeAddress(node(nil, hn)); err == nil || !strings.Contains(err.Error(), "no InternalIP or ExternalIP") {
		t.Errorf("no address: %v", err)
	}
}

func TestOptedIn(t *testing.T) {
	if err := optedIn(node(nil)); err == nil || !strings.Contains(err.Error(), "kubectl node-shell ssh setup node-1") {
		t.Errorf("optedIn(not marked) = %v", err)
	}
	if err := optedIn(node(map[string]string{sshkeys.EnabledAnnotation: "2026-12-01T12:00:00Z"})); err != nil {
		t.Errorf("optedIn(marked) = %v", err)
	}
}

func TestDefaultKeyIDIgnoresTheComment(t *testing.T) {
	a := defaultKeyID(testPublicKey)
	if a != defaultKeyID(strings.TrimSuffix(testPublicKey, " alice@laptop")+" other") {
		t.Error("the comment changes the id")
	}
	if err := sshkeys.ValidateID(a); err != nil {
		t.Error(err)
	}
	if a == defaultKeyID("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGmNXB3RUU2SN/5tE7vmnF40kFEQcRqpUKBhi0ZLQ0gT") {
		t.Error("two keys share an id")
	}
}

func TestSSHFailureNamesTheCause(t *testing.T) {
	for stderr, want := range map[string]string{
		"root@10.0.0.1: Permission denied (publickey).":                                   "refused the key",
		"ssh: connect to host 10.0.0.1 port 22: Connection refused":                       "check that sshd is running there",
		"ssh: connect to host 10.0.0.1 port 22: Connection timed out":                     "cannot be reached from here",
		"WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!\nHost key verification failed.": "is not the one known for it",
		"kex_exchange_identification: read: Connection reset by peer":                     "failed (status 255)",
	} {
		err := sshFailure("node-1", "10.0.0.1:22", stderr)
		if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "; ") && !strings.Contains(err.Error(), "above") {
			t.Errorf("%q → %v; want %q", stderr, err, want)
		}
	}
}

func TestHostKeyOptions(t *testing.T) {
	t.Setenv("HOME", t.TempDir())
	o := &SSHOptions{sshClient: sshClient{Node: "node-1"}}
	dir := t.TempDir()
	opts, err := o.hostKeyOptions(node(map[string]string{HostKeysAnnotation: testPublicKey + "\n"}), dir)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(opts, " "), "StrictHostKeyChecking=yes") {
		t.Fatalf("options %v; want strict checking", opts)
	}
	data, _ := os.ReadFile(filepath.Join(dir, "known_hosts"))
	if got, want := string(data), "node-1 "+strings.TrimSuffix(testPublicKey, " alice@laptop")+"\n"; got != want {
		t.Fatalf("known_hosts %q; want %q", got, want)
	}
	// A marker or a second host cannot be smuggled in through the annotation.
	for _, bad := range []string{"@cert-authority * " + testPublicKey, "ssh-ed25519 AAAA-not-base64", `command="x" ` + testPublicKey} {
		if _, err := o.hostKeyOptions(node(map[string]string{HostKeysAnnotation: bad}), dir); err == nil {
			t.Errorf("annotation %q accepted", bad)
		}
	}
	opts, err = o.hostKeyOptions(node(nil), dir)
	if err != nil || !strings.Contains(strings.Join(opts, " "), "StrictHostKeyChecking=accept-new") || !strings.Contains(strings.Join(opts, " "), filepath.Join(".kube", "node-shell", "known_hosts")) {
		t.Fatalf("without published keys: %v, %v", opts, err)
	}
}

func TestPublicHostKeys(t *testing.T) {
	out := testPublicKey + "\n\nnot a key\n" + "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBEmKSENjQEezOmxkZMy7opKgwFB9nkt5YRrYMjNuG5N87uRgg6CLrbo5wAdT/y6v0mKV0U2w0WZ2YB/++Tpockg= root@n\n"
	got := publicHostKeys(out)
	lines := strings.Split(got, "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "ssh-ed25519 ") || !strings.HasPrefix(lines[1], "ecdsa-sha2-nistp256 ") || strings.Contains(got, "root@n") {
		t.Fatalf("publicHostKeys = %q", got)
	}
}

func TestSetupDropIn(t *testing.T) {
	o := &SSHSetupOptions{InstallPath: "/usr/local/libexec/nska", CacheDir: "/var/cache/x", KubeletKubeconfig: "/etc/kubernetes/kubelet.conf"}
	want := "AuthorizedKeysCommand /usr/local/libexec/nska --kubeconfig /etc/kubernetes/kubelet.conf --cache-dir /var/cache/x %u\nAuthorizedKeysCommandUser root\n"
	if got := o.dropIn(); !strings.HasSuffix(got, want) {
		t.Fatalf("drop-in\n%s\nwant it to end with\n%s", got, want)
	}
}

func TestSetupChecksTheBinarysArchitecture(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the test binary is the Linux executable checked")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	nodeOf := func(goos, arch string) *corev1.Node {
		n := node(nil)
		n.Status.NodeInfo.OperatingSystem, n.Status.NodeInfo.Architecture = goos, arch
		return n
	}
	o := &SSHSetupOptions{NodeShellOptions: &NodeShellOptions{Node: "node-1"}, Binary: self}
	if data, err := o.readBinary(); err != nil || len(data) == 0 {
		t.Fatalf("readBinary = %d bytes, %v", len(data), err)
	}
	if err := o.checkArch(nodeOf("linux", runtime.GOARCH)); err != nil {
		t.Fatalf("checkArch(own arch) = %v", err)
	}
	other := map[string]string{"amd64": "arm64", "arm64": "amd64"}[runtime.GOARCH]
	if err := o.checkArch(nodeOf("linux", other)); err == nil || !strings.Contains(err.Error(), "linux/"+other) {
		t.Fatalf("checkArch(other arch) = %v", err)
	}
	if err := o.checkArch(nodeOf("windows", "amd64")); err == nil {
		t.Fatal("a Windows node was accepted")
	}
	o.Undo = true
	if err := o.checkArch(nodeOf("linux", other)); err != nil {
		t.Fatalf("--undo needs no binary: %v", err)
	}
	text := filepath.Join(t.TempDir(), "script")
	os.WriteFile(text, []byte("#!/bin/sh\n"), 0o755)
	o.Binary = text
	if _, err := o.readBinary(); err == nil || !strings.Contains(err.Error(), "not a Linux executable") {
		t.Fatalf("readBinary(script) = %v", err)
	}
}

func TestSetupArguments(t *testing.T) {
	for want, args := range map[string][]string{
		"name one node":                {"ssh", "setup"},
		"name one node: ":              {"ssh", "setup", "a", "b"},
		"give a node name or -l/--all": {"ssh", "setup", "a", "--all"},
		"-l and --all select":          {"ssh", "setup", "-l", "a=b", "--all"},
	} {
		root := NewCmdRoot(genericiooptions.NewTestIOStreamsDiscard())
		root.SetArgs(args)
		if err := root.Execute(); err == nil || ExitStatus(err) != ExitFailure || !strings.Contains(err.Error(), want) {
			t.Errorf("%v: %v; want %q", args, err, want)
		}
	}
}

// fakeCluster serves node-1 (opted in, InternalIP 10.0.0.1) and answers access reviews
// with allowed.
func fakeCluster(t *testing.T, allowed bool) *fake.Clientset {
	t.Helper()
	client := fake.NewClientset(node(map[string]string{sshkeys.EnabledAnnotation: "x"}, corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: "10.0.0.1"}))
	client.PrependReactor("create", "selfsubjectaccessreviews", func(a k8stesting.Action) (bool, kruntime.Object, error) {
		r := a.(k8stesting.CreateAction).GetObject().(*authorizationv1.SelfSubjectAccessReview)
		ra := r.Spec.ResourceAttributes
		r.Status.Allowed = allowed && ra.Verb == "patch" && ra.Resource == "nodes" && ra.Name == "node-1"
		return true, r, nil
	})
	return client
}

func patches(client *fake.Clientset) []string {
	var out []string
	for _, a := range client.Actions() {
		if p, ok := a.(k8stesting.PatchAction); ok {
			out = append(out, string(p.GetPatch()))
		}
	}
	return out
}

// fakeSSH is an ssh that records its arguments and exits with status.
func fakeSSH(t *testing.T, status string) (binary, argsFile string) {
	dir := t.TempDir()
	argsFile = filepath.Join(dir, "args")
	binary = filepath.Join(dir, "ssh")
	script := "#!/bin/sh\nprintf '%s\\n' \"$@\" > " + argsFile + "\nexit " + status + "\n"
	if err := os.WriteFile(binary, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return binary, argsFile
}

func TestSSHRunAddsTheKeyRunsSSHAndRemovesIt(t *testing.T) {
	t.Setenv("HOME", t.TempDir())
	client := fakeCluster(t, true)
	binary, argsFile := fakeSSH(t, "3")
	var stderr bytes.Buffer
	o := &SSHOptions{
		sshClient: sshClient{IOStreams: genericiooptions.IOStreams{In: strings.NewReader(""), Out: &bytes.Buffer{}, ErrOut: &stderr},
			Node: "node-1", client: client, serverClock: serverclock.New(nil)},
		Command: []string{"uptime"}, User: "root", TTL: 10 * time.Minute, Port: 2222, SSHBinary: binary,
		SSHOptions: []string{"ProxyJump=bastion"},
	}
	err := o.Run(context.Background())
	if ExitStatus(err) != 3 {
		t.Fatalf("Run = %v (status %d); want ssh's status 3", err, ExitStatus(err))
	}
	p := patches(client)
	if len(p) != 2 {
		t.Fatalf("patches %v; want an add and a remove", p)
	}
	var added struct {
		Metadata struct{ Annotations map[string]*string } `json:"metadata"`
	}
	json.Unmarshal([]byte(p[0]), &added)
	var id string
	for name, v := range added.Metadata.Annotations {
		k, ok, err := sshkeys.Parse(name, *v)
		if !ok || err != nil || k.User != "root" || k.Expires == nil || time.Until(*k.Expires) > 10*time.Minute || time.Until(*k.Expires) < 9*time.Minute {
			t.Fatalf("added %s=%s (%v)", name, *v, err)
		}
		id = k.ID
	}
	if want := `{"metadata":{"annotations":{"` + sshkeys.KeyPrefix + id + `":null}}}`; p[1] != want {
		t.Fatalf("remove patch %s; want %s", p[1], want)
	}
	args, _ := os.ReadFile(argsFile)
	got := strings.Split(strings.TrimSpace(string(args)), "\n")
	joined := strings.Join(got, " ")
	for _, want := range []string{"IdentitiesOnly=yes", "HostKeyAlias=node-1", "-p 2222", "-o ProxyJump=bastion", "-l root -- 10.0.0.1 uptime", "StrictHostKeyChecking=accept-new"} {
		if !strings.Contains(joined, want) {
			t.Errorf("ssh args %q lack %q", joined, want)
		}
	}
	// The key ssh was given is gone with the temporary directory.
	for i, a := range got {
		if a == "-i" {
			if _, err := os.Stat(got[i+1]); !os.IsNotExist(err) {
				t.Errorf("the throwaway key %s is still there", got[i+1])
			}
		}
	}
}

func TestSSHRunExplainsSSHsOwnFailure(t *testing.T) {
	t.Setenv("HOME", t.TempDir())
	client := fakeCluster(t, true)
	dir := t.TempDir()
	binary := filepath.Join(dir, "ssh")
	os.WriteFile(binary, []byte("#!/bin/sh\necho 'root@10.0.0.1: Permission denied (publickey).' >&2\nexit 255\n"), 0o755)
	o := &SSHOptions{
		sshClient: sshClient{IOStreams: genericiooptions.NewTestIOStreamsDiscard(), Node: "node-1", client: client, serverClock: serverclock.New(nil)},
		User:      "root", TTL: time.Minute, Port: 22, SSHBinary: binary,
	}
	err := o.Run(context.Background())
	if ExitStatus(err) != 255 || !strings.Contains(err.Error(), "refused the key") {
		t.Fatalf("Run = %v", err)
	}
	if len(patches(client)) != 2 {
		t.Fatalf("patches %v; want the key added and removed", patches(client))
	}
}

func TestSSHPreflightChangesNothingWithoutPatch(t *testing.T) {
	client := fakeCluster(t, false)
	binary, argsFile := fakeSSH(t, "0")
	o := &SSHOptions{
		sshClient: sshClient{IOStreams: genericiooptions.NewTestIOStreamsDiscard(), Node: "node-1", client: client, serverClock: serverclock.New(nil)},
		User:      "root", TTL: time.Minute, Port: 22, SSHBinary: binary,
	}
	if err := o.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "you may not patch node node-1") {
		t.Fatalf("Run = %v", err)
	}
	add := &SSHKeyAddOptions{sshClient: o.sshClient, User: "root", TTL: time.Hour, ID: "k", publicKey: testPublicKey}
	if err := add.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "you may not patch") {
		t.Fatalf("ssh-key add = %v", err)
	}
	if p := patches(client); len(p) != 0 {
		t.Fatalf("patches without access: %v", p)
	}
	if _, err := os.Stat(argsFile); !os.IsNotExist(err) {
		t.Fatal("ssh ran without access")
	}
}

func TestSSHValidate(t *testing.T) {
	base := func() *SSHOptions { return &SSHOptions{User: "root", TTL: 10 * time.Minute, Port: 22, SSHBinary: "sh"} }
	for name, edit := range map[string]func(*SSHOptions){
		"ttl too short": func(o *SSHOptions) { o.TTL = time.Second },
		"ttl too long":  func(o *SSHOptions) { o.TTL = 48 * time.Hour },
		"bad login":     func(o *SSHOptions) { o.User = "-oProxyCommand=x" },
		"bad port":      func(o *SSHOptions) { o.Port = 0 },
		"no ssh":        func(o *SSHOptions) { o.SSHBinary = "/nonexistent/ssh" },
	} {
		o := base()
		edit(o)
		if err := o.Validate(); err == nil {
			t.Errorf("%s: Validate passed", name)
		}
	}
	if err := base().Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestSSHKeyAddValidate(t *testing.T) {
	dir := t.TempDir()
	pub := filepath.Join(dir, "id.pub")
	os.WriteFile(pub, []byte(testPublicKey+"\n"), 0o644)
	priv := filepath.Join(dir, "id")
	os.WriteFile(priv, []byte("-----BEGIN OPENSSH PRIVATE KEY-----\nxx\n"), 0o600)
	o := &SSHKeyAddOptions{PublicKeyFile: pub, User: "root", TTL: time.Hour}
	if err := o.Validate(); err != nil || o.ID != defaultKeyID(testPublicKey) {
		t.Fatalf("Validate = %v, id %q", err, o.ID)
	}
	for name, o := range map[string]*SSHKeyAddOptions{
		"no file":     {User: "root"},
		"private key": {PublicKeyFile: priv, User: "root"},
		"bad user":    {PublicKeyFile: pub, User: "Root"},
		"bad id":      {PublicKeyFile: pub, User: "root", ID: "A B"},
		"negative":    {PublicKeyFile: pub, User: "root", TTL: -time.Hour},
	} {
		if err := o.Validate(); err == nil {
			t.Errorf("%s: Validate passed", name)
		}
	}
}

func TestPointToSSHWhenTheNodeOptedIn(t *testing.T) {
	lease := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "node-1", Namespace: "kube-node-lease"}}
	broken := diagnose.KubeletSilent(lease, 20*time.Second, time.Time{}, false)
	if !strings.Contains(broken.Fix, nodeConsoleHint) {
		t.Fatalf("diagnose's fix %q no longer names %q: pointToSSH would never hint", broken.Fix, nodeConsoleHint)
	}
	optedIn := fake.NewClientset(node(map[string]string{sshkeys.EnabledAnnotation: "x"}))
	err := pointToSSH(context.Background(), optedIn, "node-1", broken)
	if !strings.Contains(err.Error(), "restart the kubelet through kubectl node-shell ssh node-1 (the node takes SSH keys from its Node object)") ||
		!strings.HasPrefix(err.Error(), broken.Cause+"; ") {
		t.Fatalf("hinted error %q", err)
	}
	if got := pointToSSH(context.Background(), fake.NewClientset(node(nil)), "node-1", broken); got != error(broken) {
		t.Fatalf("a node that did not opt in: %v", got)
	}
	other := errors.New("pods is forbidden")
	if got := pointToSSH(context.Background(), optedIn, "node-1", other); got != other {
		t.Fatalf("another error changed: %v", got)
	}
}
