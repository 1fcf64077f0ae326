// Package fleet runs one command on many nodes: a session per node with bounded
// parallelism, stdin sent to every node, output framed per node, and one result per node.
// It knows sessions only through Handle, so its logic is tested without a cluster.
package fleet

import (
	"bytes"
	"context"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/session"
)

// DefaultParallel is how many nodes run at once unless told otherwise. 16 sessions keep
// the apiserver's load near what 16 users running node-shell make (each start is a create,
// a watch and a few patches), and a node's own start (~1 s) dominates, so 1,000 nodes take
// about a minute (docs/benchmarks.md); more buys little and makes a bad rollout worse.
const DefaultParallel = 16

// Handle is a started session as the fleet uses it (*session.Handle).
type Handle interface {
	Pod() *corev1.Pod
	Exec(ctx context.Context, req session.ExecRequest) (int, error)
	Close() error
}

// Starter starts the session on node; r receives that node's progress and warnings.
type Starter func(ctx context.Context, node string, r session.Reporter) (Handle, error)

// Node is one node to run on. Err, when set, is why it cannot be (it was not found): it
// is reported as that node's failure without starting anything.
type Node struct {
	Name string
	Err  error
}

// Options say what to run where, and where its output goes.
type Options struct {
	Nodes   []Node
	Command []string
	// Stdin is sent, byte for byte, to every node; nil sends no stdin.
	Stdin    []byte
	Parallel int
	Start    Starter
	Output   *Output
	// Action, when set, is what each node's session does instead of exec'ing Command.
	Action Action
}

// Action is a node's work on its started session (cp's verified transfer, say): st are
// the node's output streams, r its reporter; a nil error with status 0 is the node's success.
type Action func(ctx context.Context, node string, h Handle, st session.Streams, r session.Reporter) (int, error)

// Outcome is how a node's session ended.
type Outcome string

const (
	// Exited: the command ran; ExitStatus is its status (zero or not).
	Exited Outcome = "exited"
	// Failed: node-shell could not run the command there (Error says why).
	Failed Outcome = "failed"
	// Skipped: the fleet was interrupted before this node started.
	Skipped Outcome = "skipped"
)

// Result is one node's session.
type Result struct {
	Node       string        `json:"node"`
	Pod        string        `json:"pod,omitempty"`
	Outcome    Outcome       `json:"outcome"`
	ExitStatus int           `json:"exitStatus"`
	Error      string        `json:"error,omitempty"`
	Duration   time.Duration `json:"-"`
	Seconds    float64       `json:"durationSeconds"`
	// Stdout and Stderr are the node's output when it is captured (-o json).
	Stdout *string `json:"stdout,omitempty"`
	Stderr *string `json:"stderr,omitempty"`
	// err is the failure as the session returned it, for the caller's explanations.
	err error
}

// Err is the node's failure, nil unless Outcome is Failed.
func (r Result) Err() error { return r.err }

// Run runs the command on every node and returns one result per node, in the order of
// o.Nodes. A failing node never stops the others; a cancelled ctx stops starting new
// ones, and every started session is closed (its pod deleted) before Run returns.
func Run(ctx context.Context, o *Options) []Result {
	parallel := o.Parallel
	if parallel <= 0 {
		parallel = DefaultParallel
	}
	results := make([]Result, len(o.Nodes))
	slots := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	o.Output.begin(len(o.Nodes))
	for i, n := range o.Nodes {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			results[i] = Result{Node: n.Name, Outcome: Skipped, ExitStatus: -1, Error: "not started: " + context.Cause(ctx).Error(), err: context.Cause(ctx)}
			continue
		}
		wg.Go(func() {
			defer func() { <-slots }()
			results[i] = runOne(ctx, o, n)
			o.Output.exitStatus(n.Name, results[i])
			o.Output.done(results[i])
		})
	}
	wg.Wait()
	o.Output.end()
	return results
}

func runOne(ctx context.Context, o *Options, n Node) (r Result) {
	start := time.Now()
	r = Result{Node: n.Name, ExitStatus: -1}
	defer func() {
		r.Duration = time.Since(start)
		r.Seconds = r.Duration.Round(time.Millisecond).Seconds()
	}()
	if n.Err != nil {
		r.fail(n.Err)
		return r
	}
	streams, finish, err := o.Output.streams(n.Name)
	if err != nil {
		r.fail(err)
		return r
	}
	code, err := execOn(ctx, o, n.Name, streams, &r)
	finish(&r)
	if err != nil {
		r.fail(err)
		return r
	}
	r.Outcome, r.ExitStatus = Exited, code
	return r
}

func execOn(ctx context.Context, o *Options, node string, st session.Streams, r *Result) (int, error) {
	rep := o.Output.reporter(node)
	h, err := o.Start(ctx, node, rep)
	if err != nil {
		return 0, err
	}
	defer h.Close()
	r.Pod = h.Pod().Name
	if o.Action != nil {
		return o.Action(ctx, node, h, st, rep)
	}
	if o.Stdin != nil {
		st.In = bytes.NewReader(o.Stdin)
	}
	return h.Exec(ctx, session.ExecRequest{Command: o.Command, Terminal: st.Terminal()})
}

func (r *Result) fail(err error) {
	r.Outcome, r.ExitStatus, r.err = Failed, -1, err
	r.Error = oneLine(err.Error())
}

// ExitFailure is node-shell's own failure status (as ssh's), shared with a single session.
const ExitFailure = 255

// ExitStatus is the fleet's exit status: 0 when the command exited 0 on every node; 255
// when node-shell could not run it on some node (or skipped one); otherwise the highest
// status the command exited with (as pdsh -S), so a script can tell "a node failed the
// check" from "a node could not be checked".
func ExitStatus(results []Result) int {
	status := 0
	for _, r := range results {
		if r.Outcome != Exited {
			return ExitFailure
		}
		status = max(status, r.ExitStatus)
	}
	return status
}
