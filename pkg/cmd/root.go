package cmd

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

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
	root.AddCommand(NewCmdConfig(streams))
	root.AddCommand(NewCmdAgent(streams), NewCmdSessions(streams), NewCmdReplay(streams))
	root.AddCommand(NewCmdSSH(streams), NewCmdSSHKey(streams))
	return root
}

// templatesName fills kubectl's %[1]s placeholder with how users invoke the plugin.
func templatesName(example string) string {
	return fmt.Sprintf(example, commandName)
}

// commandName is how the user invoked the plugin: "kubectl node-shell" from PATH as
// kubectl-node_shell, "kubectl nodeshell" when krew linked it under its krew name.
var commandName = invokedName(os.Args[0])

// invokedName turns an executable's name into the kubectl command that runs it, as kubectl
// maps kubectl-foo_bar to "kubectl foo-bar"; anything else (a test binary) is the default.
func invokedName(argv0 string) string {
	base := strings.TrimSuffix(filepath.Base(argv0), ".exe")
	plugin, ok := strings.CutPrefix(base, "kubectl-")
	if !ok || plugin == "" {
		return "kubectl node-shell"
	}
	return "kubectl " + strings.ReplaceAll(plugin, "_", "-")
}
