package cmd

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/agent"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/leftover"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/stream"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/termsafe"
)

// agentListTimeout bounds the exec that lists one agent's sessions.
const agentListTimeout = 10 * time.Second

// agentSessionRow is one agent session as its agent reports it.
type agentSessionRow struct {
	pod     *corev1.Pod
	session agent.Session
}

// agentSessions lists every agent's sessions: one exec per ready agent pod, which reads the
// sessions' state on the node (agent.ListArgv). Agent sessions are recorded where their
// processes are, by the node's own clock, not on an API object. A user who may not list
// or exec into the agent's pods (not a node admin) gets none, with no warning: the agent
// is not theirs to see; an agent that does not answer is a warning on errOut.
func (s *podScope) agentSessions(ctx context.Context, errOut io.Writer) []agentSessionRow {
	if s.explicit && s.namespace != agent.Namespace || s.executor == nil {
		return nil
	}
	pods, err := s.client.CoreV1().Pods(agent.Namespace).List(ctx, metav1.ListOptions{LabelSelector: agent.Selector})
	if err != nil {
		return nil
	}
	var rows []agentSessionRow
	for i := range pods.Items {
		p := &pods.Items[i]
		if !agent.Ready(p) {
			continue
		}
		sessions, err := s.agentExec(ctx, p, agent.ListArgv())
		if err != nil {
			if !strings.Contains(err.Error(), "forbidden") {
				fmt.Fprintf(errOut, "warning: cannot list the sessions of agent pod %s on node %s: %v\n", p.Name, p.Spec.NodeName, termsafe.String(err.Error()))
			}
			continue
		}
		parsed, err := agent.ParseSessions(sessions)
		if err != nil {
			fmt.Fprintf(errOut, "warning: agent pod %s on node %s: %v\n", p.Name, p.Spec.NodeName, termsafe.String(err.Error()))
			continue
		}
		for _, ss := range parsed {
			rows = append(rows, agentSessionRow{pod: p, session: ss})
		}
	}
	return rows
}

// agentExec runs argv in agent pod p and returns its stdout; a non-zero status is an error.
func (s *podScope) agentExec(ctx context.Context, p *corev1.Pod, argv []string) (string, error) {
	out, err := nodeExec(ctx, s.executor, p, argv, nil, agentListTimeout)
	if out == nil {
		return "", err
	}
	return out.String(), err
}

// nodeExec runs argv in the agent's pod within timeout; stdout is returned (or written to
// out); a non-zero status is an *agentExitError.
func nodeExec(ctx context.Context, executor stream.Executor, pod *corev1.Pod, argv []string, out io.Writer, timeout time.Duration) (*bytes.Buffer, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var buf, errOut bytes.Buffer
	if out == nil {
		out = &buf
	}
	err := executor.Exec(ctx, stream.Request{Namespace: pod.Namespace, Pod: pod.Name, Container: agentContainer(pod), Command: argv, Stdout: out, Stderr: &errOut})
	if code, ok := stream.ExitCode(err); ok && code != 0 {
		return &buf, &agentExitError{code: code, stderr: strings.TrimSpace(errOut.String())}
	} else if !ok {
		return nil, err
	}
	return &buf, nil
}

type agentExitError struct {
	code   int
	stderr string
}

func (e *agentExitError) Error() string { return fmt.Sprintf("exit status %d: %s", e.code, e.stderr) }

func agentContainer(p *corev1.Pod) string { return p.Spec.Containers[0].Name }

// agentState is an agent session's STATE, as list shows pods': alive or stale.
func agentState(s agent.Session) leftover.State {
	if s.Stale(leftover.StaleMargin) {
		return leftover.StateStale
	}
	return leftover.StateAlive
}

// addAgentRows adds a row per agent session to list's table, filling the columns it knows by
// name (the table's columns may grow): the agent's node and pod, then "session ID".
func addAgentRows(t *metav1.Table, rows []agentSessionRow) {
	for _, r := range rows {
		rec := r.session.Record
		cells := make([]any, len(t.ColumnDefinitions))
		for i, c := range t.ColumnDefinitions {
			switch c.Name {
			case "Node":
				cells[i] = termsafe.String(r.pod.Spec.NodeName)
			case "Namespace/Name":
				cells[i] = r.pod.Namespace + "/" + r.pod.Name + " session " + termsafe.String(r.session.ID)
			case "User":
				cells[i] = orDefault(termsafe.String(rec.User), "<unknown>")
			case "Age":
				cells[i] = duration.HumanDuration(r.session.Age)
			case "Command":
				c := orDefault(termsafe.String(rec.Command), "<login shell>")
				if rs := []rune(c); len(rs) > commandColumnWidth {
					c = string(rs[:commandColumnWidth-1]) + "…"
				}
				cells[i] = c
			case "State":
				cells[i] = string(agentState(r.session))
			case "Mode":
				cells[i] = orDefault(termsafe.String(rec.Mode), "<unknown>")
			default:
				cells[i] = ""
			}
		}
		t.Rows = append(t.Rows, metav1.TableRow{Cells: cells})
	}
}

// endStaleAgentSessions is gc for agent sessions: each stale one (its supervisor gone, or no
// heartbeat for its timeout plus leftover.StaleMargin, by the node's clock) is ended on its
// node (agent.EndArgv). A live one is never touched. It returns how many it ended (or would).
func (o *GCOptions) endStaleAgentSessions(ctx context.Context) (ended int, failed []error) {
	for _, r := range o.scope.agentSessions(ctx, o.ErrOut) {
		if agentState(r.session) != leftover.StateStale {
			continue
		}
		why := fmt.Sprintf("no heartbeat for %s", r.session.SinceHeartbeat)
		if !r.session.SupervisorAlive {
			why = "its supervisor is gone"
		}
		what := termsafe.String(fmt.Sprintf("agent session %s in pod %s/%s on node %s (stale: %s)", r.session.ID, r.pod.Namespace, r.pod.Name, r.pod.Spec.NodeName, why))
		if o.DryRun {
			fmt.Fprintln(o.Out, "would end "+what)
			ended++
			continue
		}
		_, err := o.scope.agentExec(ctx, r.pod, agent.EndArgv(r.session.ID, agent.EndedByGC))
		if ee, ok := err.(*agentExitError); ok && agent.IsNoSession(ee.code) {
			continue // it ended meanwhile
		}
		if err != nil {
			failed = append(failed, fmt.Errorf("end agent session %s on node %s: %w", r.session.ID, r.pod.Spec.NodeName, err))
			continue
		}
		fmt.Fprintln(o.Out, "ended "+what)
		ended++
	}
	return ended, failed
}
