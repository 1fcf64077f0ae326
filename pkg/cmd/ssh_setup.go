package cmd

import (
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/crypto/ssh"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/kubectl/pkg/util/templates"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/fleet"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/podspec"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/session"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/sshkeys"
)

var (
	sshSetupLong = templates.LongDesc(`
		Opt a node in to SSH with keys from its Node object, through a node-shell session:
		install node-shell-authorized-keys (for the node's architecture) and an sshd
		drop-in that makes it sshd's AuthorizedKeysCommand with the kubelet's kubeconfig,
		check sshd's config (sshd -t), reload sshd, and mark the Node (annotation
		ssh.node-shell.io/enabled) with its host keys (ssh.node-shell.io/host-keys), which
		'ssh' then checks strictly. Running it again gives the same result. --undo removes
		the binary, the drop-in and the marks, and reloads sshd; keys stay on the Node
		(ssh-key remove deletes them) and open nothing without the drop-in.

		This needs the node's pods to work: set it up while the node is healthy.`)

	sshSetupExample = templates.Examples(`
		# Install the release's binary for the node's architecture
		%[1]s ssh setup NODE --binary ./node-shell-authorized-keys_linux_amd64/node-shell-authorized-keys

		# Take it out again
		%[1]s ssh setup NODE --undo`)
)

// SSHSetupOptions are the flags of `ssh setup`; the paths are flags since nodes differ
// (and the local cluster's nodes share one machine).
type SSHSetupOptions struct {
	*NodeShellOptions
	Undo              bool
	Binary            string
	InstallPath       string
	DropInDir         string
	SSHDConfig        string
	KubeletKubeconfig string
	CacheDir          string
	LogFile           string
	HostKeys          string
	ReloadCommand     string

	binary        []byte
	binaryPath    string
	binaryMachine elf.Machine
	keys          sshClient
}

// dropInName is the file setup owns in the drop-in directory.
const dropInName = "50-node-shell.conf"

// NewCmdSSHSetup returns `kubectl node-shell ssh setup`.
func NewCmdSSHSetup(streams genericiooptions.IOStreams) *cobra.Command {
	o := &SSHSetupOptions{
		NodeShellOptions: NewNodeShellOptions(streams),
		InstallPath:      "/usr/local/libexec/node-shell-authorized-keys",
		DropInDir:        "/etc/ssh/sshd_config.d",
		SSHDConfig:       "/etc/ssh/sshd_config",
		CacheDir:         sshkeys.DefaultCacheDir,
		HostKeys:         "/etc/ssh/ssh_host_*_key.pub",
		ReloadCommand:    "systemctl reload ssh.service 2>/dev/null || systemctl reload sshd.service",
	}
	cmd := &cobra.Command{
		Use:                   "setup [flags] NODE [--undo]",
		DisableFlagsInUseLine: true,
		Short:                 "Install (or --undo) node-shell-authorized-keys and its sshd drop-in on a node",
		Long:                  sshSetupLong,
		Example:               templatesName(sshSetupExample),
		SilenceUsage:          true,
		SilenceErrors:         true,
		RunE:                  completeValidateRun(o),
	}
	o.addPodFlags(cmd)
	f := cmd.Flags()
	f.StringVarP(&o.Selector, "selector", "l", "", "Set up every node this label selector matches (a fleet, through package fleet)")
	f.BoolVar(&o.All, "all", false, "Set up every node of the cluster")
	f.IntVar(&o.Parallel, "parallel", o.Parallel, "How many nodes of a fleet are set up at once")
	f.BoolVar(&o.Undo, "undo", false, "Remove what setup installed")
	f.StringVar(&o.Binary, "binary", "", "node-shell-authorized-keys built for the node's OS and architecture (default: node-shell-authorized-keys next to this plugin, if it fits the node)")
	f.StringVar(&o.InstallPath, "install-path", o.InstallPath, "Where the binary goes on the node")
	f.StringVar(&o.DropInDir, "drop-in-dir", o.DropInDir, "sshd's drop-in directory on the node (sshd_config must Include it, as Debian's and Ubuntu's do)")
	f.StringVar(&o.SSHDConfig, "sshd-config", o.SSHDConfig, "sshd's main config on the node, checked with sshd -t before the reload")
	f.StringVar(&o.KubeletKubeconfig, "kubelet-kubeconfig", "", "The kubelet's kubeconfig on the node (default: "+strings.Join(sshkeys.DefaultKubeconfigs, " or ")+")")
	f.StringVar(&o.CacheDir, "keys-cache-dir", o.CacheDir, "The root-only directory on the node where node-shell-authorized-keys caches keys")
	f.StringVar(&o.LogFile, "log-file", "", "A file on the node that also receives each decision (default: sshd's log only)")
	f.StringVar(&o.HostKeys, "host-keys", o.HostKeys, "Glob of the node's sshd public host keys, published on the Node")
	f.StringVar(&o.ReloadCommand, "reload-command", o.ReloadCommand, "Shell command, run on the node, that makes sshd reread its config")
	return cmd
}

// Complete resolves the clients for the node, or for the fleet that -l/--all select.
func (o *SSHSetupOptions) Complete(cmd *cobra.Command, args []string) error {
	fleet := o.Selector != "" || o.All
	switch {
	case fleet && len(args) > 0:
		return usageError(cmd, "give a node name or -l/--all, not both")
	case !fleet && len(args) != 1:
		return usageError(cmd, "name one node: kubectl node-shell ssh setup NODE (or -l SELECTOR / --all)")
	}
	o.keys = sshClient{configFlags: o.configFlags, IOStreams: o.IOStreams}
	if fleet {
		if err := o.NodeShellOptions.Complete(cmd, nil); err != nil {
			return err
		}
		o.Mode = string(podspec.ModeContainer)
		// What the pods record as their command, and what makes the fleet's check for one pass.
		o.Command = []string{"ssh", "setup"}
		o.Stdin = false // each node gets the binary, not node-shell's stdin
		o.fleetAction = o.setupOnNode
		o.keys.restConfig, o.keys.client, o.keys.serverClock = o.restConfig, o.client, o.serverClock
		return nil
	}
	if err := o.completeContainerSession(cmd, args[0]); err != nil {
		return err
	}
	return o.keys.complete(args[0])
}

// Validate checks the paths; the binary is read (and its architecture checked) in Run,
// once the node's is known.
func (o *SSHSetupOptions) Validate() error {
	if err := o.NodeShellOptions.Validate(); err != nil {
		return err
	}
	for name, p := range map[string]string{"--install-path": o.InstallPath, "--drop-in-dir": o.DropInDir, "--sshd-config": o.SSHDConfig, "--keys-cache-dir": o.CacheDir} {
		if !filepath.IsAbs(p) || strings.ContainsAny(p, " \t\n'\"\\$`") {
			return usageError(nil, "%s must be an absolute path without spaces or quotes, not %q", name, p)
		}
	}
	for name, p := range map[string]string{"--kubelet-kubeconfig": o.KubeletKubeconfig, "--log-file": o.LogFile} {
		if p != "" && (!filepath.IsAbs(p) || strings.ContainsAny(p, " \t\n'\"\\$`")) {
			return usageError(nil, "%s must be an absolute path without spaces or quotes, not %q", name, p)
		}
	}
	return nil
}

// dropIn is the sshd drop-in for the binary at InstallPath.
func (o *SSHSetupOptions) dropIn() string {
	args := []string{o.InstallPath}
	if o.KubeletKubeconfig != "" {
		args = append(args, "--kubeconfig", o.KubeletKubeconfig)
	}
	args = append(args, "--cache-dir", o.CacheDir)
	if o.LogFile != "" {
		args = append(args, "--log-file", o.LogFile)
	}
	return "# Written by kubectl node-shell ssh setup; `kubectl node-shell ssh setup NODE --undo` removes it.\n" +
		"AuthorizedKeysCommand " + strings.Join(args, " ") + " %u\n" +
		"AuthorizedKeysCommandUser root\n"
}

// setupScript runs in the session's container with the node's / at /host; the binary
// comes on stdin. Files are written next to their place and renamed, so sshd never runs
// half a binary; sshd -t checks the result before the reload, and a failing check takes
// the drop-in out again. The host keys are printed last, for the Node.
const setupScript = `set -eu
bin="/host$1"; dropin="/host$2/` + dropInName + `"; conf="$3"; sshd_config="$4"; reload="$5"; hostkeys="$6"; undo="$7"
host() { chroot /host /bin/sh -c "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin; $1"; }
if [ "$undo" = yes ]; then
  rm -f "$bin" "$dropin"
else
  mkdir -p "$(dirname "$bin")" "$(dirname "$dropin")"
  cat > "$bin.node-shell-tmp"; chmod 0755 "$bin.node-shell-tmp"; mv -f "$bin.node-shell-tmp" "$bin"
  printf '%s' "$conf" > "$dropin.node-shell-tmp"; chmod 0644 "$dropin.node-shell-tmp"; mv -f "$dropin.node-shell-tmp" "$dropin"
fi
if ! out=$(host "sshd -t -f $sshd_config" 2>&1); then
  [ "$undo" = yes ] || rm -f "$dropin"
  echo "sshd -t rejects the config: $out" >&2
  exit 3
fi
if ! out=$(host "$reload" 2>&1); then
  echo "reloading sshd failed: $out" >&2
  exit 4
fi
[ "$undo" = yes ] || host "cat $hostkeys" 2>/dev/null || true
`

// Run installs (or removes) through a session, then marks (or unmarks) the Node; with
// -l/--all, on each selected node through the fleet.
func (o *SSHSetupOptions) Run(ctx context.Context) error {
	if !o.Undo {
		var err error
		if o.binary, err = o.readBinary(); err != nil {
			return err
		}
	}
	if o.fleet {
		// Patch on every node: asked once, cluster-wide, before any pod.
		o.keys.Node = ""
		if err := o.keys.mayDo(ctx, "patch", "to mark the nodes set up for SSH"); err != nil {
			return err
		}
		return o.runFleet(ctx)
	}
	ctx, endSession := context.WithCancelCause(ctx)
	defer endSession(nil)
	reporter := newReporter(o.ErrOut, o.Quiet, o.Verbosity, endSession)
	defer reporter.Done()
	if err := o.keys.mayEditKeys(ctx); err != nil {
		return err
	}
	node, err := o.keys.getNode(ctx)
	if err != nil {
		return err
	}
	if err := o.checkArch(node); err != nil {
		return err
	}
	h, err := o.startContainerSession(ctx, reporter, []string{"ssh", "setup"}, session.ExecRequest{})
	if err != nil {
		return reporter.Explain(err)
	}
	defer h.Close()
	reporter.Progress("installing on node " + o.Node)
	status, err := o.installOn(ctx, o.keys, h)
	reporter.Progress("")
	if err != nil {
		return reporter.Explain(err)
	}
	if status != 0 {
		return &ExitStatusError{Status: status}
	}
	if !o.Undo {
		fmt.Fprintf(o.Out, "node %s: sshd takes keys from the Node object\n", o.Node)
	}
	return nil
}

// setupOnNode is the fleet's work on one node's session.
func (o *SSHSetupOptions) setupOnNode(ctx context.Context, node string, h fleet.Handle, st session.Streams, r session.Reporter) (int, error) {
	keys := o.keys
	keys.Node = node
	n, err := keys.getNode(ctx)
	if err != nil {
		return 0, err
	}
	if err := o.checkArch(n); err != nil {
		return 0, err
	}
	status, err := o.installOn(ctx, keys, h)
	if err == nil && status == 0 && !o.Undo {
		fmt.Fprintf(st.Out, "sshd takes keys from the Node object\n")
	}
	return status, err
}

// installOn runs the setup script in the session h on keys.Node and then marks (or, with
// --undo, unmarks) the Node. A failing script is an error that says why.
func (o *SSHSetupOptions) installOn(ctx context.Context, keys sshClient, h fleet.Handle) (int, error) {
	undo := "no"
	if o.Undo {
		undo = "yes"
	}
	command := []string{"sh", "-c", setupScript, "setup", o.InstallPath, o.DropInDir, o.dropIn(), o.SSHDConfig, o.ReloadCommand, o.HostKeys, undo}
	var stdout, stderr bytes.Buffer
	status, err := h.Exec(ctx, session.ExecRequest{Command: command, Terminal: session.Streams{In: bytes.NewReader(o.binary), Out: &stdout, ErrOut: &stderr}.Terminal()})
	if err != nil {
		return 0, err
	}
	if status != 0 {
		return 0, fmt.Errorf("ssh setup on node %s failed (status %d): %s", keys.Node, status, strings.TrimSpace(stderr.String()))
	}
	if o.Undo {
		return 0, keys.patchAnnotations(ctx, map[string]*string{sshkeys.EnabledAnnotation: nil, HostKeysAnnotation: nil})
	}
	enabled := keys.now().UTC().Format(time.RFC3339)
	marks := map[string]*string{sshkeys.EnabledAnnotation: &enabled, HostKeysAnnotation: nil}
	if hostKeys := publicHostKeys(stdout.String()); hostKeys != "" {
		marks[HostKeysAnnotation] = &hostKeys
	}
	return 0, keys.patchAnnotations(ctx, marks)
}

// publicHostKeys keeps each public key of out, as "TYPE BASE64" (comments dropped).
func publicHostKeys(out string) string {
	var keys []string
	for _, line := range strings.Split(out, "\n") {
		if pub, _, options, _, err := ssh.ParseAuthorizedKey([]byte(line)); err == nil && len(options) == 0 {
			keys = append(keys, strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub))))
		}
	}
	return strings.Join(keys, "\n")
}

// elfMachines are the node architectures the binary is released for.
var elfMachines = map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}

// readBinary reads --binary (or the node-shell-authorized-keys next to this plugin) and
// checks that it is a Linux executable of an architecture it is released for.
func (o *SSHSetupOptions) readBinary() ([]byte, error) {
	path := o.Binary
	if path == "" {
		self, err := os.Executable()
		if err != nil {
			return nil, errors.New("pass --binary: node-shell-authorized-keys for the nodes' architecture")
		}
		path = filepath.Join(filepath.Dir(self), "node-shell-authorized-keys")
	}
	f, err := elf.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%s is not a Linux executable (%v); pass --binary with node-shell-authorized-keys for linux/amd64 or linux/arm64 from the release", path, err)
	}
	o.binaryMachine = f.Machine
	f.Close()
	if !slices.Contains(slices.Collect(maps.Values(elfMachines)), o.binaryMachine) {
		return nil, fmt.Errorf("%s is built for %s; nodes need linux/amd64 or linux/arm64", path, o.binaryMachine)
	}
	o.binaryPath = path
	return os.ReadFile(path)
}

// checkArch refuses a node the binary was not built for (nothing to check for --undo).
func (o *SSHSetupOptions) checkArch(node *corev1.Node) error {
	if o.Undo {
		return nil
	}
	goos, arch := node.Status.NodeInfo.OperatingSystem, node.Status.NodeInfo.Architecture
	if want, ok := elfMachines[arch]; goos != "linux" || !ok {
		return fmt.Errorf("node %s is %s/%s; node-shell-authorized-keys is built for linux/amd64 and linux/arm64", node.Name, goos, arch)
	} else if want != o.binaryMachine {
		return fmt.Errorf("%s is built for %s, but node %s is linux/%s; pass --binary with the linux/%s build", o.binaryPath, o.binaryMachine, node.Name, arch, arch)
	}
	return nil
}
