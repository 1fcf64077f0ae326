package cmd

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/kubectl/pkg/util/templates"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/podspec"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/userconfig"
)

var (
	configLong = templates.LongDesc(`
		View and edit node-shell's defaults, per kubeconfig context.

		The file is ~/.kube/node-shell.yaml, or $KUBECTL_NODE_SHELL_CONFIG. Its default entry
		applies in every context; a context's entry wins field by field (labels and
		annotations key by key; both entries' overrides apply, the context's last). Flags
		win over the file, and $KUBECTL_NODE_SHELL_IMAGE over its image.

		Keys: image, namespace, imagePullSecrets (comma-separated), priorityClass, overrides
		(a JSON or YAML patch of the session pod, as --overrides), labels.KEY, annotations.KEY.
		Without --context, set and unset edit the default entry.`)

	configExample = templates.Examples(`
		# The image and pull secret of a cluster that mirrors Docker Hub
		%[1]s config set image=registry.corp/busybox:1.37 imagePullSecrets=regcred --context prod

		# A label and CPU/memory limits its admission policy requires
		%[1]s config set labels.team=sre --context prod
		%[1]s config set overrides='{"spec":{"containers":[{"name":"shell","resources":{"limits":{"cpu":"500m","memory":"256Mi"}}}]}}' --context prod

		# What the file holds, and a key removed
		%[1]s config view
		%[1]s config unset labels.team --context prod`)
)

// ConfigOptions are the flags of `kubectl node-shell config`.
type ConfigOptions struct {
	genericiooptions.IOStreams
	Context string
	Getenv  func(string) string
}

// NewCmdConfig returns `kubectl node-shell config view|set|unset`.
func NewCmdConfig(streams genericiooptions.IOStreams) *cobra.Command {
	o := &ConfigOptions{IOStreams: streams, Getenv: os.Getenv}
	cmd := &cobra.Command{
		Use:                   "config (view | set KEY=VALUE... | unset KEY...) [--context NAME]",
		DisableFlagsInUseLine: true,
		Short:                 "View and edit node-shell's defaults per kubeconfig context (~/.kube/node-shell.yaml)",
		Long:                  configLong,
		Example:               templatesName(configExample),
		SilenceUsage:          true,
		Args:                  cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			return usageError(c, "name a subcommand: view, set or unset")
		},
	}
	view := &cobra.Command{
		Use:               "view",
		Short:             "Print the config file",
		Args:              cobra.NoArgs,
		ValidArgsFunction: cobra.NoFileCompletions,
		SilenceUsage:      true,
		RunE:              func(c *cobra.Command, _ []string) error { return o.View() },
	}
	set := &cobra.Command{
		Use:               "set KEY=VALUE... [--context NAME]",
		Short:             "Set keys in the default entry, or in a context's",
		ValidArgsFunction: cobra.NoFileCompletions,
		SilenceUsage:      true,
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageError(c, "name what to set: KEY=VALUE, KEY one of %s", strings.Join(userconfig.Keys, ", "))
			}
			return o.Edit(c, args, true)
		},
	}
	unset := &cobra.Command{
		Use:               "unset KEY... [--context NAME]",
		Short:             "Remove keys from the default entry, or from a context's",
		ValidArgsFunction: cobra.NoFileCompletions,
		SilenceUsage:      true,
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageError(c, "name what to unset: one of %s", strings.Join(userconfig.Keys, ", "))
			}
			return o.Edit(c, args, false)
		},
	}
	for _, sub := range []*cobra.Command{set, unset} {
		sub.Flags().StringVar(&o.Context, "context", o.Context, "The kubeconfig context whose entry to edit (default: the entry for every context)")
	}
	cmd.AddCommand(view, set, unset)
	return cmd
}

// View prints the file as it is parsed (so a malformed one is reported, not echoed).
func (o *ConfigOptions) View() error {
	path, f, err := o.load()
	if err != nil {
		return err
	}
	data, err := f.Marshal()
	if err != nil {
		return err
	}
	fmt.Fprintf(o.ErrOut, "# %s\n", path)
	if strings.TrimSpace(string(data)) == "{}" {
		return nil
	}
	_, err = o.Out.Write(data)
	return err
}

// Edit sets (KEY=VALUE) or unsets (KEY) args in one entry, checks the result as a session
// would read it, and saves it atomically.
func (o *ConfigOptions) Edit(c *cobra.Command, args []string, set bool) error {
	path, f, err := o.load()
	if err != nil {
		return err
	}
	for _, arg := range args {
		if set {
			key, value, ok := strings.Cut(arg, "=")
			if !ok {
				return usageError(c, "%q: want KEY=VALUE", arg)
			}
			err = f.Set(o.Context, key, value)
		} else {
			err = f.Unset(o.Context, arg)
		}
		if err != nil {
			return usageError(c, "%v", err)
		}
	}
	if err := checkEntry(path, f, o.Context); err != nil {
		return err
	}
	if err := userconfig.Save(path, f); err != nil {
		return err
	}
	entry := "the default entry"
	if o.Context != "" {
		entry = "context " + o.Context
	}
	fmt.Fprintf(o.ErrOut, "%s: %s updated\n", path, entry)
	return nil
}

func (o *ConfigOptions) load() (string, *userconfig.File, error) {
	path, err := userconfig.Path(o.Getenv)
	if err != nil {
		return "", nil, err
	}
	f, err := userconfig.Load(path)
	return path, f, err
}

// checkEntry refuses a value no session could use: labels, annotations and overrides as a
// session judges them (a pod built with them), so the file never holds what would be
// refused at every start.
func checkEntry(path string, f *userconfig.File, ctx string) error {
	r, err := f.Resolve(path, ctx)
	if err != nil {
		return err
	}
	ov := podspec.Overrides{Labels: r.Labels, Annotations: r.Annotations}
	for i, data := range r.Overrides {
		p, err := podspec.ParsePatch(r.Sources[i]+" overrides", data)
		if err != nil {
			return err
		}
		ov.Patches = append(ov.Patches, p)
	}
	if _, err := podspec.Build(podspec.Spec{Node: "node", Overrides: ov}); err != nil {
		return err
	}
	return nil
}
