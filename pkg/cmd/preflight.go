package cmd

import (
	"context"
	"time"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/crash"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/diagnose"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/preflight"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/session"
)

// preflight checks access and the node before any pod exists (see preflight.Run for why
// before, not alongside), and warns about a node that is not Ready: the session still
// tries, since a shell is how one finds out what ails a node, and the session gives up
// early if its kubelet does not answer.
func (o *NodeShellOptions) preflight(ctx context.Context, r *reporter) error {
	if w, ok := o.restConfig.WarningHandler.(*apiWarnings); ok {
		w.to(r)
	}
	r.Progress("checking access and node " + o.Node)
	whoAmI := o.askWhoAmI(ctx)
	node, err := preflight.Run(ctx, o.client, preflight.Target{
		Namespace: o.namespace,
		Node:      o.Node,
		Access:    o.requiredAccess(),
		Server:    o.restConfig.Host,
	})
	if werr := whoAmI(); werr != nil {
		return werr
	}
	if err != nil {
		return err
	}
	o.node = node
	if w := diagnose.NodeNotReady(node, time.Now()); w != "" {
		r.Warning(w)
	}
	return nil
}

// sessionActions are the actions this run's sessions take: exec unless a subcommand said.
func (o *NodeShellOptions) sessionActions() []session.Action {
	if o.actions == nil {
		return []session.Action{session.ExecRequest{}}
	}
	return o.actions
}

// askWhoAmI asks who the user is, for the pod's annotation at create, alongside the
// preflight checks so that it costs no round trip of its own; the returned wait sets o.user.
// Its panic is caught there and answered, or the wait would hang.
func (o *NodeShellOptions) askWhoAmI(ctx context.Context) (wait func() error) {
	type answer struct {
		user     string
		panicked error
	}
	answers := make(chan answer, 1)
	go func() {
		var a answer
		a.panicked = crash.Catch(func() { a.user = session.WhoAmI(ctx, o.client) })
		answers <- a
	}()
	return func() error {
		a := <-answers
		o.user = a.user
		return a.panicked
	}
}
