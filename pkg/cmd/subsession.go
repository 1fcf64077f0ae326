package cmd

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/podspec"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/session"
)

// addPodFlags puts the flags that shape a session's pod (not how a command is entered:
// cp and port-forward always run in container mode) and kubectl's global flags on cmd.
func (o *NodeShellOptions) addPodFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.Image, "image", o.Image, fmt.Sprintf("Image of the node-shell pod (default %s, or $%s); it must have busybox's sh, tar, sha256sum and nc", podspec.DefaultImage, ImageEnv))
	f.StringVar(&o.ImagePullPolicy, "image-pull-policy", o.ImagePullPolicy, "Always, IfNotPresent or Never (default: IfNotPresent for a pinned tag, else Always)")
	f.StringArrayVar(&o.ImagePullSecrets, "image-pull-secret", o.ImagePullSecrets, "Secret in the pod's namespace to pull the image with (repeatable)")
	f.StringVar(&o.PriorityClass, "priority-class", o.PriorityClass, "Priority class of the pod (default none)")
	f.DurationVar(&o.PodRunningTimeout, "pod-running-timeout", o.PodRunningTimeout, "How long to wait for the pod to run before giving up")
	f.DurationVar(&o.HeartbeatTimeout, "heartbeat-timeout", o.HeartbeatTimeout, "The pod stops itself when node-shell has not renewed its heartbeat for this long")
	f.DurationVar(&o.MaxLifetime, "max-lifetime", o.MaxLifetime, "The pod is stopped after this long, whatever happens (activeDeadlineSeconds); 0 for no limit")
	f.BoolVarP(&o.Quiet, "quiet", "q", o.Quiet, "Print no progress")
	f.IntVarP(&o.Verbosity, "v", "v", o.Verbosity, "Verbosity: 1 adds details to errors")
	o.addPodPolicyFlags(f)
	o.configFlags.AddFlags(f)
}

// completeContainerSession is the session command's Complete for a subcommand's one
// session on node, in container mode (the image's tools, the node at /host).
func (o *NodeShellOptions) completeContainerSession(cmd *cobra.Command, node string) error {
	if err := o.Complete(cmd, []string{node}); err != nil {
		return err
	}
	o.Mode = string(podspec.ModeContainer)
	return nil
}

// startContainerSession does what the session command does before its exec (namespace,
// preflight of actions' access, start) and returns the started session; the caller
// closes it.
func (o *NodeShellOptions) startContainerSession(ctx context.Context, r *reporter, command []string, actions ...session.Action) (*session.Handle, error) {
	if err := o.checkReasonRequired(ctx); err != nil {
		return nil, err
	}
	if err := o.chooseNamespace(ctx, r); err != nil {
		return nil, err
	}
	o.actions = actions
	if err := o.preflight(ctx, r); err != nil {
		return nil, err
	}
	s := o.session(r)
	s.SweepLeftovers = true
	return s.Start(ctx, session.Target{Pod: o.podSpec(o.Node), Command: command}, o.entry)
}
