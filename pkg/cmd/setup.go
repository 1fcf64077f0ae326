package cmd

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/cli-runtime/pkg/printers"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/kubectl/pkg/util/templates"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/clustersetup"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/diagnose"
)

var (
	setupLong = templates.LongDesc(`
		Make a namespace that only node admins can enter, and send sessions there.

		A session's pod is privileged, with the node's / at /host: whoever may exec into,
		attach to or patch pods in its namespace can take it over. setup, run once by a
		cluster admin, applies (server-side, idempotent) a namespace "node-shell" that allows
		privileged pods, a Role there with exactly what a session needs, bound to the node
		admins you name, a ClusterRole to get nodes and that namespace, and, where the cluster
		serves ValidatingAdmissionPolicy (Kubernetes 1.30+), a policy under which each
		session's pod names its creator and nobody else may change it. Once it exists,
		sessions go there unless -n names another namespace.

		Run it again with the full list of node admins to change them: the bindings name
		exactly the subjects of the last run.`)

	setupExample = templates.Examples(`
		# Let the members of group node-admins, and alice, open sessions
		%[1]s setup --group node-admins --user alice

		# Review the objects first, without sending anything
		%[1]s setup --group node-admins --dry-run=client -o yaml

		# Ask the cluster what would change (admission included), changing nothing
		%[1]s setup --group node-admins --dry-run=server`)
)

// Dry-run strategies, named as kubectl's --dry-run values.
const (
	dryRunNone   = "none"
	dryRunClient = "client"
	dryRunServer = "server"
)

// SetupOptions are the flags and resolved state of `kubectl node-shell setup`.
type SetupOptions struct {
	configFlags *genericclioptions.ConfigFlags
	genericiooptions.IOStreams
	PrintFlags *genericclioptions.JSONYamlPrintFlags

	Groups        []string
	Users         []string
	RequireReason bool
	DryRun        string
	Output        string
	Verbosity     int

	// Derived in Complete; no clients for --dry-run=client, which sends nothing.
	server    string
	client    kubernetes.Interface
	dynamic   dynamic.Interface
	discovery discovery.DiscoveryInterface
	warnings  *apiWarnings
}

// NewSetupOptions returns options that apply for real.
func NewSetupOptions(streams genericiooptions.IOStreams) *SetupOptions {
	flags := genericclioptions.NewConfigFlags(true)
	flags.Namespace = nil // setup's namespace is its own: no -n
	// --user names a node admin, as in kubectl create rolebinding, where it also shadows
	// the kubeconfig user flag.
	flags.AuthInfoName = nil
	return &SetupOptions{configFlags: flags, IOStreams: streams, PrintFlags: genericclioptions.NewJSONYamlPrintFlags(), DryRun: dryRunNone}
}

// NewCmdSetup returns `kubectl node-shell setup`.
func NewCmdSetup(streams genericiooptions.IOStreams) *cobra.Command {
	o := NewSetupOptions(streams)
	cmd := &cobra.Command{
		Use:                   "setup (--group GROUP | --user USER)... [--dry-run=none|client|server] [-o yaml|json]",
		DisableFlagsInUseLine: true,
		Short:                 "Make the namespace only node admins can enter, where sessions run (once, by a cluster admin)",
		Long:                  setupLong,
		Example:               templatesName(setupExample),
		ValidArgsFunction:     cobra.NoFileCompletions,
		SilenceUsage:          true,
		Args: func(c *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageError(c, "setup takes no arguments, got %q: name the node admins with --group or --user", args[0])
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			if err := o.Complete(); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return usageError(c, "%v", err)
			}
			return o.Run(c.Context())
		},
	}
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError(c, "%v", err) })
	o.AddFlags(cmd)
	return cmd
}

// AddFlags puts setup's flags and the kubeconfig flags (but -n and --user) on cmd.
func (o *SetupOptions) AddFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringArrayVar(&o.Groups, "group", o.Groups, "A group of node admins, who may open sessions (repeatable)")
	f.StringArrayVar(&o.Users, "user", o.Users, "A node admin, who may open sessions (repeatable)")
	f.BoolVar(&o.RequireReason, "require-reason", o.RequireReason, "Make node-shell refuse a session without --reason (an annotation on the namespace; docs/examples/node-shell-require-reason.yaml enforces it by admission)")
	f.StringVar(&o.DryRun, "dry-run", o.DryRun, `"none" applies; "client" prints the objects and sends nothing; "server" asks the cluster what would change and changes nothing`)
	f.StringVarP(&o.Output, "output", "o", o.Output, "Print the objects as 'yaml' or 'json' instead of one line each")
	f.IntVarP(&o.Verbosity, "v", "v", o.Verbosity, "Verbosity: 1 adds details to errors")
	_ = cmd.RegisterFlagCompletionFunc("dry-run", cobra.FixedCompletions([]string{dryRunNone, dryRunClient, dryRunServer}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"yaml", "json"}, cobra.ShellCompDirectiveNoFileComp))
	o.configFlags.AddFlags(f)
}

// Validate judges the flags without talking to the cluster; each failure is one sentence.
func (o *SetupOptions) Validate() error {
	if len(o.Groups)+len(o.Users) == 0 {
		return errors.New("name the node admins, who may open sessions: --group GROUP or --user USER (repeatable)")
	}
	for _, s := range append(append([]string{}, o.Groups...), o.Users...) {
		if strings.TrimSpace(s) == "" {
			return errors.New("--group and --user need a name")
		}
	}
	switch o.DryRun {
	case dryRunNone, dryRunClient, dryRunServer:
	default:
		return fmt.Errorf(`--dry-run must be "none", "client" or "server", not %q`, o.DryRun)
	}
	switch o.Output {
	case "", "yaml", "json":
	default:
		return fmt.Errorf("--output must be 'yaml' or 'json', not %q", o.Output)
	}
	return nil
}

// Complete builds the clients, sending no request; --dry-run=client needs none, nor a
// kubeconfig.
func (o *SetupOptions) Complete() error {
	if o.DryRun == dryRunClient || o.client != nil {
		return nil
	}
	config, err := o.configFlags.ToRESTConfig()
	if err != nil {
		return diagnose.KubeconfigProblem(err)
	}
	o.server = config.Host
	// Up to three requests per object, one after another: client-go's default rate limit
	// (5 per second after a burst of 10) would make them wait most of a second.
	config.QPS, config.Burst = 50, 100
	o.warnings = &apiWarnings{}
	config.WarningHandler = o.warnings
	if o.client, err = kubernetes.NewForConfig(config); err != nil {
		return diagnose.KubeconfigProblem(err)
	}
	if o.dynamic, err = dynamic.NewForConfig(config); err != nil {
		return diagnose.KubeconfigProblem(err)
	}
	o.discovery = o.client.Discovery()
	return nil
}

// Run applies the objects, one line each, in the order clustersetup.Objects gives.
func (o *SetupOptions) Run(ctx context.Context) error {
	r := newReporter(o.ErrOut, false, o.Verbosity, nil) // no progress line, so no redraw goroutine to crash
	defer r.Done()
	if o.warnings != nil {
		o.warnings.to(r)
	}
	opts := clustersetup.Options{Groups: o.Groups, Users: o.Users, AdmissionPolicy: true, RequireReason: o.RequireReason}
	if o.DryRun != dryRunClient {
		served, err := servesAdmissionPolicy(o.discovery)
		if err != nil {
			return r.Explain(o.requestError(err, "discover the cluster's APIs"))
		}
		if !served {
			r.Warning("this cluster does not serve ValidatingAdmissionPolicy (admissionregistration.k8s.io/v1, Kubernetes 1.30+): RBAC alone keeps others out of sessions, and node admins can change each other's session pods")
		}
		opts.AdmissionPolicy = served
	}
	var printer printers.ResourcePrinter
	if o.Output != "" {
		var err error
		if printer, err = o.PrintFlags.ToPrinter(o.Output); err != nil {
			return err
		}
	}
	namespaceMissing := false
	for _, obj := range clustersetup.Objects(opts) {
		desired, err := clustersetup.Unstructured(obj.Object)
		if err != nil {
			return err
		}
		result, shown := "", desired
		switch {
		case o.DryRun == dryRunClient:
			result = "(dry run)"
		case namespaceMissing && obj.Namespace == clustersetup.Namespace:
			// The server cannot judge an object in a namespace its dry run did not make.
			result = "created (server dry run; not checked, as namespace " + obj.Namespace + " does not exist yet)"
		default:
			var created bool
			if result, shown, created, err = o.apply(ctx, obj, desired); err != nil {
				return r.Explain(err)
			}
			namespaceMissing = namespaceMissing || (o.DryRun == dryRunServer && created && obj.Resource.Resource == "namespaces")
		}
		if printer != nil {
			unstructured.RemoveNestedField(shown.Object, "metadata", "managedFields")
			if err := printer.PrintObj(shown, o.Out); err != nil {
				return err
			}
			continue
		}
		fmt.Fprintln(o.Out, obj.String()+" "+result)
	}
	if o.DryRun == dryRunNone {
		o.warnForeignBindings(ctx, r)
	}
	return nil
}

// apply server-side applies desired (its fields owned by clustersetup.FieldManager, taken
// over from any other manager) and says what changed, as kubectl apply does.
func (o *SetupOptions) apply(ctx context.Context, obj clustersetup.Object, desired *unstructured.Unstructured) (result string, applied *unstructured.Unstructured, created bool, err error) {
	resource := o.dynamic.Resource(obj.Resource).Namespace(obj.Namespace)
	name := desired.GetName()
	before, err := resource.Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		before, created = nil, true
	case err != nil:
		return "", nil, false, o.refused(err, "get", obj)
	}
	dryRun := metav1.ApplyOptions{FieldManager: clustersetup.FieldManager, Force: true, DryRun: []string{metav1.DryRunAll}}
	apply := dryRun
	if o.DryRun != dryRunServer {
		apply.DryRun = nil
	}
	if before != nil && o.DryRun != dryRunServer {
		// An apply that changes nothing still rewrites the object's managedFields (their
		// time and order), so the server's dry run decides whether to send it at all.
		would, err := resource.Apply(ctx, name, desired, dryRun)
		if err != nil {
			return "", nil, false, o.refused(err, "patch", obj)
		}
		if sameContent(before, would) {
			return "unchanged", before, false, nil
		}
	}
	applied, err = resource.Apply(ctx, name, desired, apply)
	if err != nil {
		return "", nil, false, o.refused(err, "patch", obj)
	}
	switch {
	case created:
		result = "created"
	case sameContent(before, applied):
		result = "unchanged"
	default:
		result = "configured"
	}
	if o.DryRun == dryRunServer {
		result += " (server dry run)"
	}
	return result, applied, created, nil
}

// sameContent compares two versions of an object by what they say, not by the bookkeeping
// an apply touches even when it changes nothing else.
func sameContent(a, b *unstructured.Unstructured) bool {
	strip := func(u *unstructured.Unstructured) map[string]any {
		c := u.DeepCopy()
		for _, f := range []string{"managedFields", "resourceVersion", "generation"} {
			unstructured.RemoveNestedField(c.Object, "metadata", f)
		}
		return c.Object
	}
	return apiequality.Semantic.DeepEqual(strip(a), strip(b))
}

// rbacRefusal is how the RBAC authorizer words a refusal: the verb and the resource.
var rbacRefusal = regexp.MustCompile(`cannot (\S+) resource "([^"]+)"(?: in API group "([^"]*)")?`)

// refused explains a request setup could not make, in one line: the permission, and that a
// cluster admin must run setup.
func (o *SetupOptions) refused(err error, verb string, obj clustersetup.Object) error {
	if !apierrors.IsForbidden(err) {
		return o.requestError(err, verb+" "+obj.String())
	}
	msg := err.Error()
	scope := "cluster-wide"
	if obj.Namespace != "" {
		scope = "in namespace " + obj.Namespace
	}
	resource := obj.Resource.Resource
	if obj.Resource.Group != "" {
		resource += "." + obj.Resource.Group
	}
	if m := rbacRefusal.FindStringSubmatch(msg); m != nil {
		verb, resource = m[1], m[2]
		if m[3] != "" {
			resource += "." + m[3]
		}
	}
	fix := "a cluster admin must run kubectl node-shell setup: it makes a namespace, RBAC and an admission policy"
	switch {
	case strings.Contains(msg, "attempting to grant RBAC permissions not currently held"):
		return &diagnose.Problem{Cause: "RBAC refuses you to grant what " + obj.String() + " grants, as you do not hold it all yourself", Fix: fix, Detail: msg, Err: err}
	case strings.Contains(msg, "admission webhook") || strings.Contains(msg, "ValidatingAdmissionPolicy"):
		return &diagnose.Problem{
			Cause:  "an admission policy refused " + obj.String() + ": " + msg,
			Fix:    "ask the policy's owner to exempt namespace " + clustersetup.Namespace + " and the objects named " + clustersetup.Name + " for the cluster admins",
			Detail: msg, Err: err,
		}
	}
	return &diagnose.Problem{Cause: fmt.Sprintf("you are not allowed to %s %s (%s)", verb, resource, scope), Fix: fix, Detail: msg, Err: err}
}

// requestError explains a request that failed for another reason than a refusal.
func (o *SetupOptions) requestError(err error, what string) error {
	if p := diagnose.RequestProblem(err, o.server); p != nil {
		return p
	}
	return fmt.Errorf("could not %s: %w", what, err)
}

// servesAdmissionPolicy asks discovery whether the cluster serves ValidatingAdmissionPolicy
// at admissionregistration.k8s.io/v1 (GA in 1.30; off where an admin disabled the API).
func servesAdmissionPolicy(d discovery.DiscoveryInterface) (bool, error) {
	list, err := d.ServerResourcesForGroupVersion("admissionregistration.k8s.io/v1")
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	found := map[string]bool{}
	for _, r := range list.APIResources {
		found[r.Name] = true
	}
	return found["validatingadmissionpolicies"] && found["validatingadmissionpolicybindings"], nil
}

// warnForeignBindings names RoleBindings in the namespace that setup did not make: whoever
// they grant pods/exec, pods/attach or patch pods can enter sessions there. Best effort.
func (o *SetupOptions) warnForeignBindings(ctx context.Context, r *reporter) {
	list, err := o.client.RbacV1().RoleBindings(clustersetup.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return
	}
	var foreign []string
	for _, b := range list.Items {
		if b.Name != clustersetup.Name {
			foreign = append(foreign, b.Name)
		}
	}
	if len(foreign) == 0 {
		return
	}
	sort.Strings(foreign)
	r.Warning(fmt.Sprintf("namespace %s also has RoleBindings setup did not make (%s): check whom they let exec into, attach to or patch pods there, since they can take over sessions",
		clustersetup.Namespace, strings.Join(foreign, ", ")))
}
