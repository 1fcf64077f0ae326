package cmd

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
	k8stesting "k8s.io/client-go/testing"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/clustersetup"
)

func TestChooseNamespace(t *testing.T) {
	dedicated := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "node-shell", Labels: clustersetup.Labels}}
	handMade := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "node-shell"}}
	forbidden := func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(corev1.Resource("namespaces"), "node-shell", errors.New("RBAC: no"))
	}
	tests := []struct {
		name          string
		flag          string // -n
		kubeconfigNS  string
		quiet         bool
		existing      []runtime.Object
		reactor       k8stesting.ReactionFunc
		wantNamespace string
		wantGET       bool
		wantNotice    bool
	}{
		{name: "setup was run", kubeconfigNS: "default", existing: []runtime.Object{dedicated},
			wantNamespace: "node-shell", wantGET: true},
		{name: "the context's namespace does not count as choosing one", kubeconfigNS: "team-a", existing: []runtime.Object{dedicated},
			wantNamespace: "node-shell", wantGET: true},
		{name: "no dedicated namespace", kubeconfigNS: "default",
			wantNamespace: "default", wantGET: true, wantNotice: true},
		{name: "a namespace of that name, not setup's", kubeconfigNS: "default", existing: []runtime.Object{handMade},
			wantNamespace: "default", wantGET: true, wantNotice: true},
		{name: "not a node admin of setup's: Forbidden", kubeconfigNS: "default", reactor: forbidden,
			wantNamespace: "default", wantGET: true, wantNotice: true},
		{name: "-n chooses", flag: "ops", kubeconfigNS: "ops", existing: []runtime.Object{dedicated},
			wantNamespace: "ops", wantNotice: true},
		{name: "-n node-shell", flag: "node-shell", kubeconfigNS: "node-shell",
			wantNamespace: "node-shell"},
		{name: "the context's namespace is node-shell", kubeconfigNS: "node-shell",
			wantNamespace: "node-shell"},
		{name: "-q silences the notice", flag: "ops", kubeconfigNS: "ops", quiet: true,
			wantNamespace: "ops"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			client := fake.NewClientset(tc.existing...)
			if tc.reactor != nil {
				client.PrependReactor("get", "namespaces", tc.reactor)
			}
			o, errOut := namespaceOptions(client, tc.flag, tc.kubeconfigNS, tc.quiet)
			r := newReporter(errOut, tc.quiet, 0, nil)
			if err := o.chooseNamespace(context.Background(), r); err != nil {
				t.Fatal(err)
			}
			if o.namespace != tc.wantNamespace {
				t.Errorf("namespace %q, want %q", o.namespace, tc.wantNamespace)
			}
			if got := len(client.Actions()) > 0; got != tc.wantGET {
				t.Errorf("requests %v; want a GET of the namespace: %v", client.Actions(), tc.wantGET)
			}
			notice := errOut.String()
			if !tc.wantNotice {
				if notice != "" {
					t.Errorf("stderr %q, want nothing", notice)
				}
				return
			}
			want := "warning: " + sharedNamespaceNotice(tc.wantNamespace) + "\n"
			if notice != want {
				t.Errorf("stderr %q, want %q", notice, want)
			}
		})
	}
}

func TestSharedNamespaceNoticeIsOneLineThatNarrowsAccess(t *testing.T) {
	n := sharedNamespaceNotice("default")
	for _, want := range []string{"namespace default", "exec into, attach to or patch pods", "kubectl node-shell setup", "only node admins can enter"} {
		if !strings.Contains(n, want) {
			t.Errorf("notice %q lacks %q", n, want)
		}
	}
	for _, never := range []string{"privileged", "label", "exempt"} {
		if strings.Contains(n, never) {
			t.Errorf("notice %q mentions %q: it must not suggest changing a policy", n, never)
		}
	}
	if strings.ContainsAny(n, "\n\r") {
		t.Errorf("notice %q is more than one line", n)
	}
}

func TestChooseNamespaceReportsAnUnreachableCluster(t *testing.T) {
	client := fake.NewClientset()
	client.PrependReactor("get", "namespaces", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New(`Get "https://10.0.0.1:6443/api/v1/namespaces/node-shell": dial tcp 10.0.0.1:6443: connect: connection refused`)
	})
	o, errOut := namespaceOptions(client, "", "default", false)
	err := o.chooseNamespace(context.Background(), newReporter(errOut, false, 0, nil))
	if err == nil || !strings.Contains(err.Error(), "cannot reach the cluster at https://10.0.0.1:6443: dial tcp 10.0.0.1:6443: connect: connection refused") {
		t.Fatalf("err = %v, want the one-line unreachable diagnosis", err)
	}
}

func namespaceOptions(client *fake.Clientset, flag, kubeconfigNS string, quiet bool) (*NodeShellOptions, *bytes.Buffer) {
	streams, _, _, errOut := genericiooptions.NewTestIOStreams()
	o := NewNodeShellOptions(streams)
	*o.configFlags.Namespace = flag
	o.namespace = kubeconfigNS
	o.Quiet = quiet
	o.client = client
	o.restConfig = &rest.Config{Host: "https://10.0.0.1:6443"}
	return o, errOut
}
