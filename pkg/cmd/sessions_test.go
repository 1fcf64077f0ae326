package cmd

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"k8s.io/cli-runtime/pkg/printers"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/sessionlog"
)

func intPtr(i int) *int { return &i }

func TestSessionsTableSaysHowEachSessionEnded(t *testing.T) {
	start := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	records := []nodeRecord{
		{node: "n1", entry: sessionlog.Entry{ID: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", Start: start, End: start.Add(3 * time.Second), ExitStatus: intPtr(3), CastBytes: -1,
			Record: sessionlog.Record{User: "alice", Command: "sh -c 'exit 3'"}}},
		{node: "n1", entry: sessionlog.Entry{ID: "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", Start: start, End: start.Add(time.Minute), EndedBy: "no heartbeat from the client for 30s", CastBytes: 2048,
			Record: sessionlog.Record{User: "bob\x1b[31m", Agent: true, TTY: true}}},
		{node: "n2", running: true, entry: sessionlog.Entry{ID: "cccccccccccccccccccccccccccccccc", Start: start, CastBytes: -1}},
		{node: "n2", entry: sessionlog.Entry{ID: "dddddddddddddddddddddddddddddddd", Start: start, CastBytes: -1}},
	}
	var out bytes.Buffer
	if err := printers.NewTablePrinter(printers.PrintOptions{}).PrintObj(recordsTable(records, start.Add(time.Hour)), &out); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, want := range []string{"aaaaaaaaaaaa ", "exit 3", "ended: no heartbeat from the client for 30s", "2.0Ki", "running", "60m", "no end recorded", "<login shell>", `bob\x1b[31m`} {
		if !strings.Contains(text, want) {
			t.Errorf("the table lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "\x1b") || strings.Contains(text, "aaaaaaaaaaaaa") {
		t.Errorf("the table holds a raw escape or a full ID outside -o wide:\n%q", text)
	}
}

// Nodes that share one log directory (one machine, several kubelets) show each record once,
// under the node the record names.
func TestOneRecordPerSession(t *testing.T) {
	rec := func(node, id, named string) nodeRecord {
		return nodeRecord{node: node, entry: sessionlog.Entry{ID: id, Record: sessionlog.Record{Node: named}}}
	}
	got := oneRecordPerSession([]nodeRecord{rec("n1", "a", "n2"), rec("n2", "a", "n2"), rec("n3", "a", "n2"), rec("n1", "b", "n1"), rec("n2", "b", "n1")})
	if len(got) != 2 || got[0].node != "n2" || got[1].node != "n1" {
		t.Fatalf("got %+v; want a on n2 and b on n1", got)
	}
}

func TestSessionsJSONIsEscapedAndComplete(t *testing.T) {
	start := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	var out bytes.Buffer
	err := printRecordsAs(&out, "json", []nodeRecord{{node: "n1", entry: sessionlog.Entry{ID: "ab", Start: start, ExitStatus: intPtr(0), CastBytes: 10,
		Record: sessionlog.Record{User: "eve\u009b2J", Reason: "INC-1"}}}})
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		Kind  string `json:"kind"`
		Items []struct {
			Node           string            `json:"node"`
			Session        sessionlog.Record `json:"session"`
			ExitStatus     *int              `json:"exitStatus"`
			RecordingBytes *int64            `json:"recordingBytes"`
		} `json:"items"`
	}
	if err := json.Unmarshal(out.Bytes(), &list); err != nil || list.Kind != "NodeShellSessionList" || len(list.Items) != 1 {
		t.Fatalf("%v: %s", err, out.String())
	}
	it := list.Items[0]
	if it.Node != "n1" || it.Session.User != "eve\u009b2J" || it.Session.Reason != "INC-1" || it.ExitStatus == nil || *it.ExitStatus != 0 || it.RecordingBytes == nil || *it.RecordingBytes != 10 {
		t.Errorf("item %+v", it)
	}
	if strings.Contains(out.String(), "\u009b") {
		t.Errorf("a raw C1 control in -o json: %q", out.String())
	}
}

func TestReplayValidatesBeforeAnyRequest(t *testing.T) {
	for _, c := range []struct {
		args []string
		mod  func(*ReplayOptions)
		want string
	}{
		{[]string{}, nil, "name the session"},
		{[]string{"a", "b", "c"}, nil, "name the session"},
		{[]string{"xyz"}, nil, `"xyz" is not a session ID`},
		{[]string{"abc"}, nil, "4 to 32 hex digits"},
		{[]string{"Bad_Node", "abcd"}, nil, "not a valid node name"},
		{[]string{"abcd"}, func(o *ReplayOptions) { o.Speed = 0 }, "--speed must be above 0"},
		{[]string{"abcd"}, func(o *ReplayOptions) { o.IdleTimeLimit = -time.Second }, "--idle-time-limit must not be negative"},
		{[]string{"abcd"}, func(o *ReplayOptions) { o.Output = "json" }, "--output must be 'text' or 'cast'"},
	} {
		o := &ReplayOptions{Speed: 1}
		if c.mod != nil {
			c.mod(o)
		}
		err := o.Complete(c.args)
		if err == nil {
			err = o.Validate()
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("replay %v: %v, want %q", c.args, err, c.want)
		}
	}
	o := &ReplayOptions{Speed: 1}
	if err := o.Complete([]string{"node-1", "0123abcd"}); err != nil || o.Validate() != nil || o.Node != "node-1" || o.Session != "0123abcd" {
		t.Errorf("replay node-1 0123abcd: %+v", o)
	}
}
