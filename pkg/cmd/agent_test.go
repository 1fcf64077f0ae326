package cmd

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/agent"
)

// list's table gets a row per agent session under its own columns, whatever their order,
// with what the client recorded escaped and the state judged by the node's ages.
func TestAddAgentRows(t *testing.T) {
	table := listTable(nil, time.Now())
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "kubectl-node-shell-agent-x", Namespace: agent.Namespace}, Spec: corev1.PodSpec{NodeName: "node-1"}}
	addAgentRows(table, []agentSessionRow{
		{pod: pod, session: agent.Session{ID: "abc", SinceHeartbeat: time.Second, Age: time.Minute, SupervisorAlive: true,
			Record: agent.Record{User: "alice\x1b[2J", Command: "top", HeartbeatTimeout: "45s"}}},
		{pod: pod, session: agent.Session{ID: "def", SinceHeartbeat: 2 * time.Minute, Age: time.Hour, SupervisorAlive: true,
			Record: agent.Record{HeartbeatTimeout: "45s"}}},
	})
	if len(table.Rows) != 2 {
		t.Fatalf("%d rows, want 2", len(table.Rows))
	}
	cell := func(row int, column string) string {
		for i, c := range table.ColumnDefinitions {
			if c.Name == column {
				return table.Rows[row].Cells[i].(string)
			}
		}
		t.Fatalf("no column %s", column)
		return ""
	}
	if got := cell(0, "Namespace/Name"); got != "node-shell/kubectl-node-shell-agent-x session abc" {
		t.Errorf("name %q", got)
	}
	if got := cell(0, "User"); strings.ContainsRune(got, 0x1b) || !strings.HasPrefix(got, "alice") {
		t.Errorf("user %q: want alice, escaped", got)
	}
	if cell(0, "State") != "alive" || cell(1, "State") != "stale" || cell(1, "Command") != "<login shell>" || cell(0, "Node") != "node-1" {
		t.Errorf("rows %v", table.Rows)
	}
	for _, r := range table.Rows {
		if len(r.Cells) != len(table.ColumnDefinitions) {
			t.Errorf("row of %d cells for %d columns", len(r.Cells), len(table.ColumnDefinitions))
		}
	}
}

func TestValidateAgent(t *testing.T) {
	for _, tc := range []struct {
		agent string
		fleet bool
		want  string
	}{
		{"", false, ""}, {"auto", true, ""}, {"never", true, ""}, {"always", false, ""},
		{"always", true, "--agent=always runs on one node"},
		{"sometimes", false, `--agent must be auto, always or never, not "sometimes"`},
	} {
		o := &NodeShellOptions{Agent: tc.agent, fleet: tc.fleet}
		err := o.validateAgent()
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("--agent=%q fleet=%v: %v, want %q", tc.agent, tc.fleet, err, tc.want)
		}
	}
}
