package cmd

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/kubectl/pkg/util/templates"
)

// binaryName is the plugin's executable, the program a shell completes when it is run directly.
const binaryName = "kubectl-node_shell"

var (
	completionLong = templates.LongDesc(`
		Print a shell completion script for kubectl-node_shell.

		Through kubectl (kubectl 1.26 or newer, with kubectl's own completion set up), nothing
		is generated: put the kubectl_complete-node_shell helper (shipped next to the plugin,
		or one line: exec kubectl node-shell __complete "$@") on your PATH, and kubectl
		completes 'kubectl node-shell <TAB>' with node names and flag values.

		The scripts printed here are for running the plugin binary directly, as
		kubectl-node_shell. They ask the binary itself, so node names come from the cluster
		your kubeconfig flags point at.`)

	completionExample = templates.Examples(`
		# Bash, for this shell (needs the bash-completion package)
		source <(kubectl-node_shell completion bash)

		# Zsh, for every new shell
		kubectl-node_shell completion zsh > "${fpath[1]}/_kubectl-node_shell"

		# Fish
		kubectl-node_shell completion fish > ~/.config/fish/completions/kubectl-node_shell.fish

		# PowerShell
		kubectl-node_shell completion powershell | Out-String | Invoke-Expression`)
)

// completionShells maps each supported shell to its script generator.
var completionShells = map[string]func(root *cobra.Command, out io.Writer) error{
	"bash":       func(root *cobra.Command, out io.Writer) error { return root.GenBashCompletionV2(out, true) },
	"zsh":        func(root *cobra.Command, out io.Writer) error { return root.GenZshCompletion(out) },
	"fish":       func(root *cobra.Command, out io.Writer) error { return root.GenFishCompletion(out, true) },
	"powershell": func(root *cobra.Command, out io.Writer) error { return root.GenPowerShellCompletionWithDesc(out) },
}

// NewCmdCompletion returns `kubectl node-shell completion SHELL`. Defining it also keeps
// cobra from adding its default completion command, whose help speaks of the wrong program.
func NewCmdCompletion(streams genericiooptions.IOStreams) *cobra.Command {
	return &cobra.Command{
		Use:                   "completion bash|zsh|fish|powershell",
		DisableFlagsInUseLine: true,
		Short:                 "Print a shell completion script",
		Long:                  completionLong,
		Example:               completionExample,
		ValidArgs:             []string{"bash", "zsh", "fish", "powershell"},
		Args: func(c *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError(c, "name one shell: bash, zsh, fish or powershell")
			}
			if _, ok := completionShells[args[0]]; !ok {
				return usageError(c, "unsupported shell %q: use bash, zsh, fish or powershell", args[0])
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			root := c.Root()
			// The scripts name the program they complete after the root command; users type
			// the binary's name, not the plugin's.
			root.Use = binaryName
			if err := completionShells[args[0]](root, streams.Out); err != nil {
				return fmt.Errorf("generate %s completion: %w", args[0], err)
			}
			return nil
		},
	}
}
