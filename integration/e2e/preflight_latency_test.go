package e2e

import (
	"context"
	"sort"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/preflight"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/session"
)

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

// TestPreflightLatency measures what preflight adds to a session, on the real apiserver:
// its parallel reviews and node lookup against one node GET (the floor of one round trip),
// against the same reviews one after another, and against a whole `-- true` session. The
// numbers are logged; the assertion only catches a preflight that stopped being parallel.
func TestPreflightLatency(t *testing.T) {
	e := newE2E(t)
	ctx := context.Background()
	node := e.Nodes()[0]
	cfg, err := e.cluster.RESTConfig()
	if err != nil {
		t.Fatal(err)
	}
	target := preflight.Target{Namespace: e.namespace, Node: node, Access: session.RequiredAccess(e.namespace), Server: cfg.Host}
	const rounds = 25
	var get, parallel, sequential []time.Duration
	for range rounds {
		start := time.Now()
		if _, err := e.client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{}); err != nil {
			t.Fatal(err)
		}
		get = append(get, time.Since(start))

		start = time.Now()
		if _, err := preflight.Run(ctx, e.client, target); err != nil {
			t.Fatal(err)
		}
		parallel = append(parallel, time.Since(start))

		start = time.Now()
		for _, a := range target.Access {
			one := target
			one.Access = []authorizationv1.ResourceAttributes{a}
			if _, err := preflight.Run(ctx, e.client, one); err != nil {
				t.Fatal(err)
			}
		}
		sequential = append(sequential, time.Since(start))
	}
	var sessions []time.Duration
	for range 5 {
		sessions = append(sessions, e.NodeShell("-q", node, "--", "true").RunOK().Elapsed)
	}
	t.Logf("median of %d: node GET %v; preflight (%d reviews + node GET, parallel) %v; the same one review at a time %v; "+
		"median of %d whole `-- true` sessions %v",
		rounds, median(get), len(target.Access), median(parallel), median(sequential), len(sessions), median(sessions))
	if median(parallel) > median(sequential)/2 {
		t.Errorf("preflight takes %v against %v one review at a time: it is no longer parallel", median(parallel), median(sequential))
	}
}
