package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/utils/ptr"

	"github.com/kubectl-node-shell/kubectl-node-shell/integration/localcluster"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/diagnose"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/podspec"
)

// noShellImage has one file and no /bin/sh, so the node-shell container cannot start.
const noShellImage = "docker.io/library/node-shell-no-shell:1"

func pushNoShellImage(t *testing.T, c *localcluster.Cluster) {
	t.Helper()
	base := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err := localcluster.NewImage(base, localcluster.ImageSpec{Files: map[string][]byte{"/README": []byte("no shell here\n")}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.PushImage(context.Background(), noShellImage, img); err != nil {
		t.Fatalf("push %s: %v", noShellImage, err)
	}
}

// TestDiagnoseRealPodStates: node-shell pods broken in the ways the kubelet reports while
// a pod starts, created directly on the real cluster; the state each reaches must be
// diagnosed as fatal, with the right cause, within a few seconds. The states and messages
// logged here are the fixtures of pkg/diagnose's unit tests.
func TestDiagnoseRealPodStates(t *testing.T) {
	e := newE2E(t)
	pushNoShellImage(t, e.cluster)
	node := e.Nodes()[0]
	tests := []struct {
		name  string
		spec  func(*podspec.Spec)
		edit  func(*corev1.Pod)
		want  string
		bound time.Duration
	}{
		{"image not in the registry", func(s *podspec.Spec) { s.Image = "docker.io/library/does-not-exist:1" }, nil,
			`cannot pull image "docker.io/library/does-not-exist:1" (ErrImagePull: not found)`, 10 * time.Second},
		{"invalid image name", func(s *podspec.Spec) { s.Image = "docker.io/library/BusyBox:1" }, nil,
			`image name "docker.io/library/BusyBox:1" is invalid`, 10 * time.Second},
		{"missing config map", nil, func(p *corev1.Pod) {
			p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "X", ValueFrom: &corev1.EnvVarSource{
				ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "absent"}, Key: "k"}}}}
		}, `cannot start the node-shell container (CreateContainerConfigError: configmap "absent" not found)`, 10 * time.Second},
		{"image without a shell", func(s *podspec.Spec) { s.Image = noShellImage }, nil,
			`cannot run in image "` + noShellImage + `" (StartError: exec: "/bin/sh": stat /bin/sh: no such file or directory)`, 10 * time.Second},
		{"kubelet rejects: node affinity", nil, func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"e2e/nowhere": "true"} },
			"the kubelet on node " + node + " rejected the pod (NodeAffinity", 10 * time.Second},
		{"active deadline", nil, func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr.To[int64](1) },
			"reached its maximum lifetime", 15 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// A fresh heartbeat, as a session writes at create: the watchdog keeps the pod.
			spec := podspec.Spec{Node: node, Namespace: e.namespace, Heartbeat: podspec.FormatHeartbeat(time.Now())}
			if tc.spec != nil {
				tc.spec(&spec)
			}
			pod, err := podspec.Build(spec)
			if err != nil {
				t.Fatal(err)
			}
			if tc.edit != nil {
				tc.edit(pod)
			}
			ctx, cancel := context.WithTimeout(context.Background(), tc.bound)
			defer cancel()
			pods := e.client.CoreV1().Pods(e.namespace)
			created, err := pods.Create(ctx, pod, metav1.CreateOptions{})
			if err != nil {
				t.Fatalf("create: %v", err)
			}
			defer func() {
				_ = pods.Delete(context.Background(), created.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)})
			}()
			start := time.Now()
			w, err := pods.Watch(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", created.Name).String(),
				ResourceVersion: created.ResourceVersion})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Stop()
			var last *corev1.Pod
			for ev := range w.ResultChan() {
				p, ok := ev.Object.(*corev1.Pod)
				if !ok {
					continue
				}
				last = p
				problem := diagnose.PodProblem(p)
				if problem == nil {
					continue
				}
				status, _ := json.Marshal(p.Status)
				t.Logf("after %v: %s\n  status: %s", time.Since(start).Round(time.Millisecond), problem, status)
				if !strings.Contains(problem.Error(), tc.want) {
					t.Errorf("diagnosis %q, want it to contain %q", problem, tc.want)
				}
				return
			}
			status := []byte("none")
			if last != nil {
				status, _ = json.Marshal(last.Status)
			}
			t.Fatalf("no fatal diagnosis within %v; last status: %s", tc.bound, status)
		})
	}
}

// TestFailFastImageWithoutShell: through the plugin, an image that cannot run the
// container's command fails the session as soon as the runtime says so.
func TestFailFastImageWithoutShell(t *testing.T) {
	e := newE2E(t)
	pushNoShellImage(t, e.cluster)
	r := e.NodeShell("--image", noShellImage, "--pod-running-timeout", "2m", e.Nodes()[1], "--", "true").Run()
	e.assertFailed(r, 10*time.Second, "the node-shell container on node "+e.Nodes()[1]+` cannot run in image "`+noShellImage+`" (StartError: exec: "/bin/sh"`,
		"the image needs /bin/sh and sleep")
	r.AssertOnNode(t, e.Nodes()[1])
}
