package cmd

import (
	"context"
	"fmt"
	"io"
	"time"

	dockerterm "github.com/moby/term"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/rest"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/crash"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/diagnose"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/fleet"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/preflight"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/session"
)

// A session makes up to 8 requests in its first second or two (create, watch, exec, delete,
// and the three node-health watches of a pod slow to start), so the client's rate limit
// grows with the fleet's parallelism instead of queueing sessions behind client-go's
// default 5 QPS (docs/benchmarks.md counts them).
const (
	fleetQPSPerSession   = 10
	fleetBurstPerSession = 20
)

// sizeForFleet sizes the client's rate limit for parallel sessions at once.
func sizeForFleet(config *rest.Config, parallel int) {
	config.QPS = max(config.QPS, float32(fleetQPSPerSession*parallel))
	config.Burst = max(config.Burst, fleetBurstPerSession*parallel)
}

// validateFleet judges the fleet flags; each failure is one sentence.
func (o *NodeShellOptions) validateFleet() error {
	if o.Selector != "" && o.All {
		return usageError(nil, "-l and --all select the nodes two ways: pass one of them")
	}
	if o.Selector != "" {
		if _, err := labels.Parse(o.Selector); err != nil {
			return usageError(nil, "-l %q is not a valid label selector: %v", o.Selector, err)
		}
	}
	if o.Parallel < 1 {
		return usageError(nil, "--parallel must be at least 1")
	}
	if o.Output != "" && o.Output != "json" {
		return usageError(nil, "-o/--output must be json, not %q", o.Output)
	}
	if !o.fleet {
		return nil
	}
	if len(o.Command) == 0 {
		return usageError(nil, "an interactive shell needs exactly one node: to run a command on several, put it after --")
	}
	if o.ttyChanged && o.TTY {
		return usageError(nil, "-t/--tty needs exactly one node: several nodes cannot share one terminal")
	}
	return nil
}

// runFleet runs the command on every selected node (see package fleet): preflight and the
// leftover sweep once for all of them, stdin read once and sent to each.
func (o *NodeShellOptions) runFleet(ctx context.Context) error {
	// A panic in a goroutine of the fleet's ends the fleet through ctx, so cleanup runs.
	ctx, endFleet := context.WithCancelCause(ctx)
	defer endFleet(nil)
	reporter := newReporter(o.ErrOut, o.Quiet, o.Verbosity, endFleet)
	defer reporter.Done()
	if err := o.checkReasonRequired(ctx); err != nil {
		return err
	}
	if err := o.chooseNamespace(ctx, reporter); err != nil {
		return reporter.Explain(err)
	}
	if w, ok := o.restConfig.WarningHandler.(*apiWarnings); ok {
		w.to(reporter)
	}
	reporter.Progress("checking access and nodes")
	// Who the user is goes on every pod at create: asked once, beside the checks.
	whoAmI := make(chan error, 1)
	go func() { whoAmI <- crash.Catch(func() { o.user = session.WhoAmI(ctx, o.client) }) }()
	selected, err := preflight.Fleet(ctx, o.client, preflight.FleetTarget{
		Namespace: o.namespace,
		Access:    session.RequiredAccess(o.namespace, session.ExecRequest{}),
		Server:    o.restConfig.Host,
		Nodes:     preflight.Selection{Names: o.Nodes, Selector: o.Selector, All: o.All},
		Parallel:  o.Parallel,
	})
	if panicked := <-whoAmI; panicked != nil {
		return panicked
	}
	if err != nil {
		return reporter.Explain(err)
	}
	reporter.Progress("")
	nodes := make([]fleet.Node, len(selected))
	for i, sel := range selected {
		nodes[i] = fleet.Node{Name: sel.Name, Err: sel.Err}
		if sel.Node != nil {
			if w := diagnose.NodeNotReady(sel.Node, time.Now()); w != "" {
				reporter.Warning(w)
			}
		}
	}
	stdin, err := o.fleetStdin(ctx)
	if err != nil {
		return err
	}

	out := &fleet.Output{
		Out: o.Out, ErrOut: o.ErrOut, Dir: o.OutputDir,
		Capture:      o.Output == "json" && o.OutputDir == "",
		ShowProgress: reporter.progress,
	}
	base := o.session(out)
	swept := make(chan struct{})
	sweepCtx, stopSweep := context.WithCancel(ctx)
	defer stopSweep()
	crash.Go(func() {
		defer close(swept)
		base.Sweep(sweepCtx, o.namespace)
	}, endFleet)

	agents := o.fleetAgents(ctx)
	start := func(ctx context.Context, node string, r session.Reporter) (fleet.Handle, error) {
		s := *base
		s.Reporter = r
		if p := agents[node]; p != nil { // one exec on the node's agent, no pod (agent_session.go)
			h, err := s.StartAgent(ctx, session.Target{Pod: o.podSpec(node), Command: o.Command}, o.entry, p)
			if err != nil {
				return nil, reporter.Explain(err)
			}
			return h, nil
		}
		h, err := s.Start(ctx, session.Target{Pod: o.podSpec(node), Command: o.Command}, o.entry)
		if err != nil {
			return nil, reporter.Explain(err)
		}
		return h, nil
	}
	results := fleet.Run(ctx, &fleet.Options{
		Nodes: nodes, Command: o.Command, Stdin: stdin, Parallel: o.Parallel, Start: start, Output: out, Action: o.fleetAction,
	})
	select { // the sweep never holds up the exit for long
	case <-swept:
	case <-time.After(time.Second):
	}

	if o.Output == "json" {
		if err := fleet.WriteJSON(o.Out, results); err != nil {
			return err
		}
	}
	if o.Quiet {
		for _, r := range results {
			if r.Outcome != fleet.Exited {
				fmt.Fprintf(o.ErrOut, "error: node %s: %s\n", r.Node, r.Error)
			}
		}
	} else if err := fleet.WriteSummary(o.ErrOut, results); err != nil {
		return err
	}
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	if status := fleet.ExitStatus(results); status != 0 {
		return &ExitStatusError{Status: status}
	}
	return nil
}

// fleetStdin is what every node gets on stdin: all of node-shell's stdin, read once, or
// nil for none. A terminal is only read when -i is given: a fleet's command is not
// interactive, and waiting for a Ctrl-D nobody knows to type would look like a hang.
func (o *NodeShellOptions) fleetStdin(ctx context.Context) ([]byte, error) {
	if !o.Stdin || o.In == nil {
		return nil, nil
	}
	if _, isTerm := dockerterm.GetFdInfo(o.In); isTerm && !o.stdinChanged {
		return nil, nil
	}
	type read struct {
		b   []byte
		err error
	}
	done := make(chan read, 1)
	go func() {
		b, err := io.ReadAll(o.In)
		done <- read{b, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			return nil, fmt.Errorf("read stdin: %w", r.err)
		}
		return r.b, nil
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}
