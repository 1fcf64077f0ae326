package serverclock

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestNowFollowsTheServersDate(t *testing.T) {
	local := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	c := New(func() time.Time { return local })
	if _, ok := c.Now(); ok {
		t.Fatal("Now is known before any response")
	}
	// The server is 200 s behind the local clock (a coworker's laptop, or ours).
	server := local.Add(-200 * time.Second)
	c.Observe(http.Header{"Date": {server.Format(http.TimeFormat)}}, local)
	got, ok := c.Now()
	if !ok {
		t.Fatal("Now unknown after a response with a Date")
	}
	if d := got.Sub(server); d < 0 || d > time.Second {
		t.Errorf("Now = %v, want within a second after the server's %v", got, server)
	}
	local = local.Add(time.Minute)
	if got2, _ := c.Now(); got2.Sub(got) != time.Minute {
		t.Errorf("Now moved by %v when the local clock moved a minute", got2.Sub(got))
	}
}

func TestAResponseWithoutDateChangesNothing(t *testing.T) {
	c := New(nil)
	c.Observe(http.Header{"Date": {"yesterday"}}, time.Now())
	if _, ok := c.Now(); ok {
		t.Error("an unreadable Date made the clock known")
	}
}

func TestWrapReadsEveryResponse(t *testing.T) {
	serverTime := time.Now().Add(-3 * time.Hour).UTC()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Date", serverTime.Format(http.TimeFormat))
	}))
	defer srv.Close()
	c := New(nil)
	client := &http.Client{Transport: c.Wrap(http.DefaultTransport)}
	resp, err := client.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	off, ok := c.Offset()
	if !ok || off > -3*time.Hour+2*time.Second || off < -3*time.Hour-2*time.Second {
		t.Errorf("Offset = %v, %v; want about -3h", off, ok)
	}
}
