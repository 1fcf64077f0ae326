package cmd

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/podspec"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/preflight"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/stream"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/userconfig"
)

// ExitIdle is node-shell's status when --idle-timeout ended an interactive session: one of
// node-shell's own (next to 255), so a script tells it from the remote command's.
const ExitIdle = 254

// DefaultIdleTimeout logs an abandoned interactive session out (oc debug does after 15 min).
const DefaultIdleTimeout = 30 * time.Minute

// policyOptions are the flags that fit a session to a cluster's rules and the user's
// defaults: pod overrides, labels, annotations, a reason, the idle logout, and the config
// file (userconfig) that supplies defaults per kubeconfig context.
type policyOptions struct {
	Overrides   string
	Labels      []string
	Annotations []string
	Reason      string
	IdleTimeout time.Duration

	// Derived in completePolicy from the flags and the config file.
	config     userconfig.Resolved
	configPath string
	overrides  podspec.Overrides
	// reasonChecked: the cluster's reason requirement was read once this run.
	reasonChecked bool
}

func (p *policyOptions) addPolicyFlags(f *pflag.FlagSet) {
	p.addPodPolicyFlags(f)
	f.DurationVar(&p.IdleTimeout, "idle-timeout", DefaultIdleTimeout, fmt.Sprintf("End an interactive (TTY) session after this long with no input and no output (exit status %d); 0 never", ExitIdle))
}

// addPodPolicyFlags are the policy flags of every command that makes a session pod (cp and
// port-forward too, which have no interactive session to time out).
func (p *policyOptions) addPodPolicyFlags(f *pflag.FlagSet) {
	f.StringVar(&p.Overrides, "overrides", p.Overrides, "A strategic merge patch of the session pod, JSON or YAML (as kubectl run --overrides), applied after the config file's; what the session depends on (privileges, host namespaces, /host, the node, the watchdog, node-shell's labels) cannot be changed")
	f.StringArrayVar(&p.Labels, "label", p.Labels, "KEY=VALUE: a label on the session pod (repeatable), for policies that require one")
	f.StringArrayVar(&p.Annotations, "annotation", p.Annotations, "KEY=VALUE: an annotation on the session pod (repeatable)")
	f.StringVar(&p.Reason, "reason", p.Reason, "Why you open this session, recorded on the pod (annotation "+podspec.AnnotationReason+"); a cluster can require it")
}

// completePolicy reads the config file and resolves, for the kubeconfig context in use,
// what the flags leave open. Precedence: flags, then $KUBECTL_NODE_SHELL_IMAGE, then the
// file (its context's entry over its default entry), then node-shell's defaults. A namespace
// from the file counts as chosen, like -n. It must run before the kubeconfig loader is made.
func (o *NodeShellOptions) completePolicy(cmd *cobra.Command) error {
	path, err := userconfig.Path(o.Getenv)
	if err != nil {
		return err
	}
	file, err := userconfig.Load(path)
	if err != nil {
		return err
	}
	o.configPath = path
	if o.config, err = file.Resolve(path, o.kubeContext()); err != nil {
		return err
	}
	if o.Image == "" && o.Getenv(ImageEnv) == "" {
		o.Image = o.config.Image
	}
	if !o.namespaceFlagSet() && o.config.Namespace != "" && o.configFlags.Namespace != nil {
		*o.configFlags.Namespace = o.config.Namespace
	}
	if !cmd.Flags().Changed("image-pull-secret") {
		o.ImagePullSecrets = o.config.ImagePullSecrets
	}
	if o.PriorityClass == "" {
		o.PriorityClass = o.config.PriorityClass
	}
	return nil
}

// kubeContext is the kubeconfig context this run uses: --context, else the current one.
func (o *NodeShellOptions) kubeContext() string {
	if c := o.configFlags.Context; c != nil && *c != "" {
		return *c
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if k := o.configFlags.KubeConfig; k != nil && *k != "" {
		rules.ExplicitPath = *k
	}
	raw, err := rules.Load()
	if err != nil {
		return "" // the kubeconfig's own error is reported when the clients are made
	}
	return raw.CurrentContext
}

// validatePolicy parses the overrides, labels and annotations and builds the session pod
// once with them, sending nothing: an override of what the session depends on is refused in
// one line before any request.
func (o *NodeShellOptions) validatePolicy() error {
	if o.IdleTimeout < 0 {
		return usageError(nil, "--idle-timeout must be zero (never) or positive")
	}
	var ov podspec.Overrides
	var err error
	if ov.Labels, err = keyValues("--label", o.config.Labels, o.Labels); err != nil {
		return err
	}
	if ov.Annotations, err = keyValues("--annotation", o.config.Annotations, o.Annotations); err != nil {
		return err
	}
	for i, data := range o.config.Overrides {
		patch, err := podspec.ParsePatch(o.config.Sources[i]+" overrides", data)
		if err != nil {
			return err
		}
		ov.Patches = append(ov.Patches, patch)
	}
	if o.Overrides != "" {
		patch, err := podspec.ParsePatch("--overrides", []byte(o.Overrides))
		if err != nil {
			return err
		}
		ov.Patches = append(ov.Patches, patch)
	}
	o.overrides = ov
	node := "node"
	if len(o.Nodes) > 0 {
		node = o.Nodes[0]
	}
	spec := o.podSpec(node)
	spec.Entry = o.entry
	if _, err := podspec.Build(spec); err != nil {
		return err
	}
	return nil
}

// keyValues is the file's map with the flag's KEY=VALUE pairs over it.
func keyValues(flag string, file map[string]string, pairs []string) (map[string]string, error) {
	out := map[string]string{}
	for k, v := range file {
		out[k] = v
	}
	for _, kv := range pairs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, usageError(nil, "%s %q: want KEY=VALUE", flag, kv)
		}
		out[k] = v
	}
	var err error
	if flag == "--label" {
		err = podspec.ValidateLabels(out)
	} else {
		err = podspec.ValidateAnnotations(out)
	}
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// checkReasonRequired refuses, before any pod exists, a session without --reason on a
// cluster whose node-shell namespace requires one (setup --require-reason). A user who may
// not read that namespace cannot be told; the cluster's admission policy then says
// (docs/examples/node-shell-require-reason.yaml).
func (o *NodeShellOptions) checkReasonRequired(ctx context.Context) error {
	if strings.TrimSpace(o.Reason) != "" || o.reasonChecked {
		return nil
	}
	o.reasonChecked = true
	required, err := preflight.ReasonRequired(ctx, o.client, o.restConfig.Host)
	if err != nil {
		return err
	}
	if required {
		return errors.New("this cluster requires a reason for every node-shell session (namespace node-shell says so): pass --reason TEXT, such as --reason \"INC-123: disk full on the node\"")
	}
	return nil
}

// idleError is the cause that ends a session left idle for its --idle-timeout.
type idleError struct{ timeout time.Duration }

func (e *idleError) Error() string {
	return fmt.Sprintf("node-shell: no input or output for %s (--idle-timeout); the session was ended and its pod deleted", e.timeout)
}

// watchIdle wraps an interactive session's streams so that --idle-timeout of silence ends
// it through end; the returned stop ends the watch.
func (o *NodeShellOptions) watchIdle(t *stream.Terminal, end context.CancelCauseFunc) (stop func()) {
	if !t.TTY || o.IdleTimeout <= 0 {
		return func() {}
	}
	w := stream.NewIdleWatch(nil, o.IdleTimeout, func() { end(&idleError{timeout: o.IdleTimeout}) })
	if t.In != nil {
		t.In = w.Reader(t.In)
	}
	t.Out = w.Writer(t.Out)
	return w.Stop
}

// idleEnded turns the end of an idle session into its notice and ExitIdle.
func (o *NodeShellOptions) idleEnded(err error, closePod func() error) (bool, error) {
	var idle *idleError
	if !errors.As(err, &idle) {
		return false, err
	}
	_ = closePod() // before the notice, which says the pod is gone
	fmt.Fprintln(o.ErrOut, idle.Error())
	return true, &ExitStatusError{Status: ExitIdle}
}
