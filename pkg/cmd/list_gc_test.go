package cmd

import (
	"context"
	"encoding/json"
	"strconv"
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

// shellPod is a node-shell pod on node as Build makes it, created age ago, whose client's
// heartbeat the apiserver last recorded hbAgo ago.
func shellPod(ns, suffix, node string, age, hbAgo time.Duration, annotations map[string]string, status corev1.PodStatus) *corev1.Pod {
	p, err := podspec.Build(podspec.Spec{Node: node, Namespace: ns, HeartbeatTimeout: 45 * time.Second,
		Heartbeat: podspec.FormatHeartbeat(listNow.Add(-hbAgo)), Annotations: annotations})
	if err != nil {
		panic(err)
	}
	p.Name = p.GenerateName + suffix
	p.UID, p.ResourceVersion = k8stypes.UID("uid-"+p.Name), "5"
	p.CreationTimestamp = metav1.NewTime(listNow.Add(-age))
	hb := metav1.NewTime(listNow.Add(-hbAgo))
	p.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: podspec.FieldManager, Operation: metav1.ManagedFieldsOperationUpdate, Time: &hb}}
	p.Status = status
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
		shellPod("ops", "alive", "n1", 5*time.Minute, 3*time.Second,
			map[string]string{podspec.AnnotationUser: "alice", podspec.AnnotationCommand: "journalctl -u kubelet -f --since '1 hour ago' --no-pager"}, runningStatus),
		shellPod("ops", "expired", "n2", 3*time.Hour, 2*time.Hour,
			map[string]string{podspec.AnnotationUser: "bob", podspec.AnnotationCommand: ""}, expiredStatus),
		shellPod("kube-system", "stale", "n3", 26*time.Hour, 25*time.Hour, nil, runningStatus),
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
	// cli-runtime v0.37's table printer sizes a column by bytes: the ellipsis (3
	// bytes) widens COMMAND by two.
	want := `NODE   NAMESPACE/NAME                    USER        AGE   COMMAND                                      STATE
n3     kube-system/node-shell-n3-stale   <unknown>   26h   <unknown>                                    stale
n1     ops/node-shell-n1-alive           alice       5m    journalctl -u kubelet -f --since '1 hou…     alive
n2     ops/node-shell-n2-expired         bob         3h    <login shell>                                expired
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
	o.Output = "name"
	if err := o.Validate(); err == nil || !strings.Contains(err.Error(), "--output must be 'wide', 'json' or 'yaml'") {
		t.Errorf("Validate(-o name) = %v", err)
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

// hostileCluster has one expired node-shell pod whose annotations someone who may patch
// pods filled with escape sequences: a window title and a clear screen as the user, text
// hidden by a bidi override and a tab as the command, concealed text after the node name.
func hostileCluster() *fake.Clientset {
	p := shellPod("ops", "hostile", "n1", time.Hour, time.Hour, map[string]string{
		podspec.AnnotationUser:    "\x1b]0;pwned\x07\x1b[2Jroot",
		podspec.AnnotationCommand: "ls\u202e\tfdp.exe\x7f\u009b",
	}, expiredStatus)
	p.Annotations[podspec.AnnotationNode] = "n1\x1b[8m"
	return fake.NewClientset(p)
}

// assertTerminalSafe fails if out holds anything but printable text and newlines.
func assertTerminalSafe(t *testing.T, what, out string) {
	t.Helper()
	for _, r := range out {
		if r != '\n' && !strconv.IsPrint(r) {
			t.Errorf("%s holds %U, which can drive or disguise a terminal:\n%q", what, r, out)
			return
		}
	}
}

func TestListTableEscapesAnnotations(t *testing.T) {
	streams, _, out, _ := genericiooptions.NewTestIOStreams()
	o := NewListOptions(streams)
	o.scope.client, o.scope.namespace, o.scope.explicit, o.Now = hostileCluster(), "ops", true, func() time.Time { return listNow }
	if err := o.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := `NODE        NAMESPACE/NAME              USER                        AGE   COMMAND                       STATE
n1\x1b[8m   ops/node-shell-n1-hostile   \x1b]0;pwned\a\x1b[2Jroot   60m   ls\u202e\tfdp.exe\x7f\u009b   expired
`
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("table (-want +got):\n%s", diff)
	}
	assertTerminalSafe(t, "list's table", out.String())
}

// TestListJSONAndYAMLEscapeAnnotations: -o json and -o yaml write the hostile annotations
// with escapes only, and they decode to exactly what is on the pod.
func TestListJSONAndYAMLEscapeAnnotations(t *testing.T) {
	pods, err := hostileCluster().CoreV1().Pods("ops").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := pods.Items[0].Annotations
	for _, format := range []string{"json", "yaml"} {
		t.Run(format, func(t *testing.T) {
			streams, _, out, _ := genericiooptions.NewTestIOStreams()
			o := NewListOptions(streams)
			o.scope.client, o.scope.namespace, o.scope.explicit, o.Output = hostileCluster(), "ops", true, format
			o.Now = func() time.Time { return listNow }
			if err := o.Run(context.Background()); err != nil {
				t.Fatalf("list -o %s: %v", format, err)
			}
			assertTerminalSafe(t, "list -o "+format, out.String())
			data := out.Bytes()
			if format == "yaml" {
				if data, err = yaml.YAMLToJSON(data); err != nil {
					t.Fatalf("output does not parse: %v\n%s", err, out.String())
				}
			}
			var list struct{ Items []corev1.Pod }
			if err := json.Unmarshal(data, &list); err != nil || len(list.Items) != 1 {
				t.Fatalf("output does not parse to one pod (%v):\n%s", err, out.String())
			}
			if diff := cmp.Diff(want, list.Items[0].Annotations); diff != "" {
				t.Errorf("annotations changed on the way (-want +got):\n%s", diff)
			}
		})
	}
}

func TestGCEscapesAnnotations(t *testing.T) {
	for _, dryRun := range []bool{true, false} {
		streams, _, out, errOut := genericiooptions.NewTestIOStreams()
		o := NewGCOptions(streams)
		o.scope.client, o.scope.namespace, o.scope.explicit, o.DryRun = hostileCluster(), "ops", true, dryRun
		o.Now = func() time.Time { return listNow }
		if err := o.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		verb := map[bool]string{true: "would delete", false: "deleted"}[dryRun]
		want := verb + ` pod ops/node-shell-n1-hostile on node n1\x1b[8m (expired: stopped by its watchdog: no heartbeat from the client)` + "\n"
		if out.String() != want || errOut.Len() != 0 {
			t.Errorf("gc (dry run %v) printed %q, stderr %q; want %q", dryRun, out.String(), errOut.String(), want)
		}
	}
}
