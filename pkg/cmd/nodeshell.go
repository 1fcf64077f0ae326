// Package cmd holds the cobra commands of kubectl node-shell. Each command has an Options
// type with Complete (resolve flags and clients), Validate (judge, no API calls) and Run.
package cmd

import (
	"context"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/kubectl/pkg/util/templates"
)

var (
	nodeShellLong = templates.LongDesc(`
		Open a root shell, or run one command, on a Kubernetes node.

		node-shell creates a short-lived privileged pod pinned to the node (host PID, network
		and IPC namespaces, the node's / at /host, tolerating every taint), execs into it
		through the pods/exec API, and deletes the pod when the session ends. Your Kubernetes
		RBAC decides who gets in; no SSH keys are involved.

		The exit status is the remote command's. node-shell's own failures exit with 255, and a
		session ended by a signal exits with 128 + the signal's number.

		With several nodes, -l SELECTOR or --all, the command runs on every node, --parallel at
		a time: stdin goes to each node, output lines are prefixed with the node's name, and a
		summary follows on stderr. The exit status is 0 when the command exited 0 everywhere,
		255 when node-shell could not run it on some node, else the highest status it exited with.`)

	nodeShellExample = templates.Examples(`
		# Open an interactive login shell on a node
		%[1]s NODE

		# Run one command; its output goes to stdout and its exit status is node-shell's
		%[1]s NODE -- journalctl -u kubelet -n 50

		# Copy a directory to the node through stdin
		tar c ./dir | %[1]s NODE -- tar x -C /tmp

		# Join the namespaces of the node's PID 1 instead of chroot (SELinux, immutable distros)
		%[1]s --nsenter NODE

		# Stay in the container, with the node's filesystem at /host (tools the node lacks)
		%[1]s --mode container --image my-registry/toolbox:1.0 NODE

		# Run a script on every node of a pool, each node's output in its own files
		%[1]s -l pool=gpu --output-dir ./out -- sh < check.sh`)
)

// NewCmdNodeShell returns the root command: `kubectl node-shell NODE [-- COMMAND [ARGS...]]`.
func NewCmdNodeShell(streams genericiooptions.IOStreams) *cobra.Command {
	o := NewNodeShellOptions(streams)
	cmd := &cobra.Command{
		Use:                   "node-shell NODE [-- COMMAND [args...]] | (NODE... | -l SELECTOR | --all) -- COMMAND [args...]",
		DisableFlagsInUseLine: true,
		Short:                 "Open a root shell or run a command on a Kubernetes node",
		Long:                  nodeShellLong,
		Example:               templatesName(nodeShellExample),
		Annotations:           map[string]string{cobra.CommandDisplayNameAnnotation: commandName},
		SilenceUsage:          true,
		SilenceErrors:         true,
		RunE:                  completeValidateRun(o),
	}
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError(c, "%v", err) })
	o.AddFlags(cmd)
	o.registerCompletions(cmd)
	return cmd
}

// sessionOptions follow kubectl's lifecycle: Complete resolves, Validate judges, Run acts.
type sessionOptions interface {
	Complete(c *cobra.Command, args []string) error
	Validate() error
	Run(ctx context.Context) error
}

// completeValidateRun is the RunE of a command whose options are sessionOptions.
func completeValidateRun(o sessionOptions) func(*cobra.Command, []string) error {
	return func(c *cobra.Command, args []string) error {
		if err := o.Complete(c, args); err != nil {
			return err
		}
		if err := o.Validate(); err != nil {
			return err
		}
		return o.Run(c.Context())
	}
}
