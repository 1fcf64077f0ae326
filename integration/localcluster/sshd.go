package localcluster

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// A real OpenSSH server per node, for node-shell's SSH way in (docs/ssh.md): Debian's
// sshd on the node's address, port 22, with its own config, host key and state under the
// node's directory, and node-shell-authorized-keys as its AuthorizedKeysCommand with the
// node's kubelet kubeconfig. Nodes share this machine's file system, so nothing of it
// lives in /etc/ssh: the package's own host keys and config there are never read.

// sshdPackages are installed on first use only: most tests never start an sshd.
var sshdPackages = []string{"openssh-server"}

const (
	sshdPrefix = "sshd-"
	sshdBinary = "/usr/sbin/sshd"
	// privsepDir is compiled into Debian's sshd, which refuses to start without it.
	privsepDir = "/run/sshd"
	// SSHPort is where every node's sshd listens, on the node's address.
	SSHPort = 22
)

func sshdName(k int) string { return sshdPrefix + strconv.Itoa(k) }

// SSHDOptions configures StartSSHD.
type SSHDOptions struct {
	// AuthorizedKeysCommand is the node-shell-authorized-keys binary. It is copied into
	// the node's directory, since sshd runs only a command whose every parent directory
	// is root's and not writable by others (a build in /tmp is not). Empty: no
	// AuthorizedKeysCommand in the base config, so no key opens the node until one is
	// put in the drop-in directory (as `ssh setup` does).
	AuthorizedKeysCommand string
	// MaxStartups is sshd's MaxStartups; empty keeps sshd's default (10:30:100).
	MaxStartups string
}

// SSHD is where a node's sshd keeps its files.
type SSHD struct {
	// Addr is host:port of the node's sshd.
	Addr string
	// Dir holds everything below; removed by Down.
	Dir string
	// Config is the sshd_config; it includes DropInDir/*.conf first, so a drop-in's
	// settings win (sshd keeps the first value it reads).
	Config    string
	DropInDir string
	// Binary is where the AuthorizedKeysCommand is installed.
	Binary string
	// Kubeconfig is the node's kubelet kubeconfig.
	Kubeconfig string
	// CacheDir is node-shell-authorized-keys's cache; DecisionLog receives one line per
	// lookup (its --log-file).
	CacheDir    string
	DecisionLog string
	// HostKeyLine is the host's public key in known_hosts form, without the host name.
	HostKeyLine string
	// ReloadCommand makes the running sshd reread its config (SIGHUP), for `ssh setup`.
	ReloadCommand string
	// Log is sshd's own log (-e).
	Log string
}

// SSHD returns the paths of node's sshd, whether it runs or not.
func (c *Cluster) SSHD(node string) (SSHD, error) {
	k, err := c.nodeIndex(node)
	if err != nil {
		return SSHD{}, err
	}
	s := sshdPaths(c.l, k)
	if data, err := os.ReadFile(filepath.Join(s.Dir, "ssh_host_ed25519_key.pub")); err == nil {
		s.HostKeyLine = strings.TrimSpace(string(data))
	}
	return s, nil
}

func sshdPaths(l layout, k int) SSHD {
	dir := l.node(k, "sshd")
	return SSHD{
		Addr:          net.JoinHostPort(nodeName(k), strconv.Itoa(SSHPort)),
		Dir:           dir,
		Config:        filepath.Join(dir, "sshd_config"),
		DropInDir:     filepath.Join(dir, "sshd_config.d"),
		Binary:        filepath.Join(dir, "node-shell-authorized-keys"),
		Kubeconfig:    l.node(k, "kubeconfig"),
		CacheDir:      filepath.Join(dir, "cache"),
		DecisionLog:   filepath.Join(dir, "decisions.log"),
		ReloadCommand: "kill -HUP $(cat " + l.pidFile(sshdName(k)) + ")",
		Log:           l.logFile(sshdName(k)),
	}
}

// AuthorizedKeysCommandLine is the sshd_config line that runs binary for the node of s.
func (s SSHD) AuthorizedKeysCommandLine(binary string) string {
	return fmt.Sprintf("AuthorizedKeysCommand %s --kubeconfig %s --cache-dir %s --log-file %s --timeout 5s %%u",
		binary, s.Kubeconfig, s.CacheDir, s.DecisionLog)
}

// StartSSHD installs openssh-server if it is missing, writes node's sshd config (a
// host key is made once and kept until Down) and starts sshd; it returns once sshd
// accepts connections.
func (c *Cluster) StartSSHD(ctx context.Context, node string, opts SSHDOptions) error {
	k, err := c.nodeIndex(node)
	if err != nil {
		return err
	}
	if err := installAptPackages(ctx, io.Discard, sshdPackages); err != nil {
		return err
	}
	if _, err := os.Stat(privsepDir); errors.Is(err, os.ErrNotExist) {
		if err := os.Mkdir(privsepDir, 0o755); err != nil {
			return err
		}
		// Down removes it only if Up's cluster made it.
		if err := os.WriteFile(c.l.path("sshd-made-run-sshd"), nil, 0o644); err != nil {
			return err
		}
	}
	s := sshdPaths(c.l, k)
	for _, d := range []string{s.Dir, s.DropInDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	if err := writeHostKey(filepath.Join(s.Dir, "ssh_host_ed25519_key")); err != nil {
		return err
	}
	if opts.AuthorizedKeysCommand != "" {
		data, err := os.ReadFile(opts.AuthorizedKeysCommand)
		if err != nil {
			return fmt.Errorf("reading the AuthorizedKeysCommand: %w", err)
		}
		if err := writeFileAtomic(s.Binary, data, 0o755); err != nil {
			return err
		}
	}
	if err := os.WriteFile(s.Config, []byte(sshdConfig(s, k, opts)), 0o644); err != nil {
		return err
	}
	if err := c.startDaemon(sshdName(k), []string{sshdBinary, "-D", "-e", "-f", s.Config}); err != nil {
		return err
	}
	return waitFor(ctx, c.l, 10*time.Second, "sshd of "+node+" to accept connections", func(ctx context.Context) (bool, error) {
		conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", s.Addr)
		if err != nil {
			return false, err
		}
		conn.Close()
		return true, nil
	})
}

// StopSSHD stops node's sshd (SIGTERM). Sessions already open end with their client.
func (c *Cluster) StopSSHD(ctx context.Context, node string) error {
	k, err := c.nodeIndex(node)
	if err != nil {
		return err
	}
	return c.stopDaemon(sshdName(k), 5*time.Second)
}

func sshdConfig(s SSHD, k int, opts SSHDOptions) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# localcluster: sshd of node %s\n", nodeName(k))
	fmt.Fprintf(&b, "Include %s/*.conf\n", s.DropInDir)
	fmt.Fprintf(&b, "ListenAddress %s\n", s.Addr)
	fmt.Fprintf(&b, "HostKey %s\n", filepath.Join(s.Dir, "ssh_host_ed25519_key"))
	fmt.Fprintf(&b, "PidFile none\n")
	// Keys come from the Node object only, never from ~/.ssh of the machine's users.
	fmt.Fprintf(&b, "AuthorizedKeysFile none\n")
	if opts.AuthorizedKeysCommand != "" {
		fmt.Fprintln(&b, s.AuthorizedKeysCommandLine(s.Binary))
		fmt.Fprintf(&b, "AuthorizedKeysCommandUser root\n")
	}
	b.WriteString("PasswordAuthentication no\nKbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\nUsePAM no\n")
	b.WriteString("LogLevel VERBOSE\nSubsystem sftp internal-sftp\n")
	if opts.MaxStartups != "" {
		fmt.Fprintf(&b, "MaxStartups %s\n", opts.MaxStartups)
	}
	return b.String()
}

// writeHostKey makes an ed25519 host key at path (and path.pub) unless there is one.
func writeHostKey(path string) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	block, err := ssh.MarshalPrivateKey(priv, "localcluster")
	if err != nil {
		return err
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		return err
	}
	if err := os.WriteFile(path+".pub", ssh.MarshalAuthorizedKey(sshPub), 0o644); err != nil {
		return err
	}
	return writeFileAtomic(path, pem.EncodeToMemory(block), 0o600)
}

// stopSSHDs stops every node's sshd, and removes /run/sshd if this cluster made it.
func stopSSHDs(l layout) {
	var names []string
	for _, name := range recordedDaemons(l) {
		if strings.HasPrefix(name, sshdPrefix) {
			names = append(names, name)
		}
	}
	stopNamed(l, 5*time.Second, names...)
	if _, err := os.Stat(l.path("sshd-made-run-sshd")); err == nil {
		_ = os.Remove(privsepDir) // only if empty
	}
}
