// Package serverclock reads the apiserver's clock from the Date header of its responses, so
// that node-shell judges the age of server-stamped times (a pod's managedFields, its
// creation) against the server's clock, never against the local one: two admins' clocks may
// be minutes apart, the apiserver's clock is the one both share.
package serverclock

import (
	"net/http"
	"sync"
	"time"
)

// Clock is the apiserver's clock as last seen in a response. The zero value knows nothing
// until a response passes through a transport it wraps.
type Clock struct {
	mu     sync.Mutex
	offset time.Duration // server minus local
	known  bool
	// local is the local clock; nil means time.Now.
	local func() time.Time
}

// New returns a Clock that reads local time with local (nil: time.Now).
func New(local func() time.Time) *Clock { return &Clock{local: local} }

// Wrap is a transport wrapper for rest.Config.Wrap: every response's Date updates the clock.
func (c *Clock) Wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripper{next: rt, clock: c}
}

// Observe takes the server's time from a response's Date header, received at local time at.
// Date has a resolution of one second and is truncated, so half a second is added: the
// estimate is then within ±0.5 s, plus the response's time in flight.
func (c *Clock) Observe(header http.Header, at time.Time) {
	date, err := http.ParseTime(header.Get("Date"))
	if err != nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset = date.Add(500 * time.Millisecond).Sub(at)
	c.known = true
}

// Now is the server's current time; ok is false when no response has told it yet (a proxy
// that strips Date, or no request made), and callers must then not judge ages at all.
func (c *Clock) Now() (now time.Time, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.known {
		return time.Time{}, false
	}
	return c.localNow().Add(c.offset), true
}

// Offset is how far the server's clock is ahead of the local one (negative: behind).
func (c *Clock) Offset() (time.Duration, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.offset, c.known
}

func (c *Clock) localNow() time.Time {
	if c.local != nil {
		return c.local()
	}
	return time.Now()
}

type roundTripper struct {
	next  http.RoundTripper
	clock *Clock
}

// WrappedRoundTripper lets client-go find the transport underneath (its TLS settings, for
// the exec and port-forward upgrades).
func (r roundTripper) WrappedRoundTripper() http.RoundTripper { return r.next }

func (r roundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.next.RoundTrip(req)
	if err == nil {
		r.clock.Observe(resp.Header, r.clock.localNow())
	}
	return resp, err
}
