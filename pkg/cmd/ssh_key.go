package cmd

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/kubectl/pkg/util/templates"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/session"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/sshkeys"
)

var sshKeyExample = templates.Examples(`
		# Let your own key in as root for 30 days (for ssh, scp, rsync, Ansible)
		%[1]s ssh-key add NODE --public-key ~/.ssh/id_ed25519.pub --ttl 720h

		# The keys on a node, and removing one
		%[1]s ssh-key list NODE
		%[1]s ssh-key remove NODE k-0123456789ab`)

// NewCmdSSHKey returns `kubectl node-shell ssh-key add|list|remove`.
func NewCmdSSHKey(streams genericiooptions.IOStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ssh-key",
		Short: "Add, list and remove long-lived SSH keys kept on Node objects",
		Long: templates.LongDesc(`
			Manage the SSH keys that a node's sshd takes from its Node object (see 'ssh' and
			docs/ssh.md): one annotation ssh.node-shell.io/key-ID per key, with the login user
			and an expiry judged by the node's clock. Adding and removing need patch on the node.`),
		Example:       templatesName(sshKeyExample),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	cmd.AddCommand(newCmdSSHKeyAdd(streams), newCmdSSHKeyList(streams), newCmdSSHKeyRemove(streams))
	return cmd
}

// SSHKeyAddOptions are the flags of `ssh-key add`.
type SSHKeyAddOptions struct {
	sshClient
	PublicKeyFile string
	User          string
	TTL           time.Duration
	ID            string

	publicKey string
}

func newCmdSSHKeyAdd(streams genericiooptions.IOStreams) *cobra.Command {
	o := &SSHKeyAddOptions{sshClient: newSSHClient(streams), User: "root", TTL: 24 * time.Hour}
	cmd := &cobra.Command{
		Use:           "add NODE --public-key FILE [--login USER] [--ttl DURATION] [--id ID]",
		Short:         "Add a public key to a node; prints its id",
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError(c, "name one node: kubectl node-shell ssh-key add NODE --public-key FILE")
			}
			if err := o.complete(args[0]); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(c.Context())
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.PublicKeyFile, "public-key", "f", "", "The public key, in authorized_keys form (a .pub file; - for stdin)")
	f.StringVarP(&o.User, "login", "l", o.User, "User the key logs in as")
	f.DurationVar(&o.TTL, "ttl", o.TTL, "How long the key works, from now by the apiserver's clock; 0 for no expiry")
	f.StringVar(&o.ID, "id", "", "Name of the key on the node (default: from the key's hash, so adding a key again replaces it)")
	addKubeFlags(cmd, &o.sshClient)
	return cmd
}

// Validate reads and checks the key; nothing is sent before it passes.
func (o *SSHKeyAddOptions) Validate() error {
	if o.PublicKeyFile == "" {
		return usageError(nil, "--public-key FILE is required (for example ~/.ssh/id_ed25519.pub)")
	}
	var data []byte
	var err error
	if o.PublicKeyFile == "-" {
		data, err = io.ReadAll(io.LimitReader(o.In, 64*1024))
	} else {
		data, err = os.ReadFile(o.PublicKeyFile)
	}
	if err != nil {
		return fmt.Errorf("reading the public key: %w", err)
	}
	o.publicKey = strings.TrimSpace(string(data))
	if strings.Contains(o.publicKey, "PRIVATE KEY") {
		return usageError(nil, "%s is a private key: give the .pub file", o.PublicKeyFile)
	}
	if o.TTL < 0 {
		return usageError(nil, "--ttl must be positive, or 0 for no expiry")
	}
	if o.ID == "" {
		o.ID = defaultKeyID(o.publicKey)
	}
	_, err = o.key(time.Now())
	if err != nil {
		return usageError(nil, "%v", err)
	}
	return nil
}

func (o *SSHKeyAddOptions) key(now time.Time) (sshkeys.Key, error) {
	var expires *time.Time
	if o.TTL > 0 {
		t := now.Add(o.TTL)
		expires = &t
	}
	return sshkeys.NewKey(o.ID, o.User, expires, o.publicKey, "")
}

// Run checks access, then adds the key; it warns when the node has not opted in.
func (o *SSHKeyAddOptions) Run(ctx context.Context) error {
	if err := o.mayEditKeys(ctx); err != nil {
		return err
	}
	node, err := o.getNode(ctx)
	if err != nil {
		return err
	}
	if err := optedIn(node); err != nil {
		fmt.Fprintf(o.ErrOut, "warning: %v (the key is kept, and works once it has)\n", err)
	}
	k, err := o.key(o.now())
	if err != nil {
		return err
	}
	k.AddedBy = session.WhoAmI(ctx, o.client)
	if err := o.putKey(ctx, k); err != nil {
		return err
	}
	fmt.Fprintln(o.Out, k.ID)
	return nil
}

func newCmdSSHKeyList(streams genericiooptions.IOStreams) *cobra.Command {
	c := newSSHClient(streams)
	cmd := &cobra.Command{
		Use:           "list NODE",
		Short:         "List the keys on a node: id, user, expiry, fingerprint, who added it",
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError(cmd, "name one node: kubectl node-shell ssh-key list NODE")
			}
			if err := c.complete(args[0]); err != nil {
				return err
			}
			node, err := c.getNode(cmd.Context())
			if err != nil {
				return err
			}
			keys, errs := sshkeys.ParseAll(node.Annotations)
			now := c.now()
			w := tabwriter.NewWriter(c.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "ID\tUSER\tEXPIRES\tFINGERPRINT\tADDED BY")
			for _, k := range keys {
				expires := "never"
				if k.Expires != nil {
					expires = k.Expires.UTC().Format(time.RFC3339)
					if k.Expired(now) {
						expires += " (expired)"
					}
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", k.ID, k.User, expires, k.Fingerprint(), orNone(k.AddedBy))
			}
			w.Flush()
			for _, err := range errs {
				fmt.Fprintf(c.ErrOut, "warning: %v (the node ignores it)\n", err)
			}
			return nil
		},
	}
	addKubeFlags(cmd, &c)
	return cmd
}

func orNone(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func newCmdSSHKeyRemove(streams genericiooptions.IOStreams) *cobra.Command {
	c := newSSHClient(streams)
	cmd := &cobra.Command{
		Use:           "remove NODE ID...",
		Short:         "Remove keys from a node",
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) < 2 {
				return usageError(cmd, "name a node and the ids to remove: kubectl node-shell ssh-key remove NODE ID...")
			}
			if err := c.complete(args[0]); err != nil {
				return err
			}
			for _, id := range args[1:] {
				if err := sshkeys.ValidateID(id); err != nil {
					return usageError(cmd, "%v", err)
				}
			}
			ctx := cmd.Context()
			if err := c.mayEditKeys(ctx); err != nil {
				return err
			}
			node, err := c.getNode(ctx)
			if err != nil {
				return err
			}
			for _, id := range args[1:] {
				if _, ok := node.Annotations[sshkeys.KeyPrefix+id]; !ok {
					return fmt.Errorf("node %s has no key %s; `kubectl node-shell ssh-key list %s` shows its keys", c.Node, id, c.Node)
				}
			}
			return c.removeKeys(ctx, args[1:]...)
		},
	}
	addKubeFlags(cmd, &c)
	return cmd
}
