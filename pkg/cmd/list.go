package cmd

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/cli-runtime/pkg/printers"
	"k8s.io/kubectl/pkg/util/templates"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/leftover"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/podspec"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/termsafe"
)

var (
	listLong = templates.LongDesc(`
		List node-shell pods: who started them, from where, with which command, and whether
		their session is still alive.

		Every namespace you may list pods in is searched, unless -n names one. STATE is alive
		(the client renews the heartbeat), expired (the container stopped: no heartbeat, or the
		maximum lifetime), stale (no heartbeat, but the node has not reported the container
		stopped) or terminating. 'kubectl node-shell gc' removes all but the alive ones.`)

	listExample = templates.Examples(`
		# Show node-shell pods in every namespace you can see
		%[1]s list

		# Only in one namespace, as YAML
		%[1]s list -n kube-system -o yaml

		# With each session's mode and the pod it entered (pod/NAME targets)
		%[1]s list -o wide`)
)

// commandColumnWidth keeps long commands from pushing the STATE column off the screen.
const commandColumnWidth = 40

// ListOptions are the flags of `kubectl node-shell list`.
type ListOptions struct {
	scope *podScope
	genericiooptions.IOStreams
	PrintFlags *genericclioptions.JSONYamlPrintFlags
	Output     string

	// Now is the clock ages and states are judged by; nil means the apiserver's.
	Now func() time.Time
}

// NewListOptions returns options that print a table.
func NewListOptions(streams genericiooptions.IOStreams) *ListOptions {
	return &ListOptions{scope: newPodScope(), IOStreams: streams, PrintFlags: genericclioptions.NewJSONYamlPrintFlags()}
}

// NewCmdList returns `kubectl node-shell list`.
func NewCmdList(streams genericiooptions.IOStreams) *cobra.Command {
	o := NewListOptions(streams)
	cmd := &cobra.Command{
		Use:                   "list [-n NAMESPACE] [-o wide|json|yaml]",
		DisableFlagsInUseLine: true,
		Short:                 "List node-shell pods, their users and whether their sessions are alive",
		Long:                  listLong,
		Example:               templatesName(listExample),
		Args:                  cobra.NoArgs,
		ValidArgsFunction:     cobra.NoFileCompletions,
		SilenceUsage:          true,
		RunE: func(c *cobra.Command, args []string) error {
			if err := o.Complete(c); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return usageError(c, "%v", err)
			}
			return o.Run(c.Context())
		},
	}
	o.AddFlags(cmd)
	return cmd
}

// AddFlags puts --output and the kubeconfig flags on cmd.
func (o *ListOptions) AddFlags(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&o.Output, "output", "o", o.Output, "One of 'wide' (the table with each session's mode and target pod), 'json' or 'yaml' (default: a table)")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"wide", "json", "yaml"}, cobra.ShellCompDirectiveNoFileComp))
	o.PrintFlags.AddFlags(cmd)
	o.scope.configFlags.AddFlags(cmd.Flags())
}

// Complete resolves the kubeconfig and the clock.
func (o *ListOptions) Complete(cmd *cobra.Command) error {
	if o.Now == nil {
		o.Now = o.scope.serverNow
	}
	return o.scope.complete(cmd)
}

// Validate checks --output.
func (o *ListOptions) Validate() error {
	switch o.Output {
	case "", "wide", "json", "yaml":
		return nil
	}
	return fmt.Errorf("--output must be 'wide', 'json' or 'yaml', not %q", o.Output)
}

// Run prints the node-shell pods in scope.
func (o *ListOptions) Run(ctx context.Context) error {
	found, err := o.scope.find(ctx, o.ErrOut)
	if err != nil {
		return err
	}
	if o.Output != "" && o.Output != "wide" {
		return o.printObject(podList(found.Pods))
	}
	agentRows := o.scope.agentSessions(ctx, o.ErrOut)
	if len(found.Pods) == 0 && len(agentRows) == 0 {
		fmt.Fprintln(o.ErrOut, "No node-shell pods found.")
		return nil
	}
	table := listTable(found.Pods, o.Now())
	addAgentRows(table, agentRows)
	return printers.NewTablePrinter(printers.PrintOptions{Wide: o.Output == "wide"}).PrintObj(table, o.Out)
}

// printObject prints obj as -o asks, through kubectl's JSON printer, then escapes what the
// printers leave raw (DEL, C1 controls, bidi overrides) as JSON or YAML escapes: the same
// data (see termsafe.JSON and termsafe.YAML). kubectl's YAML printer even fails on DEL and
// C1, which would let anyone who may annotate a pod hide it from -o yaml.
func (o *ListOptions) printObject(obj runtime.Object) error {
	printer, err := o.PrintFlags.ToPrinter("json")
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := printer.PrintObj(obj, &buf); err != nil {
		return err
	}
	var data []byte
	if o.Output == "yaml" {
		if data, err = termsafe.YAML(buf.Bytes()); err != nil {
			return err
		}
	} else {
		data = termsafe.JSON(buf.Bytes())
	}
	_, err = o.Out.Write(data)
	return err
}

// podList is the pods as kubectl prints a list: a v1 List of v1 Pods.
func podList(pods []corev1.Pod) *metav1.List {
	list := &metav1.List{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "List"}}
	for i := range pods {
		p := pods[i].DeepCopy()
		p.APIVersion, p.Kind = "v1", "Pod"
		list.Items = append(list.Items, runtime.RawExtension{Object: p})
	}
	return list
}

// listTable is the table `list` prints, one row per pod, judged as of now. Annotations are
// anyone's who may patch the pod, so they are escaped (termsafe.String: tabs too, which
// would shift the columns).
func listTable(pods []corev1.Pod, now time.Time) *metav1.Table {
	t := &metav1.Table{ColumnDefinitions: []metav1.TableColumnDefinition{
		{Name: "Node", Type: "string"},
		{Name: "Namespace/Name", Type: "string"},
		{Name: "User", Type: "string"},
		{Name: "Age", Type: "string"},
		{Name: "Command", Type: "string"},
		{Name: "State", Type: "string"},
		{Name: "Mode", Type: "string", Priority: 1},
		{Name: "Target", Type: "string", Priority: 1},
	}}
	ageNow := now
	if ageNow.IsZero() { // the apiserver's time is unknown: ages by the local clock, states by neither
		ageNow = time.Now()
	}
	for i := range pods {
		p := &pods[i]
		t.Rows = append(t.Rows, metav1.TableRow{Cells: []any{
			termsafe.String(orDefault(podNode(p), "<none>")),
			p.Namespace + "/" + p.Name,
			orDefault(termsafe.String(p.Annotations[podspec.AnnotationUser]), "<unknown>"),
			duration.HumanDuration(ageNow.Sub(p.CreationTimestamp.Time)),
			commandOf(p),
			string(leftover.Judge(p, now).State),
			orDefault(termsafe.String(p.Annotations[podspec.AnnotationMode]), "<unknown>"),
			targetOf(p),
		}})
	}
	return t
}

// commandOf is the pod's command for the table, escaped, then cut to commandColumnWidth.
func commandOf(p *corev1.Pod) string {
	c, ok := p.Annotations[podspec.AnnotationCommand]
	switch {
	case !ok:
		return "<unknown>"
	case c == "":
		return "<login shell>"
	}
	c = termsafe.String(c)
	if r := []rune(c); len(r) > commandColumnWidth {
		c = string(r[:commandColumnWidth-1]) + "…"
	}
	return c
}

// targetOf is the pod a session entered (NAMESPACE/POD/CONTAINER), escaped, or <node> for a
// session on the node itself.
func targetOf(p *corev1.Pod) string {
	if t, ok := p.Annotations[podspec.AnnotationTargetPod]; ok {
		return termsafe.String(t)
	}
	return "<node>"
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
