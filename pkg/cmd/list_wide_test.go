package cmd

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/podspec"
)

// -o wide adds each session's mode and the pod it entered, escaped: anyone who may patch the
// session pod writes its annotations.
func TestListWide(t *testing.T) {
	streams, _, out, _ := genericiooptions.NewTestIOStreams()
	o := NewListOptions(streams)
	o.scope.client = fake.NewClientset(
		shellPod("ops", "node", "n1", 5*time.Minute, 3*time.Second,
			map[string]string{podspec.AnnotationUser: "alice", podspec.AnnotationCommand: ""}, runningStatus),
		shellPod("ops", "pod", "n2", 2*time.Minute, 3*time.Second, map[string]string{
			podspec.AnnotationUser: "bob", podspec.AnnotationCommand: "tcpdump", podspec.AnnotationMode: "container",
			podspec.AnnotationTargetPod: "shop/web-0/app\x1b]0;owned\x07"}, runningStatus),
	)
	o.scope.namespace, o.Output, o.Now = "ops", "wide", func() time.Time { return listNow }
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := o.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := `NODE   NAMESPACE/NAME           USER    AGE   COMMAND         STATE   MODE        TARGET
n1     ops/node-shell-n1-node   alice   5m    <login shell>   alive   chroot      <node>
n2     ops/node-shell-n2-pod    bob     2m    tcpdump         alive   container   shop/web-0/app\x1b]0;owned\a
`
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("table (-want +got):\n%s", diff)
	}
}
