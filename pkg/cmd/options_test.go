package cmd

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/fleet"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/podspec"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/session"
)

// countingServer is an apiserver stand-in that counts requests: argument errors must be
// found before any request is sent.
func countingServer(t *testing.T) (kubeconfig string, requests *atomic.Int32) {
	t.Helper()
	requests = &atomic.Int32{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		http.Error(w, "test server", http.StatusInternalServerError)
	}))
	t.Cleanup(srv.Close)
	kubeconfig = filepath.Join(t.TempDir(), "kubeconfig")
	cfg := `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "` + srv.URL + `"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: c, context: {cluster: c, user: u, namespace: ops}}]
current-context: c
`
	if err := os.WriteFile(kubeconfig, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return kubeconfig, requests
}

func TestBadArgumentsFailBeforeAnyRequest(t *testing.T) {
	kubeconfig, requests := countingServer(t)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no node", nil, "a node name is required"},
		{"command without dash", []string{"node-1", "ls", "/"}, "put the command after --: kubectl node-shell node-1 -- ls /"},
		{"unknown flag", []string{"--frobnicate", "node-1"}, "unknown flag: --frobnicate"},
		{"invalid node name", []string{"Node_1"}, `"Node_1" is not a valid node name`},
		{"unknown mode", []string{"--mode", "ssh", "node-1"}, `--mode: unknown mode "ssh": use one of chroot, nsenter, container`},
		{"conflicting modes", []string{"--nsenter", "--mode", "container", "node-1"}, "--nsenter conflicts with --mode=container"},
		{"invalid image", []string{"--image", "Bad Image!", "node-1"}, `--image "Bad Image!" is not a valid image reference`},
		{"invalid pull policy", []string{"--image-pull-policy", "Sometimes", "node-1"}, "--image-pull-policy must be Always, IfNotPresent or Never"},
		{"zero timeout", []string{"--pod-running-timeout", "0s", "node-1"}, "--pod-running-timeout must be greater than zero"},
		{"bad timeout", []string{"--pod-running-timeout", "soon", "node-1"}, `invalid argument "soon"`},
		{"tty without stdin", []string{"-t", "-i=false", "node-1"}, "-t/--tty needs stdin"},
		{"heartbeat timeout too short", []string{"--heartbeat-timeout", "2s", "node-1"}, "--heartbeat-timeout must be at least 5s"},
		{"negative max lifetime", []string{"--max-lifetime", "-1h", "node-1"}, "--max-lifetime must be zero (no limit) or positive"},
		{"interactive shell on several nodes", []string{"node-1", "node-2", "--"}, "an interactive shell needs exactly one node"},
		{"interactive shell on a selector", []string{"-l", "pool=gpu"}, "an interactive shell needs exactly one node"},
		{"tty on several nodes", []string{"-t", "--all", "--", "top"}, "-t/--tty needs exactly one node"},
		{"names and a selector", []string{"-l", "pool=gpu", "node-1", "--", "true"}, "give node names or -l/--all, not both"},
		{"selector and all", []string{"-l", "pool=gpu", "--all", "--", "true"}, "-l and --all select the nodes two ways"},
		{"bad selector", []string{"-l", "pool==gpu==x", "--", "true"}, `-l "pool==gpu==x" is not a valid label selector`},
		{"no parallelism", []string{"--parallel", "0", "--all", "--", "true"}, "--parallel must be at least 1"},
		{"unknown output", []string{"-o", "yaml", "--all", "--", "true"}, "-o/--output must be json"},
		{"invalid second node name", []string{"node-1", "Node_2", "--", "true"}, `"Node_2" is not a valid node name`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			streams, _, out, errOut := genericiooptions.NewTestIOStreams()
			status := Execute(streams, append([]string{"--kubeconfig", kubeconfig}, tc.args...))
			if status != ExitFailure {
				t.Errorf("status = %d, want %d", status, ExitFailure)
			}
			if !strings.Contains(errOut.String(), tc.want) || !strings.HasPrefix(errOut.String(), "error: ") {
				t.Errorf("stderr = %q, want an error containing %q", errOut.String(), tc.want)
			}
			if !strings.Contains(errOut.String(), "See 'kubectl node-shell --help' for usage.") {
				t.Errorf("stderr = %q, want the usage pointer", errOut.String())
			}
			if out.Len() != 0 {
				t.Errorf("stdout = %q, want nothing", out.String())
			}
			if n := requests.Load(); n != 0 {
				t.Errorf("%d request(s) reached the apiserver", n)
			}
		})
	}
}

func TestCompleteAndValidate(t *testing.T) {
	kubeconfig, _ := countingServer(t)
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want NodeShellOptions
	}{
		{
			name: "shell with defaults",
			args: []string{"node-1"},
			want: NodeShellOptions{Node: "node-1", Mode: "chroot", entry: podspec.Chroot{}, Image: podspec.DefaultImage,
				Stdin: true, namespace: "ops"},
		},
		{
			name: "command, namespace flag, nsenter shorthand",
			args: []string{"-n", "kube-system", "--nsenter", "node-1", "--", "ls", "-l", "--color"},
			want: NodeShellOptions{Node: "node-1", Command: []string{"ls", "-l", "--color"}, Mode: "nsenter", Nsenter: true,
				entry: podspec.Nsenter{}, Image: podspec.DefaultImage, Stdin: true, namespace: "kube-system", modeChanged: true},
		},
		{
			name: "image from the environment, explicit tty",
			args: []string{"-t", "--priority-class", "", "node-1"},
			env:  map[string]string{ImageEnv: "mirror.example.com/busybox:1.37"},
			want: NodeShellOptions{Node: "node-1", Mode: "chroot", entry: podspec.Chroot{}, Image: "mirror.example.com/busybox:1.37",
				Stdin: true, TTY: true, ttyChanged: true, namespace: "ops"},
		},
		{
			name: "--image beats the environment",
			args: []string{"--image", "tools:2", "--mode", "container", "node-1"},
			env:  map[string]string{ImageEnv: "mirror.example.com/busybox:1.37"},
			want: NodeShellOptions{Node: "node-1", Mode: "container", entry: podspec.Container{}, Image: "tools:2",
				Stdin: true, namespace: "ops", modeChanged: true},
		},
		{
			name: "several nodes are a fleet",
			args: []string{"node-1", "node-2", "--", "uptime"},
			want: NodeShellOptions{Nodes: []string{"node-1", "node-2"}, Command: []string{"uptime"}, fleet: true, Mode: "chroot", entry: podspec.Chroot{},
				Image: podspec.DefaultImage, Stdin: true, namespace: "ops"},
		},
		{
			name: "a selector, parallelism and JSON",
			args: []string{"-l", "pool=gpu", "--parallel", "4", "-o", "json", "-i=false", "--", "dmesg"},
			want: NodeShellOptions{Nodes: []string{}, Selector: "pool=gpu", Parallel: 4, Output: "json", Command: []string{"dmesg"}, fleet: true, Mode: "chroot", entry: podspec.Chroot{},
				Image: podspec.DefaultImage, stdinChanged: true, namespace: "ops"},
		},
		{
			name: "one node into an output directory is a fleet of one",
			args: []string{"--output-dir", "out", "node-1", "--", "true"},
			want: NodeShellOptions{Node: "node-1", OutputDir: "out", Command: []string{"true"}, fleet: true, Mode: "chroot", entry: podspec.Chroot{},
				Image: podspec.DefaultImage, Stdin: true, namespace: "ops"},
		},
		{
			name: "short heartbeat timeout, no maximum lifetime",
			args: []string{"--heartbeat-timeout", "10s", "--max-lifetime", "0", "node-1"},
			want: NodeShellOptions{Node: "node-1", Mode: "chroot", entry: podspec.Chroot{}, Image: podspec.DefaultImage,
				Stdin: true, namespace: "ops",
				HeartbeatTimeout: 10 * time.Second, MaxLifetime: -1},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			streams, _, _, _ := genericiooptions.NewTestIOStreams()
			cmd := &cobra.Command{}
			o := NewNodeShellOptions(streams)
			o.Getenv = func(k string) string { return tc.env[k] }
			o.AddFlags(cmd)
			if err := cmd.ParseFlags(append([]string{"--kubeconfig", kubeconfig}, tc.args...)); err != nil {
				t.Fatal(err)
			}
			if err := o.Complete(cmd, cmd.Flags().Args()); err != nil {
				t.Fatalf("Complete: %v", err)
			}
			if err := o.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			tc.want.PodRunningTimeout = session.DefaultPodRunningTimeout
			if tc.want.Parallel == 0 {
				tc.want.Parallel = fleet.DefaultParallel
			}
			if tc.want.Nodes == nil && tc.want.Node != "" {
				tc.want.Nodes = []string{tc.want.Node}
			}
			if tc.want.HeartbeatTimeout == 0 {
				tc.want.HeartbeatTimeout = podspec.DefaultHeartbeatTimeout
			}
			switch tc.want.MaxLifetime {
			case 0:
				tc.want.MaxLifetime = podspec.DefaultMaxLifetime
			case -1: // the table's way to say "asked for none"
				tc.want.MaxLifetime = 0
			}
			if diff := cmp.Diff(&tc.want, o, optionsCompare...); diff != "" {
				t.Errorf("options (-want +got):\n%s", diff)
			}
		})
	}
}

func TestExitStatus(t *testing.T) {
	tests := []struct {
		err  error
		want int
		msg  string
	}{
		{nil, 0, ""},
		{&ExitStatusError{Status: 7}, 7, ""},
		{&SignalError{Signal: syscall.SIGTERM}, 143, "error: interrupted by terminated"},
		{&SignalError{Signal: syscall.SIGHUP}, 129, "error: interrupted by hangup"},
		{os.ErrDeadlineExceeded, ExitFailure, "error: i/o timeout"},
	}
	for _, tc := range tests {
		if got := ExitStatus(tc.err); got != tc.want {
			t.Errorf("ExitStatus(%v) = %d, want %d", tc.err, got, tc.want)
		}
		if got := Message(tc.err); got != tc.msg {
			t.Errorf("Message(%v) = %q, want %q", tc.err, got, tc.msg)
		}
	}
}
