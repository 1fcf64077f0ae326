package cmd

import (
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/version"
)

// NewCmdRoot is the whole command tree: the session command with its subcommands.
func NewCmdRoot(streams genericiooptions.IOStreams) *cobra.Command {
	root := NewCmdNodeShell(streams)
	// With subcommands, cobra would take NODE for an unknown subcommand; the session
	// command checks its own arguments.
	root.Args = cobra.ArbitraryArgs
	root.Version = version.Get().String()
	root.SetVersionTemplate("{{.Version}}\n")
	root.AddCommand(NewCmdVersion(streams), NewCmdCompletion(streams))
	root.AddCommand(NewCmdList(streams), NewCmdGC(streams), NewCmdSetup(streams))
	root.AddCommand(NewCmdCp(streams), NewCmdPortForward(streams))
	return root
}

// templatesName fills kubectl's %[1]s placeholder with how users invoke the plugin.
func templatesName(example string) string {
	return fmt.Sprintf(example, "kubectl node-shell")
}
