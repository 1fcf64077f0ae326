package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"sort"
	"strings"
	"time"
)

// auditEvent is the part of an apiserver audit event (audit.k8s.io/v1, level Metadata) the
// benchmark reads.
type auditEvent struct {
	Stage      string    `json:"stage"`
	Verb       string    `json:"verb"`
	RequestURI string    `json:"requestURI"`
	UserAgent  string    `json:"userAgent"`
	Received   time.Time `json:"requestReceivedTimestamp"`
	Completed  time.Time `json:"stageTimestamp"`
	User       struct {
		Username string `json:"username"`
	} `json:"user"`
	ObjectRef *struct {
		Resource    string `json:"resource"`
		Subresource string `json:"subresource"`
	} `json:"objectRef"`
	ResponseStatus *struct {
		Code int `json:"code"`
	} `json:"responseStatus"`
}

// request is one API request a tool made, as the audit log saw it.
type request struct {
	Label     string    `json:"label"`
	UserAgent string    `json:"user_agent"`
	Code      int       `json:"code"`
	Received  time.Time `json:"-"`
	Completed time.Time `json:"-"`
	// Offset is when the apiserver received it, from the start of the tool's process.
	OffsetMS   float64 `json:"offset_ms"`
	DurationMS float64 `json:"duration_ms"`
	// Concurrent is set when the request overlapped another of the same session: it is off
	// the session's critical path (or shares its place on it).
	Concurrent bool `json:"concurrent"`
}

// longRunning requests hold their connection open; the apiserver logs their end when it
// notices the client went away, a little after the client moved on.
func (r request) longRunning() bool {
	return strings.HasPrefix(r.Label, "watch ") || strings.Contains(r.Label, "/exec") ||
		strings.Contains(r.Label, "/attach") || strings.Contains(r.Label, "/log")
}

// readAudit returns the ResponseComplete events of user, leaving out the harness's own
// requests (made with harnessUserAgent).
func readAudit(path, user string) ([]auditEvent, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var events []auditEvent
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if !strings.Contains(string(line), `"ResponseComplete"`) {
			continue
		}
		var ev auditEvent
		if err := json.Unmarshal(line, &ev); err != nil {
			return nil, fmt.Errorf("audit log %s: %w", path, err)
		}
		if ev.Stage != "ResponseComplete" || ev.User.Username != user || strings.HasPrefix(ev.UserAgent, harnessUserAgent) {
			continue
		}
		events = append(events, ev)
	}
	return events, sc.Err()
}

// label names a request by verb and resource ("create pods", "get pods/exec") or, for a
// non-resource request, by verb and path ("get /api").
func label(ev auditEvent) string {
	if ev.ObjectRef != nil && ev.ObjectRef.Resource != "" {
		res := ev.ObjectRef.Resource
		if ev.ObjectRef.Subresource != "" {
			res += "/" + ev.ObjectRef.Subresource
		}
		return ev.Verb + " " + res
	}
	path := ev.RequestURI
	if u, err := url.Parse(ev.RequestURI); err == nil {
		path = u.Path
	}
	return ev.Verb + " " + path
}

// requestsIn returns the requests received in [start, end], in order, with offsets from
// start and their concurrency marked.
func requestsIn(events []auditEvent, start, end time.Time) []request {
	var reqs []request
	for _, ev := range events {
		if ev.Received.Before(start.Add(-time.Millisecond)) || ev.Received.After(end) {
			continue
		}
		r := request{
			Label: label(ev), UserAgent: ev.UserAgent, Received: ev.Received, Completed: ev.Completed,
			OffsetMS:   ms(ev.Received.Sub(start)),
			DurationMS: ms(ev.Completed.Sub(ev.Received)),
		}
		if ev.ResponseStatus != nil {
			r.Code = ev.ResponseStatus.Code
		}
		reqs = append(reqs, r)
	}
	sort.SliceStable(reqs, func(i, j int) bool { return reqs[i].Received.Before(reqs[j].Received) })
	markConcurrent(reqs)
	return reqs
}

// longRunningLag is how late the apiserver may log the end of a watch or exec after the
// client has moved on; a request that starts within it is still sequential.
const longRunningLag = 50 * time.Millisecond

// effectiveEnd is when r stopped holding up the session.
func (r request) effectiveEnd() time.Time {
	if r.longRunning() {
		return r.Completed.Add(-longRunningLag)
	}
	return r.Completed
}

// markConcurrent marks each request that overlapped another; reqs are sorted by Received.
func markConcurrent(reqs []request) {
	for i := range reqs {
		for j := i + 1; j < len(reqs); j++ {
			if reqs[j].Received.Before(reqs[i].effectiveEnd()) {
				reqs[i].Concurrent, reqs[j].Concurrent = true, true
			}
		}
	}
}

// sequentialRounds is the number of round trips on the critical path: requests that
// overlap count once together. reqs are sorted by Received.
func sequentialRounds(reqs []request) int {
	rounds := 0
	var end time.Time
	for i, r := range reqs {
		if i == 0 || !r.Received.Before(end) {
			rounds++
			end = r.effectiveEnd()
		} else if e := r.effectiveEnd(); e.After(end) {
			end = e
		}
	}
	return rounds
}

// countLabels is the multiset of labels, as "label ×n" sorted by first appearance.
func countLabels(reqs []request) []labelCount {
	var out []labelCount
	index := map[string]int{}
	for _, r := range reqs {
		if i, ok := index[r.Label]; ok {
			out[i].Count++
			continue
		}
		index[r.Label] = len(out)
		out = append(out, labelCount{Label: r.Label, Count: 1})
	}
	return out
}

type labelCount struct {
	Label string `json:"label"`
	Count int    `json:"count"`
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
