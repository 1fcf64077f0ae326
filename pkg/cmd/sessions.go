package cmd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/cli-runtime/pkg/printers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/kubectl/pkg/util/templates"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/agent"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/diagnose"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/podspec"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/sessionlog"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/termsafe"
)

var (
	sessionsLong = templates.LongDesc(`
		List the sessions recorded on the nodes. Every node-shell session, in a pod of its own
		or on the node's agent, leaves a record on its node, in ` + sessionlog.Dir + `, written
		by the node, not the client: who started it and with which command (as the client
		said), when (the node's clock), and how it ended: the command's exit status, or why it
		was ended (no heartbeat from a client that died, gc). A client killed with -9 or cut off
		leaves the whole record. When the node's agent records TTY sessions (agent install
		--record), the session's recording is beside it; replay plays it.

		The records are read through each node's agent, one exec per node, so only node admins
		(who may exec there) read them, and only nodes with a ready agent are listed. END is the
		command's exit status, "ended: WHY", "running" (a live agent session) or "no end
		recorded" (the session still runs in a pod, or its node, pod or agent stopped first).
		Records are removed from the node after ` + fmt.Sprint(sessionlog.RetentionDays) + ` days.`)

	sessionsExample = templates.Examples(`
		# Every session recorded on the nodes that have an agent, oldest first
		%[1]s sessions

		# On two nodes, with full session IDs, modes, client hosts and reasons
		%[1]s sessions node-1 node-2 -o wide

		# As JSON, for a script or an audit export
		%[1]s sessions -o json

		# Play one recorded session (a unique prefix of its ID is enough)
		%[1]s replay node-1 0123abcd`)
)

// nodeReadTimeout bounds the exec that reads one node's records.
const nodeReadTimeout = 30 * time.Second

// nodeReadParallelism bounds the nodes read at once.
const nodeReadParallelism = 16

// SessionsOptions are the flags of `kubectl node-shell sessions`.
type SessionsOptions struct {
	scope *podScope
	genericiooptions.IOStreams
	Output string
	Nodes  []string
}

// NewCmdSessions returns `kubectl node-shell sessions`.
func NewCmdSessions(streams genericiooptions.IOStreams) *cobra.Command {
	o := &SessionsOptions{scope: newPodScope(), IOStreams: streams}
	o.scope.configFlags.Namespace = nil // the records are read through the agent, in node-shell
	cmd := &cobra.Command{
		Use:                   "sessions [NODE...] [-o wide|json|yaml]",
		DisableFlagsInUseLine: true,
		Short:                 "List the sessions recorded on the nodes: who, what, when, how they ended, and their recordings",
		Long:                  sessionsLong,
		Example:               templatesName(sessionsExample),
		ValidArgsFunction:     completeNodeNames(o.scope),
		SilenceUsage:          true,
		SilenceErrors:         true,
		RunE: func(c *cobra.Command, args []string) error {
			o.Nodes = args
			if err := o.Validate(); err != nil {
				return usageError(c, "%v", err)
			}
			if err := o.scope.complete(c); err != nil {
				return err
			}
			return o.Run(c.Context())
		},
	}
	cmd.Flags().StringVarP(&o.Output, "output", "o", o.Output, "One of 'wide' (the table with full IDs, modes, client hosts and reasons), 'json' or 'yaml' (default: a table)")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"wide", "json", "yaml"}, cobra.ShellCompDirectiveNoFileComp))
	o.scope.configFlags.AddFlags(cmd.Flags())
	return cmd
}

// Validate checks --output and the node names.
func (o *SessionsOptions) Validate() error {
	switch o.Output {
	case "", "wide", "json", "yaml":
	default:
		return fmt.Errorf("--output must be 'wide', 'json' or 'yaml', not %q", o.Output)
	}
	return validNodeNames(o.Nodes)
}

// Run reads the records of the nodes asked for (every node with a ready agent when none
// is) and prints them, oldest first. A node that cannot be read is a line on stderr, and
// makes the exit status 255 once the others are printed.
func (o *SessionsOptions) Run(ctx context.Context) error {
	agents, err := readyAgents(ctx, o.scope)
	if err != nil {
		return err
	}
	nodes := o.Nodes
	if len(nodes) == 0 {
		if len(agents) == 0 {
			return noAgentProblem("")
		}
		for n := range agents {
			nodes = append(nodes, n)
		}
		sort.Strings(nodes)
	}
	records, failed := readRecords(ctx, o.scope, agents, nodes)
	for _, err := range failed {
		fmt.Fprintln(o.ErrOut, "error: "+termsafe.String(err.Error()))
	}
	switch {
	case o.Output == "json" || o.Output == "yaml":
		if err := printRecordsAs(o.Out, o.Output, records); err != nil {
			return err
		}
	case len(records) == 0 && len(failed) == 0:
		fmt.Fprintln(o.ErrOut, "No sessions recorded on "+plural(len(nodes), "node", "nodes")+".")
	case len(records) > 0:
		if err := printers.NewTablePrinter(printers.PrintOptions{Wide: o.Output == "wide"}).PrintObj(recordsTable(records, time.Now()), o.Out); err != nil {
			return err
		}
	}
	if len(failed) > 0 {
		return &diagnose.Problem{
			Cause: fmt.Sprintf("the records of %s could not be read", plural(len(failed), "node", "nodes")),
			Fix:   "see the lines above",
		}
	}
	return nil
}

// nodeRecord is one session's record on its node.
type nodeRecord struct {
	node  string
	entry sessionlog.Entry
	// running: the node's agent runs the session now.
	running bool
}

// readyAgents are the agent's ready pods, by node.
func readyAgents(ctx context.Context, scope *podScope) (map[string]*corev1.Pod, error) {
	list, err := scope.client.CoreV1().Pods(agent.Namespace).List(ctx, metav1.ListOptions{LabelSelector: agent.Selector})
	switch {
	case apierrors.IsForbidden(err):
		return nil, diagnose.MissingAccess(agent.Namespace, []diagnose.Permission{{Verb: "list", Resource: "pods", Namespace: agent.Namespace,
			Reason: "the nodes' session records are read through the node-shell agent, which only node admins may enter"}})
	case err != nil:
		if p := diagnose.RequestProblem(err, scope.server()); p != nil {
			return nil, p
		}
		return nil, err
	}
	agents := map[string]*corev1.Pod{}
	for i := range list.Items {
		p := &list.Items[i]
		if podspec.IsAgent(p) && agent.Ready(p) {
			agents[p.Spec.NodeName] = p
		}
	}
	return agents, nil
}

func noAgentProblem(node string) error {
	where := "no node has a ready node-shell agent"
	if node != "" {
		where = "node " + node + " has no ready node-shell agent"
	}
	return &diagnose.Problem{
		Cause: where + ", through which the session records on the nodes are read (they stay in " + sessionlog.Dir + " on each node)",
		Fix:   "a cluster admin installs it with kubectl node-shell agent install; kubectl node-shell agent status shows which nodes have one",
	}
}

// readRecords reads each node's records through its agent, several nodes at once.
func readRecords(ctx context.Context, scope *podScope, agents map[string]*corev1.Pod, nodes []string) ([]nodeRecord, []error) {
	var (
		mu      sync.Mutex
		records []nodeRecord
		failed  = make([]error, len(nodes))
		wg      sync.WaitGroup
		slots   = make(chan struct{}, nodeReadParallelism)
	)
	for i, node := range nodes {
		pod := agents[node]
		if pod == nil {
			failed[i] = noAgentProblem(node)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			slots <- struct{}{}
			defer func() { <-slots }()
			got, err := readNodeRecords(ctx, scope, pod)
			if err != nil {
				failed[i] = err
				return
			}
			mu.Lock()
			records = append(records, got...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	var errs []error
	for _, err := range failed {
		if err != nil {
			errs = append(errs, err)
		}
	}
	records = oneRecordPerSession(records)
	sort.SliceStable(records, func(i, j int) bool {
		if !records[i].entry.Start.Equal(records[j].entry.Start) {
			return records[i].entry.Start.Before(records[j].entry.Start)
		}
		return records[i].node < records[j].node
	})
	return records, errs
}

// oneRecordPerSession keeps one record per session ID: nodes that share their log directory
// (one machine running several kubelets, as the local test cluster does) all show every
// session's record; the node the record names is where it ran.
func oneRecordPerSession(records []nodeRecord) []nodeRecord {
	kept := map[string]int{}
	var out []nodeRecord
	for _, r := range records {
		i, seen := kept[r.entry.ID]
		switch {
		case !seen:
			kept[r.entry.ID] = len(out)
			out = append(out, r)
		case out[i].node != r.entry.Record.Node && r.node == r.entry.Record.Node:
			out[i] = r
		}
	}
	return out
}

// readNodeRecords reads one node's records, and which of its agent sessions run now.
func readNodeRecords(ctx context.Context, scope *podScope, pod *corev1.Pod) ([]nodeRecord, error) {
	node := pod.Spec.NodeName
	out, err := nodeExec(ctx, scope.executor, pod, sessionlog.ListArgv(), nil, nodeReadTimeout)
	if err != nil {
		return nil, nodeExecProblem(node, "read the session records of", err)
	}
	entries, err := sessionlog.ParseList(out.String())
	if err != nil {
		return nil, fmt.Errorf("node %s: %w", node, err)
	}
	live := map[string]bool{}
	if list, err := nodeExec(ctx, scope.executor, pod, agent.ListArgv(), nil, nodeReadTimeout); err == nil {
		if sessions, err := agent.ParseSessions(list.String()); err == nil {
			for _, s := range sessions {
				live[s.ID] = s.SupervisorAlive
			}
		}
	}
	records := make([]nodeRecord, len(entries))
	for i, e := range entries {
		records[i] = nodeRecord{node: node, entry: e, running: e.End.IsZero() && live[e.ID]}
	}
	return records, nil
}

// nodeExecProblem explains a failed read on node's agent in one line.
func nodeExecProblem(node, what string, err error) error {
	if apierrors.IsForbidden(err) || strings.Contains(err.Error(), "forbidden") {
		return diagnose.MissingAccess(agent.Namespace, []diagnose.Permission{{Verb: "create", Resource: "pods/exec", Namespace: agent.Namespace,
			Reason: "to " + what + " node " + node + " through its agent"}})
	}
	return fmt.Errorf("cannot %s node %s through its agent: %w", what, node, err)
}

// endOf is a record's END: how the session ended, as far as the node knows.
func endOf(r nodeRecord) string {
	e := r.entry
	switch {
	case e.ExitStatus != nil:
		return fmt.Sprintf("exit %d", *e.ExitStatus)
	case e.EndedBy != "":
		return "ended: " + e.EndedBy
	case r.running:
		return "running"
	}
	return "no end recorded"
}

func durationOf(r nodeRecord, now time.Time) string {
	e := r.entry
	switch {
	case e.Start.IsZero():
		return "<unknown>"
	case !e.End.IsZero():
		return duration.HumanDuration(e.End.Sub(e.Start))
	case r.running:
		return duration.HumanDuration(now.Sub(e.Start))
	}
	return "<unknown>"
}

func recordedOf(e sessionlog.Entry) string {
	if !e.Recorded() {
		return "-"
	}
	return humanBytes(e.CastBytes)
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1fMi", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1fKi", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%dB", n)
}

// recordsTable is sessions' table; -o wide adds the full ID, mode, where it ran, client
// host and reason. Whatever the records hold is escaped: a client wrote part of them.
func recordsTable(records []nodeRecord, now time.Time) *metav1.Table {
	t := &metav1.Table{ColumnDefinitions: []metav1.TableColumnDefinition{
		{Name: "Node", Type: "string"},
		{Name: "Session", Type: "string"},
		{Name: "User", Type: "string"},
		{Name: "Started", Type: "string"},
		{Name: "Duration", Type: "string"},
		{Name: "End", Type: "string"},
		{Name: "Recording", Type: "string"},
		{Name: "Command", Type: "string"},
		{Name: "ID", Type: "string", Priority: 1},
		{Name: "Mode", Type: "string", Priority: 1},
		{Name: "On", Type: "string", Priority: 1},
		{Name: "Client", Type: "string", Priority: 1},
		{Name: "Reason", Type: "string", Priority: 1},
	}}
	for _, r := range records {
		e, rec := r.entry, r.entry.Record
		started := "<unknown>"
		if !e.Start.IsZero() {
			started = e.Start.UTC().Format(time.RFC3339)
		}
		on := "pod"
		if rec.Agent {
			on = "agent"
		}
		command := orDefault(termsafe.String(rec.Command), "<login shell>")
		if e.Unreadable && rec.Command == "" {
			command = "<unreadable record>"
		}
		if rs := []rune(command); len(rs) > commandColumnWidth {
			command = string(rs[:commandColumnWidth-1]) + "…"
		}
		t.Rows = append(t.Rows, metav1.TableRow{Cells: []any{
			termsafe.String(r.node), sessionlog.ShortID(e.ID), orDefault(termsafe.String(rec.User), "<unknown>"), started,
			durationOf(r, now), termsafe.String(endOf(r)), recordedOf(e), command,
			e.ID, orDefault(termsafe.String(rec.Mode), "<unknown>"), on, orDefault(termsafe.String(rec.ClientHost), "<unknown>"), termsafe.String(rec.Reason),
		}})
	}
	return t
}

func printRecordsAs(out io.Writer, format string, records []nodeRecord) error {
	items := make([]sessionlog.Listed, len(records))
	for i, r := range records {
		e := r.entry
		j := sessionlog.Listed{Node: r.node, ID: e.ID, Session: e.Record, ExitStatus: e.ExitStatus, EndedBy: e.EndedBy, Running: r.running, Unreadable: e.Unreadable}
		if !e.Start.IsZero() {
			j.Start = &e.Start
		}
		if !e.End.IsZero() {
			j.End = &e.End
		}
		if e.Recorded() {
			j.RecordingBytes = &e.CastBytes
		}
		items[i] = j
	}
	data, err := json.MarshalIndent(map[string]any{"kind": sessionlog.ListKind, "items": items}, "", "    ")
	if err != nil {
		return err
	}
	data = append(data, '\n')
	if format == "yaml" {
		if data, err = termsafe.YAML(data); err != nil {
			return err
		}
	} else {
		data = termsafe.JSON(data)
	}
	_, err = out.Write(data)
	return err
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// findRecord finds the session whose ID starts with prefix on the nodes (every node with
// a ready agent when none is named): exactly one must match.
func findRecord(ctx context.Context, scope *podScope, agents map[string]*corev1.Pod, nodes []string, prefix string) (nodeRecord, error) {
	if len(nodes) == 0 {
		for n := range agents {
			nodes = append(nodes, n)
		}
		sort.Strings(nodes)
	}
	records, failed := readRecords(ctx, scope, agents, nodes)
	var matches []nodeRecord
	for _, r := range records {
		if strings.HasPrefix(r.entry.ID, prefix) {
			matches = append(matches, r)
		}
	}
	where := "on " + plural(len(nodes), "node", "nodes")
	if len(nodes) == 1 {
		where = "on node " + nodes[0]
	}
	switch {
	case len(matches) == 1:
		return matches[0], nil
	case len(matches) > 1:
		var ids []string
		for _, m := range matches {
			ids = append(ids, m.node+"/"+m.entry.ID)
		}
		return nodeRecord{}, &diagnose.Problem{
			Cause: fmt.Sprintf("%d sessions %s start with %s (%s)", len(matches), where, prefix, strings.Join(ids, ", ")),
			Fix:   "give more of the session's ID",
		}
	case len(failed) > 0:
		return nodeRecord{}, errors.Join(failed...)
	}
	return nodeRecord{}, &diagnose.Problem{
		Cause: fmt.Sprintf("no session %s has an ID starting with %s", where, prefix),
		Fix:   "kubectl node-shell sessions lists the recorded sessions and their IDs",
	}
}

// validNodeNames refuses a name no node can have before any request.
func validNodeNames(nodes []string) error {
	for _, node := range nodes {
		if errs := validation.IsDNS1123Subdomain(node); len(errs) > 0 {
			return fmt.Errorf("%q is not a valid node name: %s", termsafe.String(node), errs[0])
		}
	}
	return nil
}

// completeNodeNames completes node names for a command on scope's cluster; failures mean
// no completions (see NodeShellOptions.completeNodeNames).
func completeNodeNames(scope *podScope) cobra.CompletionFunc {
	return func(cmd *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		config, err := scope.configFlags.ToRESTConfig()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		config.Timeout = nodeCompletionTimeout
		client, err := kubernetes.NewForConfig(config)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		ctx, cancel := context.WithTimeout(context.Background(), nodeCompletionTimeout)
		defer cancel()
		names, _ := nodeNames(ctx, client, toComplete)
		return names, cobra.ShellCompDirectiveNoFileComp
	}
}
