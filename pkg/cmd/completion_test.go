package cmd

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

func nodeObjects(names ...string) []runtime.Object {
	objs := make([]runtime.Object, len(names))
	for i, n := range names {
		objs[i] = &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n}}
	}
	return objs
}

func TestCompleteNodeNames(t *testing.T) {
	listFails := func(c *fake.Clientset) {
		c.PrependReactor("list", "nodes", func(k8stesting.Action) (bool, runtime.Object, error) {
			return true, nil, errors.New("forbidden")
		})
	}
	tests := []struct {
		name       string
		args       []string
		toComplete string
		setup      func(*fake.Clientset)
		want       []cobra.Completion
	}{
		{name: "every node", want: []cobra.Completion{"pool-a-1", "pool-a-2", "pool-b-1"}},
		{name: "by prefix", toComplete: "pool-a", want: []cobra.Completion{"pool-a-1", "pool-a-2"}},
		{name: "no match", toComplete: "gpu-"},
		{name: "after NODE comes a remote command, not a local file", args: []string{"pool-a-1"}, toComplete: "/et"},
		{name: "list fails", setup: listFails},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			client := fake.NewClientset(nodeObjects("pool-a-1", "pool-a-2", "pool-b-1")...)
			if tc.setup != nil {
				tc.setup(client)
			}
			o := NewNodeShellOptions(genericiooptions.NewTestIOStreamsDiscard())
			o.client = client
			got, directive := o.completeNodeNames(&cobra.Command{}, tc.args, tc.toComplete)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("completions (-want +got):\n%s", diff)
			}
			if directive != cobra.ShellCompDirectiveNoFileComp {
				t.Errorf("directive = %v, want NoFileComp", directive)
			}
		})
	}
}

// nodeServer is an apiserver stand-in that answers the node list with the given names and
// records the requests' paths and queries.
func nodeServer(t *testing.T, names ...string) (url string, requests chan string) {
	t.Helper()
	requests = make(chan string, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests <- r.URL.Path + "?" + r.URL.RawQuery
		if r.URL.Path != "/api/v1/nodes" {
			http.NotFound(w, r)
			return
		}
		list := corev1.NodeList{TypeMeta: metav1.TypeMeta{Kind: "NodeList", APIVersion: "v1"}}
		for _, n := range names {
			list.Items = append(list.Items, corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n}})
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(list)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, requests
}

// twoClusterKubeconfig has context "a" (current) and context "b", one server each.
func twoClusterKubeconfig(t *testing.T, serverA, serverB string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kubeconfig")
	cfg := `apiVersion: v1
kind: Config
clusters:
- {name: a, cluster: {server: "` + serverA + `"}}
- {name: b, cluster: {server: "` + serverB + `"}}
users: [{name: u, user: {token: t}}]
contexts:
- {name: a, context: {cluster: a, user: u}}
- {name: b, context: {cluster: b, user: u}}
current-context: a
`
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// complete runs `kubectl node-shell __complete ARGS...` as a shell would and returns the
// completions (the lines before the ":<directive>" line) and the directive line.
func complete(t *testing.T, args ...string) (completions []string, directive string) {
	t.Helper()
	streams, _, out, _ := genericiooptions.NewTestIOStreams()
	if status := Execute(streams, append([]string{"__complete"}, args...)); status != 0 {
		t.Fatalf("__complete %q: status %d", args, status)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	return lines[:len(lines)-1], lines[len(lines)-1]
}

func TestNodeCompletionUsesKubeconfigFlags(t *testing.T) {
	serverA, requestsA := nodeServer(t, "a-1", "a-2")
	serverB, _ := nodeServer(t, "b-1", "b-2", "other")
	kubeconfig := twoClusterKubeconfig(t, serverA, serverB)
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"current context", []string{"--kubeconfig", kubeconfig, ""}, []string{"a-1", "a-2"}},
		{"--context", []string{"--kubeconfig", kubeconfig, "--context", "b", "b-"}, []string{"b-1", "b-2"}},
		{"--server", []string{"--kubeconfig", kubeconfig, "--server", serverB, "oth"}, []string{"other"}},
		{"flags after a partial argument list", []string{"--kubeconfig", kubeconfig, "--mode", "nsenter", "a-2"}, []string{"a-2"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, directive := complete(t, tc.args...)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("completions (-want +got):\n%s", diff)
			}
			if directive != ":4" { // ShellCompDirectiveNoFileComp
				t.Errorf("directive = %q, want :4 (no file completion)", directive)
			}
		})
	}
	select {
	case r := <-requestsA:
		if r != "/api/v1/nodes?resourceVersion=0" {
			t.Errorf("request = %s, want a cached node list", r)
		}
	default:
		t.Error("no request reached the current context's server")
	}
}

// isolateKubeconfig points $KUBECONFIG at a stand-in server, so a test that does not name a
// kubeconfig never reaches the developer's real cluster.
func isolateKubeconfig(t *testing.T) {
	kubeconfig, _ := countingServer(t)
	t.Setenv("KUBECONFIG", kubeconfig)
}

func TestNodeCompletionGivesUpQuickly(t *testing.T) {
	isolateKubeconfig(t)
	defer func(d time.Duration) { nodeCompletionTimeout = d }(nodeCompletionTimeout)
	nodeCompletionTimeout = 200 * time.Millisecond
	hang := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(hang)
	start := time.Now()
	got, directive := complete(t, "--server", srv.URL, "")
	if elapsed := time.Since(start); elapsed > 3*time.Second {
		t.Errorf("completion took %v against a hung apiserver", elapsed)
	}
	if len(got) != 0 {
		t.Errorf("completions = %q, want none", got)
	}
	if directive != ":4" {
		t.Errorf("directive = %q, want :4", directive)
	}
}

func TestFlagAndSubcommandCompletion(t *testing.T) {
	isolateKubeconfig(t)
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"--mode", []string{"--mode", ""}, []string{
			"chroot\tthe node's own files and binaries (default)",
			"nsenter\tjoin the namespaces of the node's PID 1",
			"container\tstay in the container, the node's / at /host",
		}},
		{"--mode=prefix", []string{"--mode=ns"}, []string{"nsenter\tjoin the namespaces of the node's PID 1"}},
		{"--image-pull-policy", []string{"--image-pull-policy", ""}, []string{"Always", "IfNotPresent", "Never"}},
		{"--image-pull-policy by prefix", []string{"--image-pull-policy", "If"}, []string{"IfNotPresent"}},
		{"version -o", []string{"version", "-o", ""}, []string{"json", "yaml"}},
		{"completion shells", []string{"completion", ""}, []string{"bash", "zsh", "fish", "powershell"}},
		{"subcommands by prefix", []string{"vers"}, []string{"version\tPrint the version of kubectl node-shell"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, directive := complete(t, tc.args...)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("completions (-want +got):\n%s", diff)
			}
			if directive != ":4" {
				t.Errorf("directive = %q, want :4", directive)
			}
		})
	}
}

func TestCompletionCommand(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish", "powershell"} {
		t.Run(shell, func(t *testing.T) {
			streams, _, out, errOut := genericiooptions.NewTestIOStreams()
			if status := Execute(streams, []string{"completion", shell}); status != 0 {
				t.Fatalf("status %d; stderr:\n%s", status, errOut)
			}
			// The script completes the binary users run, and asks it for completions.
			if !strings.Contains(out.String(), "kubectl-node_shell") || !strings.Contains(out.String(), "__complete") {
				t.Errorf("%s script does not complete kubectl-node_shell through __complete:\n%.400s", shell, out)
			}
		})
	}
	for _, args := range [][]string{{"completion"}, {"completion", "tcsh"}, {"completion", "bash", "zsh"}} {
		streams, _, out, errOut := genericiooptions.NewTestIOStreams()
		if status := Execute(streams, args); status != ExitFailure {
			t.Errorf("%q: status %d, want %d", args, status, ExitFailure)
		}
		if !strings.Contains(errOut.String(), "See 'kubectl node-shell completion --help' for usage.") || out.Len() != 0 {
			t.Errorf("%q: stdout %q, stderr %q; want a usage error only", args, out, errOut)
		}
	}
}

func TestNodeArgumentStillReachesTheSessionCommand(t *testing.T) {
	// Subcommands must not swallow NODE: with a dead apiserver the session fails at the
	// cluster, not with cobra's "unknown command".
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusForbidden)
	}))
	defer srv.Close()
	streams, _, _, errOut := genericiooptions.NewTestIOStreams()
	root := NewCmdRoot(streams)
	root.SetArgs([]string{"--server", srv.URL, "-i=false", "node-1", "--", "true"})
	root.SetOut(streams.Out)
	root.SetErr(streams.ErrOut)
	err := root.ExecuteContext(ctx)
	if ctx.Err() != nil { // a session still waiting fails at the deadline too: that is no answer
		t.Fatalf("the session was still running after 30s against an apiserver that refuses everything: %v", err)
	}
	if err == nil || strings.Contains(err.Error(), "unknown command") {
		t.Fatalf("err = %v (stderr %q), want the session's failure", err, errOut)
	}
}
