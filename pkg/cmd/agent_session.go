package cmd

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/pflag"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/agent"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/diagnose"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/podspec"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/session"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/stream"
)

// --agent values.
const (
	agentAuto   = "auto"
	agentAlways = "always"
	agentNever  = "never"
)

// addAgentFlag puts --agent on f; its zero value is auto.
func (o *NodeShellOptions) addAgentFlag(f *pflag.FlagSet) {
	f.StringVar(&o.Agent, "agent", o.Agent, "auto (the default): run on the node's node-shell agent when it has a ready one (kubectl node-shell agent install), else in a pod of its own; always: only on the agent; never: always in a pod of its own")
}

// validateAgent judges --agent; a fleet runs in pods of its own.
func (o *NodeShellOptions) validateAgent() error {
	switch o.Agent {
	case "", agentAuto, agentNever:
	case agentAlways:
		if o.fleet {
			return usageError(nil, "--agent=always runs on one node; a fleet (-l, --all, several nodes, --output-dir, -o) runs in pods of its own")
		}
	default:
		return usageError(nil, "--agent must be auto, always or never, not %q", o.Agent)
	}
	return nil
}

// requiredAccess is what preflight checks: the agent's access when the session runs on it.
func (o *NodeShellOptions) requiredAccess() []authorizationv1.ResourceAttributes {
	if o.agentPod != nil {
		return session.AgentAccess()
	}
	return session.RequiredAccess(o.namespace, o.sessionActions()...)
}

// chooseAgent finds the node's ready agent when --agent allows it. With auto, any reason not
// to use one (none, not ready, another image, no right to look) means a pod of its own;
// with always, it is the session's failure, in one line.
func (o *NodeShellOptions) chooseAgent(ctx context.Context, r *reporter) error {
	// No node yet (a pod/NAME target finds its node later) or a subcommand's action: a pod.
	if o.fleet || o.actions != nil || o.Node == "" {
		return nil
	}
	r.Progress("looking for the node-shell agent on node " + o.Node)
	pod, err := agent.Find(ctx, o.client, o.Node)
	var notReady *agent.NotReady
	// The node's agent carries its admin's recording choice, which binds sessions in pods of
	// their own too, whatever --agent says.
	o.recordTTY = agent.RecordsTTY(pod) || errors.As(err, &notReady) && agent.RecordsTTY(notReady.Pod)
	if o.Agent == agentNever {
		return nil
	}
	switch {
	case err == nil && agent.ImageOf(pod) != o.Image:
		err = &diagnose.Problem{
			Cause: fmt.Sprintf("the node-shell agent on node %s runs image %s, not %s", o.Node, agent.ImageOf(pod), o.Image),
			Fix:   "drop --image (and $" + ImageEnv + ") to use the agent, or --agent=auto to get a pod with that image",
		}
	case err == nil:
		o.agentPod = pod
		o.namespace = agent.Namespace
		return nil
	case errors.As(err, &notReady):
		err = &diagnose.Problem{Cause: notReady.Error(), Fix: "a cluster admin installs it with kubectl node-shell agent install; or drop --agent=always to use a pod of its own"}
	case ctx.Err() != nil:
		return context.Cause(ctx)
	case apierrors.IsForbidden(err):
		err = diagnose.MissingAccess(agent.Namespace, []diagnose.Permission{{Verb: "list", Resource: "pods", Namespace: agent.Namespace}})
	default:
		if p := diagnose.RequestProblem(err, o.restConfig.Host); p != nil {
			err = p
		}
	}
	if o.Agent == agentAlways {
		return err
	}
	return nil
}

// runOnAgent runs the session on the node's agent when chooseAgent picks one, and reports
// whether it did: the session command's Run with session.StartAgent in place of Start.
func (o *NodeShellOptions) runOnAgent(ctx context.Context, r *reporter, terminal *stream.Terminal) (bool, error) {
	if err := o.chooseAgent(ctx, r); err != nil {
		return true, r.Explain(err)
	}
	if o.agentPod == nil {
		return false, nil
	}
	if err := o.preflight(ctx, r); err != nil {
		return true, r.Explain(err)
	}
	h, err := o.session(r).StartAgent(ctx, session.Target{Pod: o.podSpec(o.Node), Command: o.Command}, o.entry, o.agentPod)
	if err != nil {
		return true, r.Explain(err)
	}
	defer h.Close()
	status, err := h.Exec(ctx, session.ExecRequest{Command: o.Command, Terminal: terminal, Term: o.Getenv("TERM")})
	if err != nil {
		return true, r.Explain(err)
	}
	if status != 0 {
		return true, &ExitStatusError{Status: status}
	}
	return true, nil
}

// fleetAgents are the ready agents of a fleet's nodes, by node, when --agent allows them and
// the fleet execs (cp's fleet action needs pods of its own): one list of the agent's pods
// for the whole fleet. Nodes without one, or any failure to look, get pods of their own.
func (o *NodeShellOptions) fleetAgents(ctx context.Context) map[string]*corev1.Pod {
	if o.Agent == agentNever || o.fleetAction != nil {
		return nil
	}
	list, err := o.client.CoreV1().Pods(agent.Namespace).List(ctx, metav1.ListOptions{LabelSelector: agent.Selector})
	if err != nil {
		return nil
	}
	agents := map[string]*corev1.Pod{}
	for i := range list.Items {
		p := &list.Items[i]
		if podspec.IsAgent(p) && agent.Ready(p) && agent.ImageOf(p) == o.Image {
			agents[p.Spec.NodeName] = p
		}
	}
	return agents
}
