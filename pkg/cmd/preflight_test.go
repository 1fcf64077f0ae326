package cmd

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
	k8stesting "k8s.io/client-go/testing"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/crash"
)

// TestPreflightReportsAPanicOfTheUserLookup: the SelfSubjectReview runs on a goroutine of
// its own; its panic comes back as preflight's error instead of killing the process (or
// leaving preflight waiting for an answer that never comes).
func TestPreflightReportsAPanicOfTheUserLookup(t *testing.T) {
	client := fake.NewClientset()
	client.PrependReactor("create", "selfsubjectreviews", func(k8stesting.Action) (bool, runtime.Object, error) {
		panic("review bug")
	})
	o := NewNodeShellOptions(genericiooptions.NewTestIOStreamsDiscard())
	o.client, o.restConfig, o.namespace, o.Node = client, &rest.Config{}, "ops", "n1"
	done := make(chan error, 1)
	go func() { done <- o.preflight(context.Background(), newReporter(io.Discard, true, 0, nil)) }()
	select {
	case err := <-done:
		var p *crash.Error
		if !errors.As(err, &p) || p.Value != "review bug" {
			t.Errorf("preflight = %v, want the lookup's panic as a *crash.Error", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("preflight still waits for the user lookup 10s after it panicked")
	}
}
