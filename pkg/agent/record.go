package agent

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/sessionlog"
)

// Record is what an agent session writes about itself, on the node, as `list` shows it and
// as the node's session log (pkg/sessionlog) keeps it: the client's claims.
type Record = sessionlog.Record

// Session is one agent session as the node reports it (listScript).
type Session struct {
	ID string
	// SinceHeartbeat and Age are measured by the node's monotonic clock.
	SinceHeartbeat time.Duration
	Age            time.Duration
	// SupervisorAlive is false when the session's supervisor no longer leads its session.
	SupervisorAlive bool
	Record          Record
}

// Stale reports whether no session needs s any more: its supervisor is gone, or its
// heartbeat is older than its timeout plus margin (its watcher should have ended it).
func (s Session) Stale(margin time.Duration) bool {
	if !s.SupervisorAlive {
		return true
	}
	timeout, err := time.ParseDuration(s.Record.HeartbeatTimeout)
	if err != nil || timeout <= 0 {
		return s.SinceHeartbeat > margin
	}
	return s.SinceHeartbeat > timeout+margin
}

// ParseSessions reads listScript's output. A line it cannot read is an error: the
// output is the agent's, and one that does not match means another agent version.
func ParseSessions(out string) ([]Session, error) {
	var sessions []Session
	for _, line := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		if line == "" {
			continue
		}
		f := strings.SplitN(line, "\t", 5)
		if len(f) != 5 {
			return nil, fmt.Errorf("agent session line %q: want 5 tab-separated fields", line)
		}
		since, err1 := strconv.ParseInt(f[1], 10, 64)
		age, err2 := strconv.ParseInt(f[2], 10, 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("agent session line %q: ages are not whole seconds", line)
		}
		s := Session{ID: f[0], SinceHeartbeat: time.Duration(since) * time.Second, Age: time.Duration(age) * time.Second, SupervisorAlive: f[3] == "1"}
		if f[4] != "" {
			if err := json.Unmarshal([]byte(f[4]), &s.Record); err != nil {
				s.Record.Command = "<unreadable record>"
			}
		}
		sessions = append(sessions, s)
	}
	return sessions, nil
}
