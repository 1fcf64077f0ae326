package cmd

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/kubectl/pkg/util/templates"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/version"
)

var versionExample = templates.Examples(`
	# Print the version of the plugin
	%[1]s version

	# The same, for scripts
	%[1]s version -o json`)

// VersionOptions are the flags of `kubectl node-shell version`.
type VersionOptions struct {
	genericiooptions.IOStreams

	Output string

	// Info is the report to print; Complete fills it with version.Get() when zero.
	Info version.Info
}

// NewVersionOptions returns options that print the human-readable form.
func NewVersionOptions(streams genericiooptions.IOStreams) *VersionOptions {
	return &VersionOptions{IOStreams: streams}
}

// NewCmdVersion returns `kubectl node-shell version`. It talks to no cluster: the server's
// version is `kubectl version`'s business.
func NewCmdVersion(streams genericiooptions.IOStreams) *cobra.Command {
	o := NewVersionOptions(streams)
	cmd := &cobra.Command{
		Use:                   "version [-o json|yaml]",
		DisableFlagsInUseLine: true,
		Short:                 "Print the version of kubectl node-shell",
		Example:               templatesName(versionExample),
		Args:                  cobra.NoArgs,
		ValidArgsFunction:     cobra.NoFileCompletions,
		RunE: func(c *cobra.Command, args []string) error {
			o.Complete()
			if err := o.Validate(); err != nil {
				return usageError(c, "%v", err)
			}
			return o.Run()
		},
	}
	o.AddFlags(cmd)
	return cmd
}

// AddFlags puts --output on cmd, with its completion.
func (o *VersionOptions) AddFlags(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&o.Output, "output", "o", o.Output, "One of 'json' or 'yaml' (default: human-readable)")
	_ = cmd.RegisterFlagCompletionFunc("output", prefixCompletions([]cobra.Completion{"json", "yaml"}))
}

// Complete reads the build's version.
func (o *VersionOptions) Complete() {
	if o.Info == (version.Info{}) {
		o.Info = version.Get()
	}
}

// Validate checks --output.
func (o *VersionOptions) Validate() error {
	switch o.Output {
	case "", "json", "yaml":
		return nil
	}
	return fmt.Errorf("--output must be 'json' or 'yaml', not %q", o.Output)
}

// Run prints the report.
func (o *VersionOptions) Run() error {
	var out []byte
	var err error
	switch o.Output {
	case "json":
		out, err = json.MarshalIndent(o.Info, "", "  ")
		out = append(out, '\n')
	case "yaml":
		out, err = yaml.Marshal(o.Info)
	default:
		i := o.Info
		out = fmt.Appendf(nil, "Version:   %s\nCommit:    %s\nDate:      %s\nGo:        %s\nPlatform:  %s\n",
			i.Version, orUnknown(i.Commit), orUnknown(i.Date), i.GoVersion, i.Platform)
	}
	if err != nil {
		return fmt.Errorf("print version: %w", err)
	}
	_, err = o.Out.Write(out)
	return err
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
