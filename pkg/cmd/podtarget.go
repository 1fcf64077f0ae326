package cmd

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/diagnose"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/podspec"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/preflight"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/session"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/target"
)

// podTargetFlag is the flag of pod targets; only the commands that have it take pod/NAME.
const podTargetFlag = "target-namespaces"

// addPodTargetFlags puts -c and --target-namespaces on the session command.
func (o *NodeShellOptions) addPodTargetFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVarP(&o.Container, "container", "c", o.Container, "With pod/NAME: the container to enter (default: the pod's default container, else its first)")
	f.StringSliceVar(&o.TargetNamespaces, podTargetFlag, nil, "With pod/NAME: the container's namespaces to join, of "+strings.Join(podspec.TargetNamespaces, ", ")+" (default net, always among them; its files are at $"+podspec.EnvTargetRoot+")")
}

// completePodTarget takes a pod/NAME argument. For a pod target, -n names the pod's
// namespace; the session pod still goes where it would without -n (node-shell's namespace
// when setup made it, else the kubeconfig context's), since a root session in the target's
// namespace could be taken over by whoever may exec there.
func (o *NodeShellOptions) completePodTarget(cmd *cobra.Command) error {
	o.modeChanged = cmd.Flags().Changed("mode") || o.Nsenter
	if cmd.Flags().Lookup(podTargetFlag) == nil || len(o.Nodes) == 0 {
		return nil
	}
	o.targetNamespacesChanged = cmd.Flags().Changed(podTargetFlag)
	for _, arg := range o.Nodes {
		name, ok := target.ParsePod(arg)
		switch {
		case ok && len(o.Nodes) > 1:
			return usageError(cmd, "a pod target is one pod: kubectl node-shell pod/NAME [-- COMMAND]")
		case ok:
			o.TargetPod, o.Node, o.Nodes = name, "", nil
		case target.IsTyped(arg) && !strings.HasPrefix(arg, "node/") && !strings.HasPrefix(arg, "nodes/"):
			return usageError(cmd, "%q: a target is NODE, node/NODE or pod/NAME", arg)
		}
	}
	for i, arg := range o.Nodes { // kubectl's TYPE/NAME for nodes too
		o.Nodes[i] = strings.TrimPrefix(strings.TrimPrefix(arg, "nodes/"), "node/")
	}
	if len(o.Nodes) == 1 {
		o.Node = o.Nodes[0]
	}
	if o.TargetPod == "" {
		return nil
	}
	o.targetNamespace = o.namespace
	ns, err := o.contextNamespace()
	if err != nil {
		return diagnose.KubeconfigProblem(err)
	}
	o.namespace = ns
	return nil
}

// contextNamespace is the kubeconfig context's namespace, as if -n had not been given.
func (o *NodeShellOptions) contextNamespace() (string, error) {
	raw, err := o.configFlags.ToRawKubeConfigLoader().RawConfig()
	if err != nil {
		return "", err
	}
	name := raw.CurrentContext
	if o.configFlags.Context != nil && *o.configFlags.Context != "" {
		name = *o.configFlags.Context
	}
	if c := raw.Contexts[name]; c != nil && c.Namespace != "" {
		return c.Namespace, nil
	}
	return "default", nil
}

// validatePodTarget judges the pod-target flags without talking to the cluster.
func (o *NodeShellOptions) validatePodTarget() error {
	if o.TargetPod == "" {
		switch {
		case o.Container != "":
			return usageError(nil, "-c/--container needs a pod target: kubectl node-shell pod/NAME -c CONTAINER")
		case o.targetNamespacesChanged:
			return usageError(nil, "--target-namespaces needs a pod target: kubectl node-shell pod/NAME --target-namespaces net,pid")
		}
		return nil
	}
	if errs := validation.IsDNS1123Subdomain(o.TargetPod); len(errs) > 0 {
		return usageError(nil, "%q is not a valid pod name: %s", o.TargetPod, strings.Join(errs, "; "))
	}
	if o.Container != "" {
		if errs := validation.IsDNS1123Label(o.Container); len(errs) > 0 {
			return usageError(nil, "%q is not a valid container name: %s", o.Container, strings.Join(errs, "; "))
		}
	}
	if len(o.TargetNamespaces) == 0 {
		o.TargetNamespaces = []string{"net"}
	}
	kinds, err := podspec.ParseTargetNamespaces(o.TargetNamespaces)
	if err != nil {
		return usageError(nil, "--target-namespaces: %v", err)
	}
	o.TargetNamespaces = kinds
	if m := o.entry.Mode(); m != podspec.ModeChroot && m != podspec.ModeContainer {
		return usageError(nil, "--mode %s does not apply to a pod target: use chroot (the node's tools, the default) or container (the image's)", m)
	}
	return nil
}

// preflightPod is preflight for a pod target: the reviews (the session's access, and get pods
// in the target's namespace) and the pod's GET at once, then its node. It judges the pod
// (target.Resolve) and sets the node and the entry: the pod's namespaces, entered with the
// node's tools, or the image's with --mode container or on a node without a shell.
func (o *NodeShellOptions) preflightPod(ctx context.Context, r *reporter) error {
	if w, ok := o.restConfig.WarningHandler.(*apiWarnings); ok {
		w.to(r)
	}
	ref := o.targetNamespace + "/" + o.TargetPod
	r.Progress("checking access and pod " + ref)
	whoAmI := o.askWhoAmI(ctx)
	access := append(session.RequiredAccess(o.namespace, o.sessionActions()...),
		authorizationv1.ResourceAttributes{Namespace: o.targetNamespace, Verb: "get", Resource: "pods"})
	pod, node, err := preflight.RunPod(ctx, o.client, preflight.Target{
		Namespace: o.namespace, Access: access, Server: o.restConfig.Host,
	}, preflight.PodTarget{Namespace: o.targetNamespace, Name: o.TargetPod})
	if werr := whoAmI(); werr != nil {
		return werr
	}
	if err != nil {
		return err
	}
	container, id, err := target.Resolve(pod, o.Container)
	if err != nil {
		return err
	}
	if node == nil { // Resolve refuses a pod bound to no node; this is a guard
		return fmt.Errorf("pod %s is bound to no node", ref)
	}
	o.Node = node.Name
	if w := diagnose.NodeNotReady(node, time.Now()); w != "" {
		r.Warning(w)
	}
	tools, err := o.podTargetTools(node, r)
	if err != nil {
		return err
	}
	o.entry = podspec.PodTarget{
		Tools: tools, Namespace: pod.Namespace, Pod: pod.Name, Container: container,
		PodUID: string(pod.UID), ContainerID: id, Namespaces: o.TargetNamespaces,
	}
	return nil
}

// podTargetTools is whose tools run in the pod's namespaces: the explicit --mode's, else the
// node's where it has a shell, else the image's with a notice. Windows pods have no Linux
// namespaces to enter.
func (o *NodeShellOptions) podTargetTools(node *corev1.Node, r *reporter) (podspec.Entry, error) {
	info := node.Status.NodeInfo
	if strings.EqualFold(info.OperatingSystem, "windows") {
		return nil, &diagnose.Problem{
			Cause: fmt.Sprintf("pod %s/%s runs on Windows node %s, whose containers have no namespaces node-shell can enter", o.targetNamespace, o.TargetPod, node.Name),
			Fix:   "use kubectl exec, or kubectl node-shell " + node.Name + " for the node"}
	}
	if o.modeChanged {
		return o.entry, nil
	}
	if choice := podspec.EntryForNode(node.Name, info); choice.Entry.Mode() != podspec.ModeChroot {
		if !o.Quiet {
			r.Warning(fmt.Sprintf("node %s (%s) has no shell node-shell can chroot into: running the session image's tools in the pod's namespaces (--mode container)", node.Name, info.OSImage))
		}
		return podspec.Container{}, nil
	}
	return podspec.Chroot{}, nil
}

// chooseNodeEntry picks the entry for the node preflight read, unless --mode said: Windows,
// Bottlerocket and shell-less nodes get their own (podspec.EntryForNode).
func (o *NodeShellOptions) chooseNodeEntry(r *reporter) {
	if o.modeChanged || o.node == nil {
		return
	}
	choice := podspec.EntryForNode(o.node.Name, o.node.Status.NodeInfo)
	o.entry = choice.Entry
	if choice.Notice != "" && !o.Quiet {
		r.Warning(choice.Notice)
	}
}
