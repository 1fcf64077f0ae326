package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/agent"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/recording"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/session"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/sessionlog"
)

// TestSessionRecords: with the agent installed with --record, every session, on the agent
// or in a pod of its own, leaves a record on its node that the node writes (exit status, or
// why it was ended when its client was killed) and Events on its pod; a TTY session's
// recording can be listed and replayed and holds what was typed and shown, without the
// escape sequences that would attack the viewer's terminal; a tenant reads none of it.
func TestSessionRecords(t *testing.T) {
	e := newE2E(t)
	e.removeSetup()
	t.Cleanup(e.removeSetup)
	e.setup(e.kubeconfig, "--group", "node-admins").RunOK()
	node := e.Nodes()[2]
	alice := e.mint("e2e-records-alice", "node-admins")
	e.waitAllowed(alice, authorizationv1.ResourceAttributes{Verb: "create", Resource: "pods", Subresource: "exec", Namespace: agent.Namespace})

	t.Cleanup(func() { e.NodeShellAnyNamespace("agent", "uninstall").Run() })
	e.scheduleAgentPods()
	r := e.NodeShellAnyNamespace("agent", "install", "--record").RunOK()
	if strings.Count(string(r.Stdout), " tty ") != len(e.Nodes()) {
		t.Errorf("install's status does not show recording on every node:\n%s", r.Stdout)
	}
	marker := func(what string) string { return fmt.Sprintf("e2e-%s-%d", what, time.Now().UnixNano()) }
	records := func(t *testing.T) map[string]sessionlog.Listed {
		t.Helper()
		r := e.NodeShellAnyNamespace("sessions", "-o", "json").WithKubeconfig(alice).RunOK()
		var list struct {
			Kind  string              `json:"kind"`
			Items []sessionlog.Listed `json:"items"`
		}
		if err := json.Unmarshal(r.Stdout, &list); err != nil || list.Kind != sessionlog.ListKind {
			t.Fatalf("sessions -o json: %v, kind %q:\n%s", err, list.Kind, r.Stdout)
		}
		byReason := map[string]sessionlog.Listed{}
		for _, it := range list.Items {
			if it.Session.Reason != "" {
				byReason[it.Session.Reason] = it
			}
		}
		return byReason
	}

	t.Run("every session leaves its record on the node, written by the node", func(t *testing.T) {
		e := e.For(t)
		onAgent, inPod, killed := marker("agent"), marker("pod"), marker("killed")
		if r := e.NodeShellAnyNamespace("--reason", onAgent, node, "--", "sh", "-c", "echo hi; exit 3").WithKubeconfig(alice).Run(); r.Status != 3 || len(r.Sessions) != 0 {
			t.Fatalf("agent session: status %d, %d pods; want 3 and none", r.Status, len(r.Sessions))
		}
		if r := e.NodeShellAnyNamespace("--agent=never", "--reason", inPod, node, "--", "sh", "-c", "exit 4").WithKubeconfig(alice).Run(); r.Status != 4 || len(r.Sessions) != 1 {
			t.Fatalf("pod session: status %d, %d pods; want 4 and its own", r.Status, len(r.Sessions))
		}
		arg := uniqueSleep()
		run := e.NodeShellAnyNamespace("--reason", killed, "--heartbeat-timeout", testHeartbeatTimeout.String(), node, "--", "sleep", arg).WithKubeconfig(alice).Start()
		pid := waitHostProcess(t, []string{"sleep", arg}, 30*time.Second)
		run.Signal(syscall.SIGKILL)
		run.Wait(10 * time.Second)
		waitProcessGone(t, pid, expiryBound)

		// The same in a pod of its own: its watchdog stops the pod, and ends the record first.
		podKilled := marker("pod-killed")
		arg = uniqueSleep()
		run = e.NodeShellAnyNamespace("--agent=never", "--reason", podKilled, "--heartbeat-timeout", testHeartbeatTimeout.String(), node, "--", "sleep", arg).WithKubeconfig(alice).Start()
		pid = waitHostProcess(t, []string{"sleep", arg}, 30*time.Second)
		run.Signal(syscall.SIGKILL)
		run.Wait(10 * time.Second)
		waitProcessGone(t, pid, expiryBound)
		deadline := time.Now().Add(expiryBound)
		for pk := records(t)[podKilled]; pk.End == nil; pk = records(t)[podKilled] {
			if time.Now().After(deadline) {
				t.Fatalf("the killed pod session's record has no end %s after its client died: %+v", expiryBound, pk)
			}
			time.Sleep(time.Second)
		}
		if pk := records(t)[podKilled]; pk.ExitStatus != nil || !strings.Contains(pk.EndedBy, "the pod's watchdog: no heartbeat from the client") {
			t.Errorf("the killed pod session's record %+v: want ended by its pod's watchdog", pk)
		}
		e.NodeShellAnyNamespace("gc").RunOK() // its stopped pod

		got := records(t)
		a, p, k := got[onAgent], got[inPod], got[killed]
		if a.ID == "" || p.ID == "" || k.ID == "" {
			t.Fatalf("sessions lacks a record: agent %+v, pod %+v, killed %+v", a, p, k)
		}
		for _, c := range []struct {
			name string
			rec  sessionlog.Listed
			exit int
		}{{"agent session", a, 3}, {"pod session", p, 4}} {
			if c.rec.ExitStatus == nil || *c.rec.ExitStatus != c.exit || c.rec.Node != node || c.rec.Session.User != "e2e-records-alice" ||
				c.rec.Start == nil || c.rec.End == nil || c.rec.End.Before(*c.rec.Start) || c.rec.RecordingBytes != nil {
				t.Errorf("%s's record %+v: want alice's on node %s, exit %d, start and end, no recording (no TTY)", c.name, c.rec, node, c.exit)
			}
		}
		if !a.Session.Agent || p.Session.Agent || a.Session.Command != "sh -c 'echo hi; exit 3'" {
			t.Errorf("agent %+v / pod %+v: want agent true then false, the whole command line", a.Session, p.Session)
		}
		// kill -9 of the client: the node's watcher wrote the end, not the client.
		if k.ExitStatus != nil || !strings.Contains(k.EndedBy, "no heartbeat from the client") || k.End == nil {
			t.Errorf("the killed client's session record %+v: want ended by the node for lack of heartbeat", k)
		}
		// The table says the same in words.
		table := string(e.NodeShellAnyNamespace("sessions", node).WithKubeconfig(alice).RunOK().Stdout)
		for _, want := range []string{a.ID[:12] + " ", "exit 3", "exit 4", "ended: no heartbeat from the client"} {
			if !strings.Contains(table, want) {
				t.Errorf("sessions %s does not show %q:\n%s", node, want, table)
			}
		}
		// Events on the pods, in the apiserver: start and end, with user and status.
		e.waitSessionEvent(agent.Namespace, session.EventReasonEnded, a.ID[:12], "exit status 3")
		e.waitSessionEvent(agent.Namespace, session.EventReasonStarted, p.ID[:12], "e2e-records-alice")
		e.waitSessionEvent(agent.Namespace, session.EventReasonEnded, p.ID[:12], "exit status 4")
	})

	t.Run("a recorded TTY session is listed and replayed with what was typed and shown", func(t *testing.T) {
		e := e.For(t)
		for _, mode := range []string{"auto", "never"} {
			reason := marker("tty-" + mode)
			term := e.NodeShellAnyNamespace("--agent="+mode, "--reason", reason, node).WithKubeconfig(alice).StartTerminal(24, 80)
			term.Send("echo TYPED-$((6*7))\n")
			term.Expect("TYPED-42", 30*time.Second)
			// An attack on whoever replays it: write their clipboard, ask their terminal to type.
			term.Send(`printf '\033]52;c;ZWNobyBwd25lZA==\007\033[6nSAFE-%s\n' ok` + "\n")
			term.Expect("SAFE-ok", 10*time.Second)
			term.Send("exit 0\n")
			if got := term.Wait(20 * time.Second); got != 0 {
				t.Fatalf("--agent=%s: the shell's exit came back as %d", mode, got)
			}
			rec := records(t)[reason]
			if rest := term.rest(); strings.Contains(rest, "recording") {
				t.Errorf("--agent=%s: the session warned about its recording: %q", mode, rest)
			}
			if rec.RecordingBytes == nil || *rec.RecordingBytes == 0 || !rec.Session.TTY || rec.Session.Agent != (mode == "auto") {
				size := int64(-1)
				if rec.RecordingBytes != nil {
					size = *rec.RecordingBytes
				}
				t.Fatalf("--agent=%s: the TTY session's record %+v (recording: %d bytes): want a recording; the terminal's last lines: %q", mode, rec, size, term.rest())
			}
			text := e.NodeShellAnyNamespace("replay", node, rec.ID[:12], "-o", "text").WithKubeconfig(alice).RunOK()
			out := string(text.Stdout)
			for _, want := range []string{"echo TYPED-$((6*7))", "TYPED-42", "SAFE-ok"} {
				if !strings.Contains(out, want) {
					t.Errorf("--agent=%s: replay -o text lacks %q:\n%q", mode, want, out)
				}
			}
			if strings.Contains(out, "\x1b]52") || strings.Contains(out, "\x1b[6n") {
				t.Errorf("--agent=%s: replay passed the clipboard write or the status report request on:\n%q", mode, out)
			}
			// The file on the node is asciicast v2, as recorded, and whole.
			raw := e.NodeShellAnyNamespace("replay", rec.ID, "-o", "cast").WithKubeconfig(alice).RunOK()
			cast, err := recording.Read(strings.NewReader(string(raw.Stdout)))
			if err != nil || cast.Header.Width != 80 || cast.Header.Height != 24 || cast.Truncated || int64(len(raw.Stdout)) != *rec.RecordingBytes {
				t.Errorf("--agent=%s: replay -o cast: %v, header %+v, truncated %v, %d bytes (record says %d)", mode, err, cast.Header, cast.Truncated, len(raw.Stdout), *rec.RecordingBytes)
			}
			if !strings.Contains(string(raw.Stdout), `]52;c;`) {
				t.Errorf("--agent=%s: the cast file is not the session as shown: no clipboard sequence in it", mode)
			}
			// Playing it, fast: the same output.
			play := e.NodeShellAnyNamespace("replay", node, rec.ID[:8], "--speed", "1000").WithKubeconfig(alice).RunOK()
			if !strings.Contains(string(play.Stdout), "TYPED-42") || !strings.Contains(string(play.Stderr), "by e2e-records-alice on node "+node) {
				t.Errorf("--agent=%s: replay: stdout %q, stderr %q", mode, play.Stdout, play.Stderr)
			}
		}
	})

	t.Run("bad input and tenants: one line, nothing read", func(t *testing.T) {
		e := e.For(t)
		r := e.NodeShellAnyNamespace("replay", node, "ffffffff0000").WithKubeconfig(alice).Run()
		e.assertOneErrorLine(r, "no session on node "+node+" has an ID starting with ffffffff0000")
		r = e.NodeShellAnyNamespace("replay", "not-hex").Run()
		e.assertOneErrorLine(r, `"not-hex" is not a session ID`)
		r = e.NodeShellAnyNamespace("sessions", "-o", "xml").Run()
		e.assertOneErrorLine(r, "--output must be 'wide', 'json' or 'yaml'")
		plain := marker("plain")
		e.NodeShellAnyNamespace("--reason", plain, node, "--", "true").WithKubeconfig(alice).RunOK()
		r = e.NodeShellAnyNamespace("replay", node, records(t)[plain].ID).WithKubeconfig(alice).Run()
		e.assertOneErrorLine(r, "was not recorded: it had no terminal")
		// A tenant with edit in a shared namespace: no records, no recordings, told why.
		tenant := e.workloadEditor("e2e-records-tenant")
		for _, args := range [][]string{{"sessions"}, {"replay", "0123abcd"}} {
			r := e.NodeShellAnyNamespace(args...).WithKubeconfig(tenant.path).Run()
			e.assertOneErrorLine(r, "you are not allowed to list pods in namespace node-shell")
			if len(r.Stdout) != 0 {
				t.Errorf("%v as a tenant printed %q", args, r.Stdout)
			}
		}
	})
}

// waitSessionEvent waits for a session Event with reason whose note holds every substring.
func (e *E2E) waitSessionEvent(namespace, reason string, substrings ...string) *eventsv1.Event {
	e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		list, err := e.client.EventsV1().Events(namespace).List(context.Background(), metav1.ListOptions{})
		if err == nil {
			for i := range list.Items {
				ev := &list.Items[i]
				if ev.Reason != reason || ev.ReportingController != session.EventController {
					continue
				}
				ok := true
				for _, s := range substrings {
					ok = ok && strings.Contains(ev.Note, s)
				}
				if ok {
					return ev
				}
			}
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("no %s Event in %s with %q within 30s (%v)", reason, namespace, substrings, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// rest is what the terminal showed after the last Expect.
func (term *Terminal) rest() string {
	term.mu.Lock()
	defer term.mu.Unlock()
	return term.out.String()
}
