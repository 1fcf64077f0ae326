package preflight

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	k8stesting "k8s.io/client-go/testing"
)

func fleetTarget(sel Selection) FleetTarget {
	return FleetTarget{Namespace: "ops", Access: access, Server: "https://10.0.0.1:6443", Nodes: sel, Parallel: 2}
}

func names(selected []Selected) []string {
	var out []string
	for _, s := range selected {
		out = append(out, s.Name)
	}
	return out
}

func TestFleetSelectsNamedNodes(t *testing.T) {
	client, reviews := cluster(nil, "worker-1", "worker-2", "worker-3")
	got, err := Fleet(context.Background(), client, fleetTarget(Selection{Names: []string{"worker-3", "nope", "worker-1", "worker-3"}}))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"worker-3", "nope", "worker-1"}, names(got)); diff != "" {
		t.Errorf("nodes (-want +got), in the order given, once each:\n%s", diff)
	}
	if got[0].Node == nil || got[1].Err == nil || !strings.Contains(got[1].Err.Error(), `node "nope" not found`) || got[2].Node == nil {
		t.Errorf("selected = %+v; want the known nodes found and the unknown one failed alone", got)
	}
	if n := reviews.Load(); n != int32(len(access)) {
		t.Errorf("%d reviews for three nodes, want one per permission for the whole fleet (%d)", n, len(access))
	}
}

func TestFleetSelectsByLabel(t *testing.T) {
	client, _ := cluster(nil)
	for name, labels := range map[string]map[string]string{"gpu-2": {"pool": "gpu"}, "gpu-1": {"pool": "gpu"}, "cpu-1": {"pool": "cpu"}} {
		if err := client.Tracker().Add(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := Fleet(context.Background(), client, fleetTarget(Selection{Selector: "pool=gpu"}))
	if err != nil || !cmp.Equal([]string{"gpu-1", "gpu-2"}, names(got)) {
		t.Errorf("-l pool=gpu: %v, %v; want gpu-1, gpu-2", names(got), err)
	}
	got, err = Fleet(context.Background(), client, fleetTarget(Selection{All: true}))
	if err != nil || !cmp.Equal([]string{"cpu-1", "gpu-1", "gpu-2"}, names(got)) {
		t.Errorf("--all: %v, %v; want every node, sorted", names(got), err)
	}
	_, err = Fleet(context.Background(), client, fleetTarget(Selection{Selector: "pool=tpu"}))
	if err == nil || !strings.Contains(err.Error(), "no node matches -l pool=tpu") {
		t.Errorf("-l pool=tpu: %v, want no node matches", err)
	}
}

func TestFleetWithoutListNodes(t *testing.T) {
	client, _ := cluster(nil, "worker-1")
	client.PrependReactor("list", "nodes", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "nodes"}, "", nil)
	})
	_, err := Fleet(context.Background(), client, fleetTarget(Selection{All: true}))
	if err == nil || !strings.Contains(err.Error(), "not allowed to list nodes") {
		t.Errorf("Fleet = %v, want the missing list nodes permission", err)
	}
}
