package cmd

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
	k8stesting "k8s.io/client-go/testing"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/clustersetup"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/podspec"
)

// writeConfig writes a node-shell config file and returns its path.
func writeConfig(t *testing.T, data string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "node-shell.yaml")
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestPolicyRefusedBeforeAnyRequest(t *testing.T) {
	kubeconfig, requests := countingServer(t)
	badFile := writeConfig(t, "contexts:\n  c:\n    image: a\n     namespace: b\n")
	guardedFile := writeConfig(t, "contexts:\n  c:\n    overrides:\n      spec: {hostNetwork: false}\n")
	tests := []struct {
		name string
		args []string
		file string
		want string
	}{
		{"privileged dropped", []string{"--overrides", `{"spec":{"containers":[{"name":"shell","securityContext":{"privileged":false}}]}}`, "node-1"}, "",
			"error: --overrides may not change spec.containers[0].securityContext.privileged: node-shell's session depends on it\n"},
		{"another node", []string{"--overrides", "spec:\n  nodeName: node-2\n", "node-1"}, "",
			"error: --overrides may not change spec.nodeName: node-shell's session depends on it\n"},
		{"a sidecar", []string{"--overrides", `{"spec":{"containers":[{"name":"x","image":"busybox"}]}}`, "node-1"}, "", "--overrides may not change spec.containers: "},
		{"a misspelt field", []string{"--overrides", `{"spec":{"containers":[{"name":"shell","resourcez":{}}]}}`, "node-1"}, "", `unknown field "resourcez"`},
		{"our label", []string{"--label", "app.kubernetes.io/managed-by=me", "node-1"}, "", "node-shell's own keys"},
		{"a bad label value", []string{"--label", "team=s r e", "node-1"}, "", "--label"},
		{"a label without a value", []string{"--label", "team", "node-1"}, "", `--label "team": want KEY=VALUE`},
		{"negative idle timeout", []string{"--idle-timeout", "-1s", "node-1"}, "", "--idle-timeout must be zero"},
		{"a malformed config file", []string{"node-1"}, badFile, badFile + ":4: "},
		{"a guarded field in the file", []string{"node-1"}, guardedFile, guardedFile + " (context c) overrides may not change spec.hostNetwork"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			streams, _, out, errOut := genericiooptions.NewTestIOStreams()
			root := NewCmdRoot(streams)
			file := tc.file
			if file == "" {
				file = filepath.Join(t.TempDir(), "none.yaml")
			}
			t.Setenv("KUBECTL_NODE_SHELL_CONFIG", file)
			status := execute(t.Context(), root, streams, append([]string{"--kubeconfig", kubeconfig}, tc.args...))
			if status != ExitFailure {
				t.Errorf("status = %d, want %d", status, ExitFailure)
			}
			msg := errOut.String()
			if !strings.Contains(msg, tc.want) || !strings.HasPrefix(msg, "error: ") {
				t.Errorf("stderr = %q, want an error containing %q", msg, tc.want)
			}
			if strings.HasSuffix(tc.want, "\n") && msg != tc.want {
				t.Errorf("stderr = %q, want exactly one line %q", msg, tc.want)
			}
			if out.Len() != 0 {
				t.Errorf("stdout = %q", out.String())
			}
			if n := requests.Load(); n != 0 {
				t.Errorf("%d request(s) reached the apiserver", n)
			}
		})
	}
}

func TestPolicyPrecedence(t *testing.T) {
	kubeconfig, _ := countingServer(t) // its current context is "c"
	data, err := os.ReadFile(kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	twoContexts := strings.Replace(string(data), "contexts: [", "contexts: [{name: other, context: {cluster: c, user: u, namespace: ops}}, ", 1)
	if err := os.WriteFile(kubeconfig, []byte(twoContexts), 0o600); err != nil {
		t.Fatal(err)
	}
	file := writeConfig(t, `default:
  image: default.example/busybox:1
  labels: {team: default, env: any}
  imagePullSecrets: [default-secret]
contexts:
  c:
    image: context.example/busybox:1
    namespace: from-file
    priorityClass: ops
    labels: {team: sre}
    overrides:
      spec:
        containers:
        - name: shell
          resources: {limits: {cpu: "1", memory: 1Gi}}
  other:
    image: other.example/busybox:1
`)
	tests := []struct {
		name      string
		args      []string
		env       map[string]string
		image     string
		namespace string
		labels    map[string]string
		cpu       string
		secrets   []string
	}{
		{"the current context's entry over the default", []string{"node-1"}, nil,
			"context.example/busybox:1", "from-file", map[string]string{"team": "sre", "env": "any"}, "1", []string{"default-secret"}},
		{"--context picks another entry", []string{"--context", "other", "node-1"}, nil,
			"other.example/busybox:1", "", map[string]string{"team": "default", "env": "any"}, "", []string{"default-secret"}},
		{"$KUBECTL_NODE_SHELL_IMAGE over the file", []string{"node-1"}, map[string]string{ImageEnv: "env.example/busybox:1"},
			"env.example/busybox:1", "from-file", nil, "1", nil},
		{"flags over everything", []string{"--image", "flag.example/busybox:1", "-n", "flag-ns", "--label", "team=flag",
			"--image-pull-secret", "flag-secret", "--overrides", `{"spec":{"containers":[{"name":"shell","resources":{"limits":{"cpu":"2"}}}]}}`, "node-1"},
			map[string]string{ImageEnv: "env.example/busybox:1"},
			"flag.example/busybox:1", "flag-ns", map[string]string{"team": "flag", "env": "any"}, "2", []string{"flag-secret"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := NewNodeShellOptions(genericiooptions.NewTestIOStreamsDiscard())
			o.Getenv = func(k string) string {
				if k == "KUBECTL_NODE_SHELL_CONFIG" {
					return file
				}
				return tc.env[k]
			}
			cmd := &cobra.Command{}
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
			spec := o.podSpec("node-1")
			spec.Entry = o.entry
			pod, err := podspec.Build(spec)
			if err != nil {
				t.Fatal(err)
			}
			if got := pod.Spec.Containers[0].Image; got != tc.image {
				t.Errorf("image = %s, want %s", got, tc.image)
			}
			wantNS := tc.namespace
			if wantNS == "" {
				wantNS = "ops" // the kubeconfig context's
			}
			if o.namespace != wantNS {
				t.Errorf("namespace = %q, want %q", o.namespace, wantNS)
			}
			for k, v := range tc.labels {
				if pod.Labels[k] != v {
					t.Errorf("label %s = %q, want %q", k, pod.Labels[k], v)
				}
			}
			if tc.labels != nil || tc.name == "$KUBECTL_NODE_SHELL_IMAGE over the file" {
				if cpu := pod.Spec.Containers[0].Resources.Limits.Cpu(); tc.cpu != "" && cpu.String() != tc.cpu {
					t.Errorf("cpu limit = %s, want %s", cpu, tc.cpu)
				}
			}
			if tc.cpu == "" && !pod.Spec.Containers[0].Resources.Limits.Cpu().IsZero() {
				t.Errorf("a limit from another context's entry: %v", pod.Spec.Containers[0].Resources.Limits)
			}
			if tc.secrets != nil && (len(pod.Spec.ImagePullSecrets) != 1 || pod.Spec.ImagePullSecrets[0].Name != tc.secrets[0]) {
				t.Errorf("pull secrets = %v, want %v", pod.Spec.ImagePullSecrets, tc.secrets)
			}
		})
	}
}

func TestReasonRequired(t *testing.T) {
	marked := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: clustersetup.Namespace,
		Labels:      map[string]string{podspec.LabelManagedBy: podspec.ManagedByValue},
		Annotations: map[string]string{clustersetup.AnnotationRequireReason: "true"}}}
	unmarked := marked.DeepCopy()
	unmarked.Annotations = nil
	foreign := marked.DeepCopy()
	foreign.Labels = nil // not setup's namespace: its annotation is nobody's rule
	tests := []struct {
		name    string
		objects []runtime.Object
		reason  string
		refused bool
	}{
		{"required and missing", []runtime.Object{marked}, "", true},
		{"required and given", []runtime.Object{marked}, "INC-1", false},
		{"required, only blanks given", []runtime.Object{marked}, "  ", true},
		{"not required", []runtime.Object{unmarked}, "", false},
		{"a namespace setup did not make", []runtime.Object{foreign}, "", false},
		{"no node-shell namespace", nil, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			client := fake.NewSimpleClientset(tc.objects...)
			o := NewNodeShellOptions(genericiooptions.NewTestIOStreamsDiscard())
			o.client, o.restConfig, o.Reason = client, &rest.Config{Host: "https://k"}, tc.reason
			err := o.checkReasonRequired(context.Background())
			if tc.refused != (err != nil) {
				t.Fatalf("err = %v, want refused %v", err, tc.refused)
			}
			if err != nil && !strings.Contains(err.Error(), "pass --reason TEXT") {
				t.Errorf("refusal %q does not say what to do", err)
			}
			gets := len(client.Actions())
			_ = o.checkReasonRequired(context.Background())
			if len(client.Actions()) != gets {
				t.Error("the requirement was read twice in one run")
			}
		})
	}
	forbidden := fake.NewSimpleClientset()
	forbidden.PrependReactor("get", "namespaces", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "namespaces"}, clustersetup.Namespace, errors.New("no"))
	})
	o := NewNodeShellOptions(genericiooptions.NewTestIOStreamsDiscard())
	o.client, o.restConfig = forbidden, &rest.Config{Host: "https://k"}
	if err := o.checkReasonRequired(context.Background()); err != nil {
		t.Errorf("a user who may not read namespace node-shell was refused: %v", err)
	}
}
