package cmd

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8stypes "k8s.io/apimachinery/pkg/types"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes/fake"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/podspec"
)

var listNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// shellPod is a node-shell pod on node, created age ago, last heartbeat hbAgo ago.
func shellPod(ns, name, node string, age, hbAgo time.Duration, annotations map[string]string, status corev1.PodStatus) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: ns, Name: name, UID: k8stypes.UID("uid-" + name), ResourceVersion: "5",
			CreationTimestamp: metav1.NewTime(listNow.Add(-age)),
			Labels:            map[string]string{podspec.LabelManagedBy: podspec.ManagedByValue},
			Annotations: map[string]string{
				podspec.AnnotationNode: node, podspec.AnnotationHeartbeatTimeout: "45s",
				podspec.AnnotationHeartbeat: podspec.FormatHeartbeat(listNow.Add(-hbAgo)),
			},
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl-node-shell"}},
		},
		Spec:   corev1.PodSpec{NodeName: node},
		Status: status,
	}
	for k, v := range annotations {
		p.Annotations[k] = v
	}
	return p
}

var (
	runningStatus = corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{
		Name: podspec.ContainerName, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}}
	expiredStatus = corev1.PodStatus{Phase: corev1.PodSucceeded, ContainerStatuses: []corev1.ContainerStatus{{
		Name: podspec.ContainerName, State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
			Reason: "Completed", Message: "node-shell: no heartbeat from the client for 45s; stopping"}}}}}
)

// leftoverCluster has one pod of each kind: alive, expired, stale (another namespace), and
// a foreign pod that must never show up.
func leftoverCluster() *fake.Clientset {
	return fake.NewClientset(
		shellPod("ops", "node-shell-n1-alive", "n1", 5*time.Minute, 3*time.Second,
			map[string]string{podspec.AnnotationUser: "alice", podspec.AnnotationCommand: "journalctl -u kubelet -f --since '1 hour ago' --no-pager"}, runningStatus),
		shellPod("ops", "node-shell-n2-expired", "n2", 3*time.Hour, 2*time.Hour,
			map[string]string{podspec.AnnotationUser: "bob", podspec.AnnotationCommand: ""}, expiredStatus),
		shellPod("kube-system", "node-shell-n3-stale", "n3", 26*time.Hour, 25*time.Hour, nil, runningStatus),
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ops", Name: "node-shell-lookalike", Labels: map[string]string{"app": "x"}},
			Status: corev1.PodStatus{Phase: corev1.PodSucceeded}},
	)
}

func TestListTable(t *testing.T) {
	streams, _, out, errOut := genericiooptions.NewTestIOStreams()
	o := NewListOptions(streams)
	o.scope.client, o.scope.namespace, o.Now = leftoverCluster(), "ops", func() time.Time { return listNow }
	if err := o.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := `NODE   NAMESPACE/NAME                    USER        AGE   COMMAND                                    STATE
n3     kube-system/node-shell-n3-stale   <unknown>   26h   <unknown>                                  stale
n1     ops/node-shell-n1-alive           alice       5m    journalctl -u kubelet -f --since '1 hou…   alive
n2     ops/node-shell-n2-expired         bob         3h    <login shell>                              expired
`
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("table (-want +got):\n%s", diff)
	}
	if errOut.Len() != 0 {
		t.Errorf("stderr = %q", errOut.String())
	}
}

func TestListJSONAndYAML(t *testing.T) {
	for _, format := range []string{"json", "yaml"} {
		t.Run(format, func(t *testing.T) {
			streams, _, out, _ := genericiooptions.NewTestIOStreams()
			o := NewListOptions(streams)
			o.scope.client, o.scope.namespace, o.scope.explicit, o.Output = leftoverCluster(), "ops", true, format
			o.Now = func() time.Time { return listNow }
			if err := o.Validate(); err != nil {
				t.Fatal(err)
			}
			if err := o.Run(context.Background()); err != nil {
				t.Fatal(err)
			}
			var list struct {
				Kind  string
				Items []corev1.Pod
			}
			data := out.Bytes()
			if format == "yaml" {
				var err error
				if data, err = yaml.YAMLToJSON(data); err != nil {
					t.Fatal(err)
				}
			}
			if err := json.Unmarshal(data, &list); err != nil {
				t.Fatalf("%s output does not parse: %v\n%s", format, err, out.String())
			}
			var names []string
			for _, p := range list.Items {
				names = append(names, p.Kind+" "+p.Name+" user="+p.Annotations[podspec.AnnotationUser])
				if len(p.ManagedFields) != 0 {
					t.Errorf("%s: managedFields printed without --show-managed-fields", p.Name)
				}
			}
			want := []string{"Pod node-shell-n1-alive user=alice", "Pod node-shell-n2-expired user=bob"}
			if list.Kind != "List" || !cmp.Equal(want, names) {
				t.Errorf("kind %q, items %q; want List of %q (only -n ops)", list.Kind, names, want)
			}
		})
	}
	o := NewListOptions(genericiooptions.NewTestIOStreamsDiscard())
	o.Output = "wide"
	if err := o.Validate(); err == nil || !strings.Contains(err.Error(), "--output must be 'json' or 'yaml'") {
		t.Errorf("Validate(-o wide) = %v", err)
	}
}

func TestGC(t *testing.T) {
	client := leftoverCluster()
	run := func(dryRun bool) (string, string) {
		streams, _, out, errOut := genericiooptions.NewTestIOStreams()
		o := NewGCOptions(streams)
		o.scope.client, o.scope.namespace, o.DryRun, o.Now = client, "ops", dryRun, func() time.Time { return listNow }
		if err := o.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		return out.String(), errOut.String()
	}
	remaining := func() []string {
		pods, _ := client.CoreV1().Pods("").List(context.Background(), metav1.ListOptions{})
		var names []string
		for _, p := range pods.Items {
			names = append(names, p.Namespace+"/"+p.Name)
		}
		return names
	}
	all := []string{"kube-system/node-shell-n3-stale", "ops/node-shell-lookalike", "ops/node-shell-n1-alive", "ops/node-shell-n2-expired"}

	lines := func(verb string) string {
		return verb + " pod kube-system/node-shell-n3-stale on node n3 (stale: no heartbeat for 25h0m0s (timeout 45s))\n" +
			verb + " pod ops/node-shell-n2-expired on node n2 (expired: stopped by its watchdog: no heartbeat from the client)\n"
	}
	if out, _ := run(true); out != lines("would delete") {
		t.Errorf("dry run printed:\n%s\nwant:\n%s", out, lines("would delete"))
	}
	if diff := cmp.Diff(all, remaining()); diff != "" {
		t.Errorf("dry run deleted something (-want +got):\n%s", diff)
	}
	if out, _ := run(false); out != lines("deleted") {
		t.Errorf("gc printed:\n%s\nwant:\n%s", out, lines("deleted"))
	}
	if diff := cmp.Diff([]string{"ops/node-shell-lookalike", "ops/node-shell-n1-alive"}, remaining()); diff != "" {
		t.Errorf("left after gc (-want +got):\n%s", diff)
	}

	out, errOut := run(false)
	if out != "" || errOut != "No leftover node-shell pods (1 alive).\n" {
		t.Errorf("second gc: stdout %q, stderr %q", out, errOut)
	}
}
