// Package diagnose turns pod states and API errors into one line a user can act on: what
// went wrong and what to do about it. It decides nothing; callers decide whether to stop.
package diagnose

import "strings"

// Problem is a failure explained: Cause says what went wrong, Fix what to do, Detail the raw
// message from the cluster (shown on request, since it is often long).
type Problem struct {
	Cause  string
	Fix    string
	Detail string
	// Err is the underlying error, if any, for errors.Is / errors.As.
	Err error
}

// Error is the one line a user reads.
func (p *Problem) Error() string {
	if p.Fix == "" {
		return p.Cause
	}
	return p.Cause + "; " + p.Fix
}

// Unwrap gives callers the API error underneath.
func (p *Problem) Unwrap() error { return p.Err }

// condense keeps the first line of a cluster message and cuts it to a readable length.
func condense(msg string) string {
	msg = strings.TrimSpace(msg)
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	const maxLen = 200
	if len(msg) > maxLen {
		msg = msg[:maxLen-1] + "…"
	}
	return msg
}
