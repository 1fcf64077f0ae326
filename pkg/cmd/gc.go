package cmd

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/kubectl/pkg/util/templates"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/leftover"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/termsafe"
)

var (
	gcLong = templates.LongDesc(`
		Delete node-shell pods that no session needs any more: pods whose container stopped
		(no heartbeat from their client, or their maximum lifetime reached), and pods whose
		client has not renewed the heartbeat for longer than their watchdog's timeout plus 15
		seconds, by the apiserver's clock (never a client's).

		Only pods node-shell built are considered: the label app.kubernetes.io/managed-by=
		kubectl-node-shell is not enough (anyone who creates pods can set it), the pod must also
		have node-shell's shape and no owner. A pod whose client is alive is never deleted, and
		no delete overrides a pod's grace period. Each delete is guarded by the pod's UID and
		resourceVersion: a pod that changed since it was judged is left for the next run. Every
		namespace you may list pods in is searched, unless -n names one. Every session start
		also does this, in the background, for its own namespace.`)

	gcExample = templates.Examples(`
		# See what would be deleted
		%[1]s gc --dry-run

		# Delete leftover node-shell pods in every namespace you can see
		%[1]s gc`)
)

// GCOptions are the flags of `kubectl node-shell gc`.
type GCOptions struct {
	scope *podScope
	genericiooptions.IOStreams
	DryRun bool

	// Now is the clock pods are judged by; nil means the apiserver's.
	Now func() time.Time
}

// NewGCOptions returns options that delete.
func NewGCOptions(streams genericiooptions.IOStreams) *GCOptions {
	return &GCOptions{scope: newPodScope(), IOStreams: streams}
}

// NewCmdGC returns `kubectl node-shell gc`.
func NewCmdGC(streams genericiooptions.IOStreams) *cobra.Command {
	o := NewGCOptions(streams)
	cmd := &cobra.Command{
		Use:                   "gc [-n NAMESPACE] [--dry-run]",
		DisableFlagsInUseLine: true,
		Short:                 "Delete node-shell pods left behind by sessions that ended",
		Long:                  gcLong,
		Example:               templatesName(gcExample),
		Args:                  cobra.NoArgs,
		ValidArgsFunction:     cobra.NoFileCompletions,
		SilenceUsage:          true,
		RunE: func(c *cobra.Command, args []string) error {
			if err := o.Complete(c); err != nil {
				return err
			}
			return o.Run(c.Context())
		},
	}
	o.AddFlags(cmd)
	return cmd
}

// AddFlags puts --dry-run and the kubeconfig flags on cmd.
func (o *GCOptions) AddFlags(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&o.DryRun, "dry-run", o.DryRun, "Only print what would be deleted")
	o.scope.configFlags.AddFlags(cmd.Flags())
}

// Complete resolves the kubeconfig and the clock.
func (o *GCOptions) Complete(cmd *cobra.Command) error {
	if o.Now == nil {
		o.Now = o.scope.serverNow
	}
	return o.scope.complete(cmd)
}

// Run judges every node-shell pod in scope and deletes the leftovers, printing one line
// for each pod it deletes (or would delete) on stdout.
func (o *GCOptions) Run(ctx context.Context) error {
	found, err := o.scope.find(ctx, o.ErrOut)
	if err != nil {
		return err
	}
	now := o.Now()
	var deleted, alive int
	var failed []error
	for i := range found.Pods {
		pod := &found.Pods[i]
		v := leftover.Judge(pod, now)
		if !v.Remove {
			alive++
			continue
		}
		// The node is an annotation and the reason quotes the pod's status: the cluster's words.
		what := termsafe.String(fmt.Sprintf("pod %s/%s on node %s (%s: %s)", pod.Namespace, pod.Name, podNode(pod), v.State, v.Reason))
		if o.DryRun {
			fmt.Fprintln(o.Out, "would delete "+what)
			deleted++
			continue
		}
		switch err := leftover.Remove(ctx, o.scope.client, pod); {
		case err == nil:
			fmt.Fprintln(o.Out, "deleted "+what)
			deleted++
		case errors.Is(err, leftover.ErrChanged):
			fmt.Fprintf(o.ErrOut, "left pod %s/%s alone: it changed since it was judged; run gc again\n", pod.Namespace, pod.Name)
		default:
			failed = append(failed, err)
		}
	}
	agentEnded, agentFailed := o.endStaleAgentSessions(ctx)
	deleted += agentEnded
	failed = append(failed, agentFailed...)
	if deleted == 0 && len(failed) == 0 {
		fmt.Fprintf(o.ErrOut, "No leftover node-shell pods (%d alive).\n", alive)
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d of the leftover pods could not be deleted: %w", len(failed), errors.Join(failed...))
	}
	return nil
}
