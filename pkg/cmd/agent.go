package cmd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/cli-runtime/pkg/printers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/kubectl/pkg/util/templates"
	"k8s.io/utils/ptr"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/agent"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/clustersetup"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/diagnose"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/podspec"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/preflight"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/sessionlog"
)

var (
	agentLong = templates.LongDesc(`
		Install, inspect or remove node-shell's node agent: a DaemonSet in namespace node-shell
		(made by kubectl node-shell setup) running, on every node and whatever its taints, one
		pod of a session pod's shape (privileged, the host's namespaces, the node's / at /host).

		With it, a session on a node whose agent is ready is one exec into the agent (no pod
		to create, start and delete); without it, or with --agent=never, a session gets a pod
		of its own. Each agent session runs under its own supervisor, which ends every process
		of the session when its client stops renewing the heartbeat (killed, network cut),
		within the same --heartbeat-timeout as a session pod. See docs/agent.md.

		With --record, every TTY session on the agent's nodes (on the agent or in a pod of its
		own) is recorded on the node as an asciicast v2 file beside the session's record in
		/var/log/node-shell/sessions; kubectl node-shell sessions lists them and replay plays
		one. Every session, recorded or not, leaves that record: who, what, when, and how it
		ended, written by the node, not the client.

		Install and uninstall are for cluster admins (create, patch and delete daemonsets in
		namespace node-shell); anyone who may exec into the agent is root on every node.`)

	agentExample = templates.Examples(`
		# Install the agent on every node and wait until it is ready
		%[1]s agent install

		# Install it and record every TTY session on the nodes
		%[1]s agent install --record

		# Which nodes have a ready agent, and whether it records
		%[1]s agent status

		# Remove it, and wait until no agent pod is left
		%[1]s agent uninstall`)
)

// DefaultAgentWaitTimeout bounds install's wait for every node's agent, and uninstall's
// for every agent pod to be gone.
const DefaultAgentWaitTimeout = 3 * time.Minute

// AgentOptions are the flags of `kubectl node-shell agent install|uninstall|status`.
type AgentOptions struct {
	configFlags *genericclioptions.ConfigFlags
	genericiooptions.IOStreams

	Image            string
	ImagePullPolicy  string
	ImagePullSecrets []string
	PriorityClass    string
	Timeout          time.Duration
	Wait             bool
	RecordTTY        bool

	server string
	client kubernetes.Interface
}

// NewCmdAgent returns `kubectl node-shell agent` and its subcommands.
func NewCmdAgent(streams genericiooptions.IOStreams) *cobra.Command {
	o := &AgentOptions{IOStreams: streams, Timeout: DefaultAgentWaitTimeout, Wait: true}
	o.configFlags = genericclioptions.NewConfigFlags(true)
	o.configFlags.Namespace = nil // the agent's namespace is node-shell's
	cmd := &cobra.Command{
		Use:                   "agent (install | uninstall | status)",
		DisableFlagsInUseLine: true,
		Short:                 "Install, inspect or remove the node agent that makes sessions instant (admins)",
		Long:                  agentLong,
		Example:               templatesName(agentExample),
		SilenceUsage:          true,
		Args: func(c *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageError(c, "unknown agent command %q: use install, uninstall or status", args[0])
			}
			return usageError(c, "name what to do: kubectl node-shell agent install, uninstall or status")
		},
		RunE: func(*cobra.Command, []string) error { return nil },
	}
	o.configFlags.AddFlags(cmd.PersistentFlags())
	sub := func(use, short string, run func(context.Context) error) *cobra.Command {
		return &cobra.Command{
			Use: use, Short: short, Args: cobra.NoArgs, SilenceUsage: true, SilenceErrors: true,
			ValidArgsFunction: cobra.NoFileCompletions,
			RunE: func(c *cobra.Command, _ []string) error {
				if err := o.Validate(); err != nil {
					return usageError(c, "%v", err)
				}
				if err := o.Complete(); err != nil {
					return err
				}
				return run(c.Context())
			},
		}
	}
	install := sub("install", "Install (or update) the agent on every node", o.Install)
	f := install.Flags()
	f.StringVar(&o.Image, "image", o.Image, fmt.Sprintf("Image of the agent (default %s, or $%s); sessions use the agent only with the same image", podspec.DefaultImage, ImageEnv))
	f.StringVar(&o.ImagePullPolicy, "image-pull-policy", o.ImagePullPolicy, "Always, IfNotPresent or Never (default: IfNotPresent for a pinned tag, else Always)")
	f.StringArrayVar(&o.ImagePullSecrets, "image-pull-secret", o.ImagePullSecrets, "Secret in namespace node-shell to pull the image with (repeatable)")
	f.StringVar(&o.PriorityClass, "priority-class", o.PriorityClass, "Priority class of the agent's pods (default none)")
	f.BoolVar(&o.RecordTTY, "record", o.RecordTTY, "Record every TTY session on the nodes (in pods of their own too) as asciicast v2 files in "+sessionlog.Dir+" on the node; kubectl node-shell sessions and replay find and play them. Without it, install turns recording off")
	f.BoolVar(&o.Wait, "wait", o.Wait, "Wait until every node's agent is ready")
	f.DurationVar(&o.Timeout, "timeout", o.Timeout, "How long to wait")
	uninstall := sub("uninstall", "Remove the agent, and wait until no agent pod is left", o.Uninstall)
	uninstall.Flags().DurationVar(&o.Timeout, "timeout", o.Timeout, "How long to wait for the agent's pods to be gone")
	status := sub("status", "Show, per node, whether its agent is ready", o.Status)
	cmd.AddCommand(install, uninstall, status)
	return cmd
}

// Validate judges the flags without talking to the cluster.
func (o *AgentOptions) Validate() error {
	switch corev1.PullPolicy(o.ImagePullPolicy) {
	case "", corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever:
	default:
		return fmt.Errorf("--image-pull-policy must be Always, IfNotPresent or Never, not %q", o.ImagePullPolicy)
	}
	if o.Timeout <= 0 {
		return errors.New("--timeout must be greater than zero")
	}
	return nil
}

// Complete resolves the image and the client; it sends no request.
func (o *AgentOptions) Complete() error {
	if o.Image == "" {
		o.Image = os.Getenv(ImageEnv)
	}
	if o.Image == "" {
		o.Image = podspec.DefaultImage
	}
	if o.client != nil {
		return nil
	}
	config, err := o.configFlags.ToRESTConfig()
	if err != nil {
		return diagnose.KubeconfigProblem(err)
	}
	o.server = config.Host
	if o.client, err = kubernetes.NewForConfig(config); err != nil {
		return diagnose.KubeconfigProblem(err)
	}
	return nil
}

// checkAdmin says in one line which of verbs on daemonsets in the agent's namespace the
// user lacks.
func (o *AgentOptions) checkAdmin(ctx context.Context, verbs ...string) error {
	var attrs []authorizationv1.ResourceAttributes
	for _, v := range verbs {
		attrs = append(attrs, authorizationv1.ResourceAttributes{Namespace: agent.Namespace, Verb: v, Group: "apps", Resource: "daemonsets"})
	}
	err := preflight.Access(ctx, o.client, agent.Namespace, o.server, attrs)
	var p *diagnose.Problem
	if errors.As(err, &p) && strings.HasPrefix(p.Cause, "you are not allowed") {
		p.Fix = "the agent is installed and removed by a cluster admin (anyone who may exec into it is root on every node)"
	}
	return err
}

// Install applies the agent's DaemonSet (server-side, so a second install updates it) and
// waits until every node it schedules to has a ready agent.
func (o *AgentOptions) Install(ctx context.Context) error {
	if err := o.checkAdmin(ctx, "create", "patch"); err != nil {
		return err
	}
	ns, err := o.client.CoreV1().Namespaces().Get(ctx, agent.Namespace, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err) || (err == nil && !clustersetup.IsDedicated(ns)):
		return &diagnose.Problem{
			Cause: fmt.Sprintf("namespace %s, where the agent runs, was not made by kubectl node-shell setup", agent.Namespace),
			Fix:   "run kubectl node-shell setup --group NODE-ADMINS first: it makes the namespace that only node admins can enter",
		}
	case err != nil && !apierrors.IsForbidden(err):
		return o.requestError(err)
	}
	ds, err := agent.DaemonSet(agent.Options{
		Image: o.Image, PullPolicy: corev1.PullPolicy(o.ImagePullPolicy),
		ImagePullSecrets: o.ImagePullSecrets, PriorityClassName: o.PriorityClass, RecordTTY: o.RecordTTY,
	})
	if err != nil {
		return err
	}
	data, err := json.Marshal(ds)
	if err != nil {
		return err
	}
	applied, err := o.client.AppsV1().DaemonSets(agent.Namespace).Patch(ctx, agent.Name, types.ApplyPatchType, data,
		metav1.PatchOptions{FieldManager: agent.FieldManager, Force: ptr.To(true)})
	if err != nil {
		return o.requestError(err)
	}
	fmt.Fprintf(o.ErrOut, "daemonset.apps/%s applied in namespace %s\n", agent.Name, agent.Namespace)
	if !o.Wait {
		return nil
	}
	waitCtx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	err = wait.PollUntilContextCancel(waitCtx, 500*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		d, err := o.client.AppsV1().DaemonSets(agent.Namespace).Get(ctx, agent.Name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		st := d.Status
		return st.ObservedGeneration >= applied.Generation && st.DesiredNumberScheduled > 0 &&
			st.NumberReady == st.DesiredNumberScheduled && st.UpdatedNumberScheduled == st.DesiredNumberScheduled, nil
	})
	if err != nil && ctx.Err() == nil {
		_ = o.Status(context.WithoutCancel(ctx))
		return &diagnose.Problem{
			Cause: fmt.Sprintf("the agent is not ready on every node after %s", o.Timeout),
			Fix:   "kubectl node-shell agent status shows which nodes lack it; kubectl -n node-shell describe pod NAME says why",
		}
	}
	if err != nil {
		return context.Cause(ctx)
	}
	return o.Status(ctx)
}

// Uninstall deletes the DaemonSet and waits until none of its pods is left: the agent's
// sessions end with them.
func (o *AgentOptions) Uninstall(ctx context.Context) error {
	if err := o.checkAdmin(ctx, "delete"); err != nil {
		return err
	}
	err := o.client.AppsV1().DaemonSets(agent.Namespace).Delete(ctx, agent.Name, metav1.DeleteOptions{
		PropagationPolicy: ptr.To(metav1.DeletePropagationBackground),
	})
	switch {
	case apierrors.IsNotFound(err):
		fmt.Fprintln(o.ErrOut, "daemonset.apps/"+agent.Name+" not found: no agent daemonset installed")
	case err != nil:
		return o.requestError(err)
	default:
		fmt.Fprintf(o.ErrOut, "daemonset.apps/%s deleted in namespace %s\n", agent.Name, agent.Namespace)
	}
	waitCtx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	var left int
	err = wait.PollUntilContextCancel(waitCtx, 500*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		_, dsErr := o.client.AppsV1().DaemonSets(agent.Namespace).Get(ctx, agent.Name, metav1.GetOptions{})
		pods, err := o.client.CoreV1().Pods(agent.Namespace).List(ctx, metav1.ListOptions{LabelSelector: agent.Selector})
		if err != nil {
			return false, nil
		}
		left = len(pods.Items)
		return apierrors.IsNotFound(dsErr) && left == 0, nil
	})
	if err != nil && ctx.Err() == nil {
		return &diagnose.Problem{
			Cause: fmt.Sprintf("%d agent pod(s) are still there after %s", left, o.Timeout),
			Fix:   "their nodes may be down: kubectl -n node-shell get pods -l " + agent.Selector,
		}
	}
	if err != nil {
		return context.Cause(ctx)
	}
	return nil
}

// Status prints, per node, its agent pod and whether it is ready.
func (o *AgentOptions) Status(ctx context.Context) error {
	nodes, err := o.client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return o.requestError(err)
	}
	pods, err := o.client.CoreV1().Pods(agent.Namespace).List(ctx, metav1.ListOptions{LabelSelector: agent.Selector})
	if err != nil {
		return o.requestError(err)
	}
	table := &metav1.Table{ColumnDefinitions: []metav1.TableColumnDefinition{
		{Name: "Node", Type: "string"}, {Name: "Agent", Type: "string"}, {Name: "Ready", Type: "string"},
		{Name: "Image", Type: "string"}, {Name: "Recording", Type: "string"}, {Name: "Age", Type: "string"},
	}}
	for _, st := range agent.Status(nodes.Items, pods.Items) {
		name, image, age, ready, recording := "<none>", "", "", "no", ""
		if st.Pod != nil {
			name, image = st.Pod.Name, agent.ImageOf(st.Pod)
			age = duration.HumanDuration(time.Since(st.Pod.CreationTimestamp.Time))
		}
		if st.Ready {
			ready = "yes"
		}
		if st.Pod != nil {
			recording = "off"
			if agent.RecordsTTY(st.Pod) {
				recording = "tty"
			}
		}
		table.Rows = append(table.Rows, metav1.TableRow{Cells: []any{st.Node, name, ready, image, recording, age}})
	}
	return printers.NewTablePrinter(printers.PrintOptions{}).PrintObj(table, o.Out)
}

// requestError is err as one line: the cluster cannot be reached, access is missing, or
// what it said.
func (o *AgentOptions) requestError(err error) error {
	if p := diagnose.RequestProblem(err, o.server); p != nil {
		return p
	}
	if apierrors.IsForbidden(err) {
		return &diagnose.Problem{Cause: "the cluster refused: " + err.Error(), Fix: "the agent is for cluster admins and node admins of kubectl node-shell setup", Err: err}
	}
	return err
}
