package localcluster

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

func TestSSHDConfig(t *testing.T) {
	l := layout{state: "/var/lib/kubectl-node-shell/abc"}
	s := sshdPaths(l, 2)
	if s.Addr != "127.0.0.2:22" || s.Kubeconfig != "/var/lib/kubectl-node-shell/abc/nodes/2/kubeconfig" {
		t.Fatalf("paths %+v", s)
	}
	cfg := sshdConfig(s, 2, SSHDOptions{AuthorizedKeysCommand: "/tmp/x", MaxStartups: "64:30:128"})
	lines := strings.Split(strings.TrimSpace(cfg), "\n")
	// sshd keeps the first value it reads: the drop-ins (ssh setup's) must come first.
	if lines[1] != "Include "+s.DropInDir+"/*.conf" {
		t.Errorf("line 2 = %q; want the drop-in Include", lines[1])
	}
	for _, want := range []string{
		"ListenAddress 127.0.0.2:22",
		"AuthorizedKeysFile none",
		"AuthorizedKeysCommand " + s.Binary + " --kubeconfig " + s.Kubeconfig + " --cache-dir " + s.CacheDir + " --log-file " + s.DecisionLog + " --timeout 5s %u",
		"AuthorizedKeysCommandUser root",
		"PasswordAuthentication no",
		"KbdInteractiveAuthentication no",
		"MaxStartups 64:30:128",
	} {
		if !strings.Contains(cfg, want+"\n") {
			t.Errorf("config lacks %q:\n%s", want, cfg)
		}
	}
	if bare := sshdConfig(s, 2, SSHDOptions{}); strings.Contains(bare, "AuthorizedKeysCommand") || strings.Contains(bare, "MaxStartups") {
		t.Errorf("config without a command:\n%s", bare)
	}
}

func TestWriteHostKeyOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ssh_host_ed25519_key")
	if err := writeHostKey(path); err != nil {
		t.Fatal(err)
	}
	first, _ := os.ReadFile(path)
	if _, err := ssh.ParsePrivateKey(first); err != nil {
		t.Fatalf("host key does not parse: %v", err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("host key mode %04o; sshd refuses anything but 0600", fi.Mode().Perm())
	}
	pub, _ := os.ReadFile(path + ".pub")
	if _, _, _, _, err := ssh.ParseAuthorizedKey(pub); err != nil {
		t.Fatalf("public host key: %v", err)
	}
	if err := writeHostKey(path); err != nil {
		t.Fatal(err)
	}
	if again, _ := os.ReadFile(path); string(again) != string(first) {
		t.Error("a second StartSSHD replaced the host key: clients would see it change")
	}
}
