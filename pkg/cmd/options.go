package cmd

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/diagnose"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/fleet"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/podspec"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/serverclock"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/session"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/stream"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/version"
)

// ImageEnv overrides the default image, for clusters that mirror images under other names.
const ImageEnv = "KUBECTL_NODE_SHELL_IMAGE"

// NodeShellOptions are the flags and resolved state of one `kubectl node-shell NODE` run.
type NodeShellOptions struct {
	configFlags *genericclioptions.ConfigFlags
	genericiooptions.IOStreams

	Node    string
	Command []string
	// Nodes are the node names given; a fleet when there are several (see fleet.go).
	Nodes []string

	Selector  string
	All       bool
	Parallel  int
	OutputDir string
	Output    string

	Mode              string
	Nsenter           bool
	Image             string
	ImagePullPolicy   string
	ImagePullSecrets  []string
	PriorityClass     string
	PodRunningTimeout time.Duration
	HeartbeatTimeout  time.Duration
	MaxLifetime       time.Duration
	Stdin             bool
	TTY               bool
	Quiet             bool
	Verbosity         int
	RecordCommand     bool
	policyOptions
	// Agent is --agent (agent_session.go): auto when empty.
	Agent string

	// TargetPod is the pod of a pod/NAME target, whose Container's namespaces the command
	// runs in (see podtarget.go); "" for a node target.
	TargetPod        string
	Container        string
	TargetNamespaces []string

	// Derived in Complete.
	ttyChanged   bool
	stdinChanged bool
	fleet        bool
	entry        podspec.Entry
	namespace    string
	// targetNamespace is the pod target's namespace (-n); namespace is the session pod's.
	targetNamespace         string
	modeChanged             bool
	targetNamespacesChanged bool
	// node is the target node as preflight read it (its status.nodeInfo picks the entry).
	node       *corev1.Node
	restConfig *rest.Config
	client     kubernetes.Interface
	// serverClock reads the apiserver's time off every response (leftovers are judged by it).
	serverClock *serverclock.Clock
	// agentPod is the node's ready agent the session runs on; nil: a pod of its own.
	agentPod *corev1.Pod
	// recordTTY: the node's agent says its admin records TTY sessions (agent install --record).
	recordTTY bool
	// user is who the apiserver says we are (preflight), for the pod's audit annotation.
	user string
	// actions are what a subcommand's session runs (cp, port-forward); nil means exec.
	actions []session.Action
	// fleetAction is what a subcommand's fleet does on each node (cp); nil means exec.
	fleetAction fleet.Action

	// Seams, filled in Complete only when nil so tests can stand in for them.
	Executor stream.Executor
	Getenv   func(string) string
}

// NewNodeShellOptions returns options with node-shell's defaults.
func NewNodeShellOptions(streams genericiooptions.IOStreams) *NodeShellOptions {
	return &NodeShellOptions{
		configFlags:       genericclioptions.NewConfigFlags(true),
		IOStreams:         streams,
		Mode:              string(podspec.ModeChroot),
		PodRunningTimeout: session.DefaultPodRunningTimeout,
		HeartbeatTimeout:  podspec.DefaultHeartbeatTimeout,
		MaxLifetime:       podspec.DefaultMaxLifetime,
		Stdin:             true,
		Parallel:          fleet.DefaultParallel,
	}
}

// AddFlags puts the session flags and kubectl's global flags on cmd.
func (o *NodeShellOptions) AddFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.Mode, "mode", o.Mode, "How to reach the node: chroot (the node's own files and binaries), nsenter (join the host's namespaces: PID 1's, or the kubelet's where PID 1's are closed; refused when neither is provably the host's), container (stay in the container, node at /host)")
	f.BoolVar(&o.Nsenter, "nsenter", o.Nsenter, "Shorthand for --mode=nsenter")
	f.StringVar(&o.Image, "image", o.Image, fmt.Sprintf("Image of the node-shell pod (default %s, or $%s)", podspec.DefaultImage, ImageEnv))
	f.StringVar(&o.ImagePullPolicy, "image-pull-policy", o.ImagePullPolicy, "Always, IfNotPresent or Never (default: IfNotPresent for a pinned tag, else Always)")
	f.StringArrayVar(&o.ImagePullSecrets, "image-pull-secret", o.ImagePullSecrets, "Secret in the pod's namespace to pull the image with (repeatable)")
	f.StringVar(&o.PriorityClass, "priority-class", o.PriorityClass, fmt.Sprintf("Priority class of the pod (default none). %s gets a shell on a node at its pod limit by letting the kubelet evict another pod", podspec.CriticalPriorityClass))
	f.DurationVar(&o.PodRunningTimeout, "pod-running-timeout", o.PodRunningTimeout, "How long to wait for the pod to run before giving up")
	f.DurationVar(&o.HeartbeatTimeout, "heartbeat-timeout", o.HeartbeatTimeout, "The pod stops itself when node-shell has not renewed its heartbeat for this long (client killed, laptop asleep, network cut); renewed every quarter of it")
	f.DurationVar(&o.MaxLifetime, "max-lifetime", o.MaxLifetime, "The pod is stopped after this long, whatever happens (activeDeadlineSeconds); 0 for no limit")
	f.BoolVarP(&o.Stdin, "stdin", "i", o.Stdin, "Send stdin to the command")
	f.BoolVarP(&o.TTY, "tty", "t", o.TTY, "Use a TTY (default: when stdin and stdout are terminals)")
	f.BoolVarP(&o.Quiet, "quiet", "q", o.Quiet, "Print nothing but the command's own output")
	f.IntVarP(&o.Verbosity, "v", "v", o.Verbosity, "Verbosity: 1 adds details to errors")
	f.BoolVar(&o.RecordCommand, "record-command", o.RecordCommand, "Write the whole command line on the pod (annotation kubectl-node-shell.io/command); by default only the program is, since anyone who may get pods can read it")
	f.StringVarP(&o.Selector, "selector", "l", o.Selector, "Run on every node this label selector matches (a fleet: needs a command after --)")
	f.BoolVar(&o.All, "all", o.All, "Run on every node of the cluster (a fleet: needs a command after --)")
	f.IntVar(&o.Parallel, "parallel", o.Parallel, "How many nodes of a fleet run at once")
	f.StringVar(&o.OutputDir, "output-dir", o.OutputDir, "Write each node's output to DIR/NODE/stdout, stderr and exit-status instead of prefixed lines")
	f.StringVarP(&o.Output, "output", "o", o.Output, "json: print the fleet's results (each node's status, cause and output) as JSON on stdout")
	o.addPodTargetFlags(cmd)
	o.addAgentFlag(f)
	o.addPolicyFlags(f)
	o.configFlags.AddFlags(f)
}

// Complete takes the node and command from args and resolves the namespace and clients.
// It sends no request to the cluster.
func (o *NodeShellOptions) Complete(cmd *cobra.Command, args []string) error {
	dash := cmd.ArgsLenAtDash()
	before, after := args, []string(nil)
	if dash >= 0 {
		before, after = args[:dash], args[dash:]
	}
	switch {
	case len(before) == 0 && o.Selector == "" && !o.All:
		return usageError(cmd, "a node name is required: kubectl node-shell NODE [-- COMMAND], or -l SELECTOR / --all -- COMMAND")
	case len(before) > 1 && dash < 0:
		return usageError(cmd, "put the command after --: kubectl node-shell %s -- %s", before[0], strings.Join(before[1:], " "))
	case len(before) > 0 && (o.Selector != "" || o.All):
		return usageError(cmd, "give node names or -l/--all, not both")
	}
	o.Nodes = before
	if len(before) == 1 {
		o.Node = before[0]
	}
	o.Command = after
	o.fleet = len(before) != 1 || o.OutputDir != "" || o.Output != ""
	o.stdinChanged = cmd.Flags().Changed("stdin")
	o.ttyChanged = cmd.Flags().Changed("tty")
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	if o.Nsenter && !cmd.Flags().Changed("mode") {
		o.Mode = string(podspec.ModeNsenter)
	}
	if err := o.completePolicy(cmd); err != nil {
		return err
	}
	if o.Image == "" {
		o.Image = o.Getenv(ImageEnv)
	}
	if o.Image == "" {
		o.Image = podspec.DefaultImage
	}

	var err error
	o.namespace, _, err = o.configFlags.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return diagnose.KubeconfigProblem(err)
	}
	if o.restConfig, err = o.configFlags.ToRESTConfig(); err != nil {
		return diagnose.KubeconfigProblem(err)
	}
	o.restConfig.WarningHandler = &apiWarnings{}
	o.serverClock = serverclock.New(nil)
	o.restConfig.Wrap(o.serverClock.Wrap)
	if err := o.completePodTarget(cmd); err != nil {
		return err
	}
	if o.fleet {
		sizeForFleet(o.restConfig, o.Parallel)
	}
	if o.client, err = kubernetes.NewForConfig(o.restConfig); err != nil {
		return diagnose.KubeconfigProblem(err)
	}
	if o.Executor == nil {
		o.Executor = &stream.RemoteExecutor{Config: o.restConfig, Client: o.client.CoreV1().RESTClient()}
	}
	return nil
}

// Validate judges the options without talking to the cluster; each failure is one sentence.
func (o *NodeShellOptions) Validate() error {
	for _, node := range o.Nodes {
		if errs := validation.IsDNS1123Subdomain(node); len(errs) > 0 {
			return usageError(nil, "%q is not a valid node name: %s", node, strings.Join(errs, "; "))
		}
	}
	if err := o.validateFleet(); err != nil {
		return err
	}
	entry, err := podspec.EntryFor(podspec.Mode(o.Mode))
	if err != nil {
		return usageError(nil, "--mode: %v", err)
	}
	if o.Nsenter && entry.Mode() != podspec.ModeNsenter {
		return usageError(nil, "--nsenter conflicts with --mode=%s: pass one of them", o.Mode)
	}
	o.entry = entry
	if err := o.validateAgent(); err != nil {
		return err
	}
	if err := o.validatePodTarget(); err != nil {
		return err
	}
	if _, err := name.ParseReference(o.Image); err != nil {
		return usageError(nil, "--image %q is not a valid image reference: %v", o.Image, err)
	}
	switch corev1.PullPolicy(o.ImagePullPolicy) {
	case "", corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever:
	default:
		return usageError(nil, "--image-pull-policy must be Always, IfNotPresent or Never, not %q", o.ImagePullPolicy)
	}
	for _, s := range o.ImagePullSecrets {
		if errs := validation.IsDNS1123Subdomain(s); len(errs) > 0 {
			return usageError(nil, "--image-pull-secret %q is not a valid secret name", s)
		}
	}
	if o.PodRunningTimeout <= 0 {
		return usageError(nil, "--pod-running-timeout must be greater than zero")
	}
	if o.HeartbeatTimeout < podspec.MinHeartbeatTimeout {
		return usageError(nil, "--heartbeat-timeout must be at least %s", podspec.MinHeartbeatTimeout)
	}
	if o.MaxLifetime < 0 {
		return usageError(nil, "--max-lifetime must be zero (no limit) or positive")
	}
	if o.ttyChanged && o.TTY && !o.Stdin {
		return usageError(nil, "-t/--tty needs stdin: drop -i=false")
	}
	return o.validatePolicy()
}

// Run runs the session and turns a non-zero remote status into an *ExitStatusError.
func (o *NodeShellOptions) Run(ctx context.Context) error {
	if err := o.checkReasonRequired(ctx); err != nil {
		return err
	}
	if o.fleet {
		return o.runFleet(ctx)
	}
	var tty *bool
	if o.ttyChanged {
		tty = &o.TTY
	}
	terminal := stream.SetupTerminal(stream.TerminalOptions{
		In: o.In, Out: o.Out, ErrOut: o.ErrOut,
		Stdin: o.Stdin, TTY: tty, Quiet: o.Quiet,
	})
	// A panic in a goroutine of the session's ends the session through ctx, so cleanup runs.
	ctx, endSession := context.WithCancelCause(ctx)
	defer endSession(nil)
	reporter := newReporter(o.ErrOut, o.Quiet, o.Verbosity, endSession)
	defer reporter.Done()
	// A pod target's node is known only after its preflight: it gets a pod of its own.
	if o.TargetPod == "" {
		if onAgent, err := o.runOnAgent(ctx, reporter, terminal); onAgent {
			return err
		}
	}
	if err := o.chooseNamespace(ctx, reporter); err != nil {
		return reporter.Explain(err)
	}
	if o.TargetPod != "" {
		if err := o.preflightPod(ctx, reporter); err != nil {
			return reporter.Explain(err)
		}
	} else if err := o.preflight(ctx, reporter); err != nil {
		return reporter.Explain(err)
	} else {
		o.chooseNodeEntry(reporter)
	}
	s := o.session(reporter)
	s.SweepLeftovers = true
	// Raw mode starts with the exec, not before: until then Ctrl-C is a signal that ends
	// the wait at once (the pod is deleted, exit 130).
	h, err := s.Start(ctx, session.Target{Pod: o.podSpec(o.Node), Command: o.Command}, o.entry)
	if err != nil {
		return reporter.Explain(pointToSSH(ctx, o.client, o.Node, err))
	}
	defer h.Close()
	stopIdle := o.watchIdle(terminal, endSession)
	status, err := h.Exec(ctx, session.ExecRequest{Command: o.Command, Terminal: terminal, Term: o.Getenv("TERM")})
	stopIdle()
	if idle, err := o.idleEnded(err, h.Close); idle {
		return err
	}
	if err != nil {
		return reporter.Explain(err)
	}
	if status != 0 {
		return &ExitStatusError{Status: status}
	}
	return nil
}

// session is what every session of this run shares.
func (o *NodeShellOptions) session(reporter session.Reporter) *session.Session {
	return &session.Session{
		Client:            o.client,
		Executor:          o.Executor,
		PodRunningTimeout: o.PodRunningTimeout,
		Reporter:          reporter,
		Origin:            session.Origin{User: o.user, ClientHost: hostname(), Version: version.Get().Version, RecordCommand: o.RecordCommand},
		ServerClock:       o.serverClock,
		RecordTTY:         o.recordTTY,
	}
}

// podSpec is the pod for a session on node.
func (o *NodeShellOptions) podSpec(node string) podspec.Spec {
	return podspec.Spec{
		Node:              node,
		Namespace:         o.namespace,
		Image:             o.Image,
		PullPolicy:        corev1.PullPolicy(o.ImagePullPolicy),
		ImagePullSecrets:  o.ImagePullSecrets,
		PriorityClassName: o.PriorityClass,
		HeartbeatTimeout:  o.HeartbeatTimeout,
		MaxLifetime:       o.MaxLifetime,
		Reason:            o.Reason,
		Overrides:         o.overrides,
	}
}

// hostname names this machine in the pod's audit trail; "" when it cannot be read.
func hostname() string {
	h, _ := os.Hostname()
	return h
}
