package preflight

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// TestRunSendsEveryCheckAtOnce proves preflight costs one round trip, without timing
// anything: the stand-in apiserver holds every request until all of them have arrived. Sent
// one after another, the first would wait alone until the barrier gives up.
func TestRunSendsEveryCheckAtOnce(t *testing.T) {
	want := len(access) + 1 // the reviews and the node GET
	var mu sync.Mutex
	arrived, maxInFlight, inFlight := 0, 0, 0
	all := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		arrived++
		inFlight++
		maxInFlight = max(maxInFlight, inFlight)
		if arrived == want {
			close(all)
		}
		mu.Unlock()
		select {
		case <-all:
		case <-time.After(5 * time.Second):
		}
		defer func() { mu.Lock(); inFlight--; mu.Unlock() }()
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Method == http.MethodPost && r.URL.Path == "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews":
			var review authorizationv1.SelfSubjectAccessReview
			if err := json.NewDecoder(r.Body).Decode(&review); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			review.Status.Allowed = true
			json.NewEncoder(w).Encode(&review)
		case r.Method == http.MethodGet && r.URL.Path == "/api/v1/nodes/node-1":
			json.NewEncoder(w).Encode(readyNode("node-1"))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	client, err := kubernetes.NewForConfig(&rest.Config{Host: srv.URL, QPS: -1})
	if err != nil {
		t.Fatal(err)
	}
	node, err := Run(context.Background(), client, Target{Namespace: "ops", Node: "node-1", Access: access, Server: srv.URL})
	if err != nil || node == nil || node.Name != "node-1" {
		t.Fatalf("Run = %v, %v; want node-1", node, err)
	}
	if maxInFlight != want {
		t.Errorf("at most %d of %d preflight requests were in flight together; want all of them at once", maxInFlight, want)
	}
}
