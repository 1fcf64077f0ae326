package cmd

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/kubectl/pkg/util/templates"

	"golang.org/x/crypto/ssh"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/session"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/sshkeys"
)

var (
	sshLong = templates.LongDesc(`
		SSH to a node with a throwaway key that the node's sshd takes from the Node object.

		For nodes whose pods cannot start (kubelet, runtime or disk broken): node-shell makes
		an ed25519 key pair in a temporary directory, adds its public key to the Node with a
		short expiry (--ttl, judged by the apiserver's clock), runs the system's ssh client
		against the node's InternalIP (else ExternalIP), and removes the key when ssh ends;
		the expiry covers a crash. The node must have opted in with 'ssh setup'. You need
		patch on the node: that is what this access is granted by. docs/ssh.md has the design.

		The host key is checked against the one 'ssh setup' published on the Node; without
		one, it is trusted on first use and kept in ~/.kube/node-shell/known_hosts.`)

	sshExample = templates.Examples(`
		# A login shell on the node, as root
		%[1]s ssh NODE

		# One command; ssh's exit status is node-shell's
		%[1]s ssh NODE -- journalctl -u kubelet -n 50

		# Options for ssh (a jump host, say)
		%[1]s ssh NODE -o ProxyJump=bastion.example.com`)
)

// SSHOptions are the flags and resolved state of `kubectl node-shell ssh NODE`.
type SSHOptions struct {
	sshClient
	Command    []string
	User       string
	TTL        time.Duration
	Port       int
	SSHBinary  string
	SSHOptions []string
	Verbose    bool
}

// NewCmdSSH returns `kubectl node-shell ssh` with its subcommand `setup`.
func NewCmdSSH(streams genericiooptions.IOStreams) *cobra.Command {
	o := &SSHOptions{sshClient: newSSHClient(streams), User: "root", TTL: 10 * time.Minute, Port: 22, SSHBinary: "ssh"}
	cmd := &cobra.Command{
		Use:                   "ssh [flags] NODE [-- COMMAND [ARG...]]",
		DisableFlagsInUseLine: true,
		Short:                 "SSH to a node with a short-lived key kept on its Node object (works when pods cannot start)",
		Long:                  sshLong,
		Example:               templatesName(sshExample),
		SilenceUsage:          true,
		SilenceErrors:         true,
		// With a subcommand, cobra would take NODE for an unknown one.
		Args: cobra.ArbitraryArgs,
		RunE: func(c *cobra.Command, args []string) error {
			if err := o.Complete(c, args); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(c.Context())
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.User, "login", "l", o.User, "User to log in as on the node")
	f.DurationVar(&o.TTL, "ttl", o.TTL, "How long the throwaway key works if node-shell cannot remove it (crash, lost network)")
	f.IntVarP(&o.Port, "port", "p", o.Port, "Port of the node's sshd")
	f.StringVar(&o.SSHBinary, "ssh", o.SSHBinary, "The OpenSSH client to run")
	f.StringArrayVarP(&o.SSHOptions, "option", "o", nil, "An option for ssh, as ssh -o takes it (repeatable)")
	f.BoolVarP(&o.Verbose, "verbose", "v", false, "Say what node-shell does, and pass -v to ssh")
	addKubeFlags(cmd, &o.sshClient)
	cmd.AddCommand(NewCmdSSHSetup(streams))
	return cmd
}

// Complete takes the node and the command; it sends no request.
func (o *SSHOptions) Complete(cmd *cobra.Command, args []string) error {
	dash := cmd.ArgsLenAtDash()
	before, after := args, []string(nil)
	if dash >= 0 {
		before, after = args[:dash], args[dash:]
	}
	switch {
	case len(before) == 0:
		return usageError(cmd, "a node name is required: kubectl node-shell ssh NODE [-- COMMAND]")
	case len(before) > 1:
		return usageError(cmd, "put the command after --: kubectl node-shell ssh %s -- %s", before[0], strings.Join(before[1:], " "))
	}
	o.Command = after
	return o.complete(before[0])
}

// Validate judges the flags without talking to the cluster.
func (o *SSHOptions) Validate() error {
	if err := sshkeys.ValidateUser(o.User); err != nil {
		return usageError(nil, "--login: %v", err)
	}
	if o.TTL < time.Minute || o.TTL > 24*time.Hour {
		return usageError(nil, "--ttl must be between 1m and 24h (use ssh-key add for long-lived keys)")
	}
	if o.Port < 1 || o.Port > 65535 {
		return usageError(nil, "--port must be 1-65535")
	}
	if _, err := exec.LookPath(o.SSHBinary); err != nil {
		return fmt.Errorf("no OpenSSH client: %v; install openssh-client (or pass --ssh PATH)", err)
	}
	return nil
}

func (o *SSHOptions) logf(format string, args ...any) {
	if o.Verbose {
		fmt.Fprintf(o.ErrOut, "node-shell: "+format+"\n", args...)
	}
}

// Run checks access and the node, adds the key, runs ssh and removes the key.
func (o *SSHOptions) Run(ctx context.Context) error {
	if err := o.mayEditKeys(ctx); err != nil {
		return err
	}
	node, err := o.getNode(ctx)
	if err != nil {
		return err
	}
	if err := optedIn(node); err != nil {
		return err
	}
	addr, err := nodeAddress(node)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "node-shell-ssh-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	keyFile, publicKey, err := writeThrowawayKey(dir)
	if err != nil {
		return err
	}
	hostOptions, err := o.hostKeyOptions(node, dir)
	if err != nil {
		return err
	}
	id := "session-" + randomHex(4)
	expires := o.now().Add(o.TTL)
	key, err := sshkeys.NewKey(id, o.User, &expires, publicKey+" node-shell-session", session.WhoAmI(ctx, o.client))
	if err != nil {
		return err
	}
	if err := o.putKey(ctx, key); err != nil {
		return err
	}
	o.logf("added key %s for %s to node %s, expiring %s", id, o.User, o.Node, expires.UTC().Format(time.RFC3339))
	// Removed whatever happens to ssh or to ctx (a signal): with a context of its own.
	defer func() {
		rctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := o.removeKeys(rctx, id); err != nil {
			fmt.Fprintf(o.ErrOut, "warning: could not remove key %s from node %s (it expires at %s): %v\n", id, o.Node, expires.UTC().Format(time.RFC3339), err)
			return
		}
		o.logf("removed key %s from node %s", id, o.Node)
	}()

	args := []string{"-i", keyFile, "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none", "-o", "ConnectTimeout=15",
		"-o", "HostKeyAlias=" + o.Node, "-p", strconv.Itoa(o.Port)}
	args = append(args, hostOptions...)
	if o.Verbose {
		args = append(args, "-v")
	}
	for _, opt := range o.SSHOptions {
		args = append(args, "-o", opt)
	}
	args = append(args, "-l", o.User, "--", addr)
	args = append(args, o.Command...)
	status, stderrTail, err := o.runSSH(ctx, args)
	if err != nil {
		return err
	}
	switch {
	case status == 255:
		return sshFailure(o.Node, hostPort(addr, o.Port), stderrTail)
	case status != 0:
		return &ExitStatusError{Status: status}
	}
	return nil
}

func hostPort(addr string, port int) string {
	if strings.Contains(addr, ":") {
		return "[" + addr + "]:" + strconv.Itoa(port)
	}
	return addr + ":" + strconv.Itoa(port)
}

// runSSH runs ssh on the terminal and returns its status and the end of what it wrote on
// stderr (to explain a failure). A signal that ends ctx is passed on to ssh as SIGTERM.
func (o *SSHOptions) runSSH(ctx context.Context, args []string) (int, string, error) {
	cmd := exec.Command(o.SSHBinary, args...)
	tail := &tailBuffer{max: 4096}
	cmd.Stdin, cmd.Stdout = o.In, o.Out
	cmd.Stderr = io.MultiWriter(o.ErrOut, tail)
	o.logf("running %s %s", o.SSHBinary, strings.Join(args, " "))
	if err := cmd.Start(); err != nil {
		return 0, "", fmt.Errorf("starting %s: %w", o.SSHBinary, err)
	}
	done := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			_ = cmd.Process.Signal(syscall.SIGTERM)
		case <-done:
		}
	}()
	err := cmd.Wait()
	close(done)
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		return 0, tail.String(), nil
	case errors.As(err, &exitErr):
		if ws, ok := exitErr.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return exitSignalBase + int(ws.Signal()), tail.String(), nil
		}
		return exitErr.ExitCode(), tail.String(), nil
	}
	return 0, "", fmt.Errorf("running %s: %w", o.SSHBinary, err)
}

// sshFailure turns ssh's own failure (status 255) into one line: cause; what to do.
func sshFailure(node, addr, stderr string) error {
	switch {
	case strings.Contains(stderr, "Permission denied"):
		return fmt.Errorf("sshd on node %s (%s) refused the key: its AuthorizedKeysCommand did not offer it; check that `kubectl node-shell ssh setup %s` ran and read node-shell-authorized-keys's decision in the node's sshd log", node, addr, node)
	case strings.Contains(stderr, "Connection refused"):
		return fmt.Errorf("nothing accepts SSH connections on %s (node %s); check that sshd is running there, or pass its port with --port", addr, node)
	case strings.Contains(stderr, "timed out"), strings.Contains(stderr, "No route to host"), strings.Contains(stderr, "Network is unreachable"):
		return fmt.Errorf("node %s's address %s cannot be reached from here; use a jump host (-o ProxyJump=HOST) or a network that routes to it", node, addr)
	case strings.Contains(stderr, "Host key verification failed"), strings.Contains(stderr, "IDENTIFICATION HAS CHANGED"):
		return fmt.Errorf("the host key of node %s (%s) is not the one known for it; if the node was rebuilt, run `kubectl node-shell ssh setup %s` again (or remove %s from ~/.kube/node-shell/known_hosts)", node, addr, node, node)
	}
	return fmt.Errorf("ssh to node %s (%s) failed (status 255); ssh's message is above", node, addr)
}

// hostKeyOptions are ssh's host key options: strict against the keys `ssh setup`
// published on the Node, else trust on first use in node-shell's own known_hosts.
func (o *SSHOptions) hostKeyOptions(node *corev1.Node, dir string) ([]string, error) {
	if published := node.Annotations[HostKeysAnnotation]; published != "" {
		var b strings.Builder
		for _, line := range strings.Split(published, "\n") {
			if strings.TrimSpace(line) == "" {
				continue
			}
			pub, _, options, _, err := ssh.ParseAuthorizedKey([]byte(line))
			if err != nil || len(options) > 0 {
				return nil, fmt.Errorf("node %s's annotation %s holds something that is not a host key; run `kubectl node-shell ssh setup %s` again", node.Name, HostKeysAnnotation, node.Name)
			}
			// Rebuilt from the parsed key: no marker (@cert-authority) or other host gets in.
			fmt.Fprintf(&b, "%s %s", o.Node, ssh.MarshalAuthorizedKey(pub))
		}
		file := filepath.Join(dir, "known_hosts")
		if err := os.WriteFile(file, []byte(b.String()), 0o600); err != nil {
			return nil, err
		}
		return []string{"-o", "UserKnownHostsFile=" + file, "-o", "GlobalKnownHostsFile=/dev/null", "-o", "StrictHostKeyChecking=yes"}, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return nil, fmt.Errorf("finding the home directory for node-shell's known_hosts: %w", err)
	}
	kdir := filepath.Join(home, ".kube", "node-shell")
	if err := os.MkdirAll(kdir, 0o700); err != nil {
		return nil, err
	}
	return []string{"-o", "UserKnownHostsFile=" + filepath.Join(kdir, "known_hosts"), "-o", "StrictHostKeyChecking=accept-new"}, nil
}

// writeThrowawayKey writes a new ed25519 private key (0600) into dir and returns its
// path and the public key in authorized_keys form.
func writeThrowawayKey(dir string) (string, string, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", "", err
	}
	block, err := ssh.MarshalPrivateKey(priv, "node-shell-session")
	if err != nil {
		return "", "", err
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		return "", "", err
	}
	file := filepath.Join(dir, "id_ed25519")
	if err := os.WriteFile(file, pem.EncodeToMemory(block), 0o600); err != nil {
		return "", "", err
	}
	return file, strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sshPub))), nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	max int
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf.Write(p)
	if over := t.buf.Len() - t.max; over > 0 {
		t.buf.Next(over)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.buf.String()
}
