package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestRequestsIn(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	at := func(ms int) string { return t0.Add(time.Duration(ms) * time.Millisecond).Format(time.RFC3339Nano) }
	line := func(stage, user, ua, verb, uri, resource, sub string, from, to int) string {
		ref := ""
		if resource != "" {
			ref = `,"objectRef":{"resource":"` + resource + `","subresource":"` + sub + `","namespace":"bench"}`
		}
		return `{"kind":"Event","level":"Metadata","stage":"` + stage + `","verb":"` + verb + `","requestURI":"` + uri +
			`","user":{"username":"` + user + `","groups":["system:masters"]},"userAgent":"` + ua + `"` + ref +
			`,"responseStatus":{"code":200},"requestReceivedTimestamp":"` + at(from) + `","stageTimestamp":"` + at(to) + `"}`
	}
	log := []string{
		line("ResponseComplete", adminUser, "kubectl-node_shell/v0", "create", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", "selfsubjectaccessreviews", "", 10, 14),
		line("ResponseComplete", adminUser, "kubectl-node_shell/v0", "get", "/api/v1/nodes/n1", "nodes", "", 11, 13),
		line("ResponseComplete", adminUser, harnessUserAgent, "list", "/api/v1/namespaces/bench/pods", "pods", "", 12, 13),
		line("ResponseComplete", "system:node:n1", "kubelet", "get", "/api/v1/nodes/n1", "nodes", "", 12, 13),
		line("ResponseComplete", adminUser, "kubectl-node_shell/v0", "create", "/api/v1/namespaces/bench/pods", "pods", "", 20, 25),
		line("ResponseComplete", adminUser, "kubectl-node_shell/v0", "watch", "/api/v1/namespaces/bench/pods?watch=true", "pods", "", 26, 1030),
		line("ResponseStarted", adminUser, "kubectl-node_shell/v0", "get", "/api/v1/namespaces/bench/pods/p/exec", "pods", "exec", 1010, 1011),
		line("ResponseComplete", adminUser, "kubectl-node_shell/v0", "get", "/api/v1/namespaces/bench/pods/p/exec", "pods", "exec", 1010, 1200),
		line("ResponseComplete", adminUser, "kubectl-node_shell/v0", "patch", "/api/v1/namespaces/bench/pods/p", "pods", "", 1100, 1104),
		line("ResponseComplete", adminUser, "kubectl-node_shell/v0", "delete", "/api/v1/namespaces/bench/pods/p", "pods", "", 1210, 1215),
		line("ResponseComplete", adminUser, "kubectl/v1.34.4", "get", "/api?timeout=32s", "", "", 2000, 2001),
	}
	path := filepath.Join(t.TempDir(), "audit.log")
	data := ""
	for _, l := range log {
		data += l + "\n"
	}
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	events, err := readAudit(path, adminUser)
	if err != nil {
		t.Fatal(err)
	}
	reqs := requestsIn(events, t0, t0.Add(1500*time.Millisecond))
	type brief struct {
		Label      string
		Concurrent bool
	}
	var got []brief
	for _, r := range reqs {
		got = append(got, brief{r.Label, r.Concurrent})
	}
	want := []brief{
		{"create selfsubjectaccessreviews", true},
		{"get nodes", true},
		{"create pods", false},
		// The exec starts 20 ms before the apiserver logs the watch's end: the client had
		// already moved on, so it is sequential.
		{"watch pods", false},
		{"get pods/exec", true},
		{"patch pods", true},
		{"delete pods", false},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
	if n := sequentialRounds(reqs); n != 5 {
		t.Errorf("sequentialRounds = %d, want 5 (preflight, create, watch, exec with its patch, delete)", n)
	}
	if got := requestsIn(events, t0.Add(1900*time.Millisecond), t0.Add(3*time.Second)); len(got) != 1 || got[0].Label != "get /api" {
		t.Errorf("discovery request: got %+v, want one get /api", got)
	}
}
