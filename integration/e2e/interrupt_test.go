package e2e

import (
	"syscall"
	"testing"
	"time"
)

// interruptBound is how soon after Ctrl-C or SIGTERM node-shell must be gone, pod deleted.
const interruptBound = time.Second

// terminalInterrupts are the two ways a user ends node-shell at its terminal, and the exit
// status each must give; interrupt fails the subtest it is given, never its parent.
var terminalInterrupts = []struct {
	name      string
	interrupt func(t *testing.T, term *Terminal)
	want      int
}{
	{"ctrl-c", func(_ *testing.T, term *Terminal) { term.Send("\x03") }, 130},
	{"sigterm", func(t *testing.T, term *Terminal) {
		if err := term.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
	}, 143},
}

// TestInterruptDuringSlowStart: on a real terminal, a session waits for a kubelet that is
// stopped. Ctrl-C 2.5 s in (the terminal is not in raw mode yet, so it is a signal) ends
// node-shell within a second with status 130, and SIGTERM with 143; the pod is deleted.
func TestInterruptDuringSlowStart(t *testing.T) {
	e := newE2E(t)
	node := e.Nodes()[len(e.Nodes())-1]
	e.stopKubelet(node)
	for _, tc := range terminalInterrupts {
		t.Run(tc.name, func(t *testing.T) {
			e := e.For(t)
			term := e.NodeShell(node, "--", "true").StartTerminal(24, 80)
			started := time.Now()
			term.Expect("waiting for the kubelet on node "+node, 30*time.Second)
			term.AssertOnNode(t, node)
			time.Sleep(time.Until(started.Add(2500 * time.Millisecond))) // a user who gives up 2.5 s in
			sent := time.Now()
			tc.interrupt(t, term)
			status := term.Wait(30 * time.Second)
			took := time.Since(sent)
			t.Logf("%s %.1fs into the start: exit %d after %v", tc.name, sent.Sub(started).Seconds(), status, took.Round(time.Millisecond))
			if status != tc.want || took > interruptBound {
				t.Errorf("exit %d after %v; want %d within %v", status, took, tc.want, interruptBound)
			}
			e.AssertNoNodeShellPods()
		})
	}
}
