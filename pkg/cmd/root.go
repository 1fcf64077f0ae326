package cmd

import (
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
)

// NewCmdRoot is the whole command tree: the session command with its subcommands.
func NewCmdRoot(streams genericiooptions.IOStreams) *cobra.Command {
	root := NewCmdNodeShell(streams)
	return root
}

// templatesName fills kubectl's %[1]s placeholder with how users invoke the plugin.
func templatesName(example string) string {
	return fmt.Sprintf(example, "kubectl node-shell")
}
