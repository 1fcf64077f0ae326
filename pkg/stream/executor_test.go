package stream

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// execRequest is what the apiserver saw of one exec attempt.
type execRequest struct {
	Method, Path, Upgrade string
	Query                 url.Values
}

// refusingAPIServer records exec requests and refuses each upgrade, as an apiserver does
// when the user may not exec: the executor then falls back from SPDY to WebSocket.
func refusingAPIServer(t *testing.T) (*RemoteExecutor, func() []execRequest) {
	t.Helper()
	var mu sync.Mutex
	var seen []execRequest
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, execRequest{Method: r.Method, Path: r.URL.Path, Upgrade: r.Header.Get("Upgrade"), Query: r.URL.Query()})
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte(`{"kind":"Status","apiVersion":"v1","status":"Failure","message":"pods \"p\" is forbidden: exec denied","reason":"Forbidden","code":403}`))
	}))
	t.Cleanup(srv.Close)
	config := &rest.Config{Host: srv.URL}
	client, err := kubernetes.NewForConfig(config)
	if err != nil {
		t.Fatal(err)
	}
	return &RemoteExecutor{Config: config, Client: client.CoreV1().RESTClient()}, func() []execRequest {
		mu.Lock()
		defer mu.Unlock()
		return append([]execRequest(nil), seen...)
	}
}

// TestRemoteExecutorRequest: the exec URL carries the container, the command as repeated
// arguments and exactly the streams asked for (no stderr stream with a TTY, which carries
// both); SPDY is tried first (POST), then WebSocket (GET) with the same URL, and the
// refusal returned is SPDY's, the apiserver's own words.
func TestRemoteExecutorRequest(t *testing.T) {
	for _, tc := range []struct {
		name      string
		req       Request
		wantQuery url.Values
	}{{
		name: "tty",
		req: Request{Namespace: "ops", Pod: "p", Container: "shell", Command: []string{"sh", "-c", "echo a b"},
			Stdin: strings.NewReader(""), Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{}, TTY: true},
		wantQuery: url.Values{"container": {"shell"}, "command": {"sh", "-c", "echo a b"}, "stdin": {"true"}, "stdout": {"true"}, "tty": {"true"}},
	}, {
		name: "no stdin, no tty",
		req: Request{Namespace: "ops", Pod: "p", Container: "shell", Command: []string{"journalctl", "-n", "5"},
			Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{}},
		wantQuery: url.Values{"container": {"shell"}, "command": {"journalctl", "-n", "5"}, "stdout": {"true"}, "stderr": {"true"}},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			exec, seen := refusingAPIServer(t)
			err := exec.Exec(context.Background(), tc.req)
			if err == nil || !strings.HasPrefix(err.Error(), "unable to upgrade connection: ") || !strings.Contains(err.Error(), "exec denied") {
				t.Errorf("Exec = %v, want the apiserver's refusal of the SPDY upgrade", err)
			}
			want := []execRequest{
				{Method: http.MethodPost, Path: "/api/v1/namespaces/ops/pods/p/exec", Upgrade: "SPDY/3.1", Query: tc.wantQuery},
				{Method: http.MethodGet, Path: "/api/v1/namespaces/ops/pods/p/exec", Upgrade: "websocket", Query: tc.wantQuery},
			}
			if diff := cmp.Diff(want, seen()); diff != "" {
				t.Errorf("requests (-want +got):\n%s", diff)
			}
		})
	}
}

// TestRemoteExecutorSPDYOnly: with kubectl's escape hatch for proxies that break WebSockets,
// the only attempt is SPDY.
func TestRemoteExecutorSPDYOnly(t *testing.T) {
	t.Setenv("KUBECTL_REMOTE_COMMAND_WEBSOCKETS", "false")
	exec, seen := refusingAPIServer(t)
	err := exec.Exec(context.Background(), Request{Namespace: "ops", Pod: "p", Command: []string{"true"}, Stdout: &bytes.Buffer{}})
	if err == nil || !strings.HasPrefix(err.Error(), "unable to upgrade connection: ") || !strings.Contains(err.Error(), "exec denied") {
		t.Errorf("Exec = %v, want the apiserver's refusal of the SPDY upgrade", err)
	}
	got := seen()
	if len(got) != 1 || got[0].Method != http.MethodPost || got[0].Upgrade != "SPDY/3.1" {
		t.Errorf("requests = %+v, want one SPDY POST", got)
	}
}
