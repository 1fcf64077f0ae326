package diagnose

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The messages below are what a v1.34 kubelet with containerd 1.6 reported on the local
// cluster (integration/e2e TestDiagnoseRealPodStates logs them).
const (
	pullNotFound = `rpc error: code = NotFound desc = failed to pull and unpack image "docker.io/library/does-not-exist:1": ` +
		`failed to resolve reference "docker.io/library/does-not-exist:1": docker.io/library/does-not-exist:1: not found`
	invalidName = `Failed to apply default image tag "docker.io/library/BusyBox:1": couldn't parse image name ` +
		`"docker.io/library/BusyBox:1": invalid reference format: repository name (library/BusyBox) must be lowercase`
	noShell = `failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create failed: ` +
		`unable to start container process: exec: "/bin/sh": stat /bin/sh: no such file or directory: unknown`
)

func pod(edit func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "node-shell-n1-abcde", Namespace: "ops"},
		Spec:       corev1.PodSpec{NodeName: "n1"},
		Status:     corev1.PodStatus{Phase: corev1.PodPending},
	}
	edit(p)
	return p
}

func waiting(image, reason, msg string) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "shell", Image: image,
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: msg}}}}
	}
}

func terminated(image, reason string, code int32, msg string) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "shell", Image: image,
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: reason, ExitCode: code, Message: msg}}}}
	}
}

func failed(reason, msg string) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Status.Phase, p.Status.Reason, p.Status.Message = corev1.PodFailed, reason, msg
	}
}

func TestPodProblem(t *testing.T) {
	tests := []struct {
		name string
		pod  *corev1.Pod
		want string // "" means: not a problem (yet)
	}{
		{"just created", pod(func(*corev1.Pod) {}), ""},
		{"creating", pod(waiting("busybox", "ContainerCreating", "")), ""},
		{"running", pod(func(p *corev1.Pod) {
			p.Status.Phase = corev1.PodRunning
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}
		}), ""},
		{"image not found", pod(waiting("docker.io/library/does-not-exist:1", "ErrImagePull", pullNotFound)),
			`node n1 cannot pull image "docker.io/library/does-not-exist:1" (ErrImagePull: not found); ` +
				"use --image with an image the node can pull, or --image-pull-secret for a private registry"},
		{"back-off after a pull error", pod(waiting("example.com/private:1", "ImagePullBackOff", `Back-off pulling image "example.com/private:1": ErrImagePull: unauthorized`)),
			`node n1 cannot pull image "example.com/private:1" (ImagePullBackOff: unauthorized)`},
		{"pull secret given", pod(func(p *corev1.Pod) {
			waiting("example.com/private:1", "ErrImagePull", "pull access denied")(p)
			p.Spec.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "creds"}}
		}), "(ErrImagePull: denied); use --image with an image the node can pull"},
		{"never pull", pod(waiting("tools:1", "ErrImageNeverPull", `Container image "tools:1" is not present with pull policy of Never`)),
			`cannot pull image "tools:1" (ErrImageNeverPull: Container image "tools:1" is not present with pull policy of Never)`},
		{"invalid image name", pod(waiting("docker.io/library/BusyBox:1", "InvalidImageName", invalidName)),
			`image name "docker.io/library/BusyBox:1" is invalid; use --image with a valid reference`},
		{"kubelet's configmap cache not synced yet (it retries)", pod(waiting("busybox", "CreateContainerConfigError",
			"failed to sync configmap cache: timed out waiting for the condition")), ""},
		{"kubelet's secret cache not synced yet (it retries)", pod(waiting("busybox", "CreateContainerConfigError",
			"failed to sync secret cache: timed out waiting for the condition")), ""},
		{"container config", pod(waiting("busybox", "CreateContainerConfigError", `configmap "absent" not found`)),
			`the container runtime on node n1 cannot start the node-shell container (CreateContainerConfigError: configmap "absent" not found)`},
		{"create container error", pod(waiting("busybox", "CreateContainerError", "context deadline exceeded")),
			"(CreateContainerError: context deadline exceeded); check the image (--image) and the node's container runtime"},
		{"run container error", pod(waiting("busybox", "RunContainerError", "failed to start")),
			"(RunContainerError: failed to start)"},
		{"no shell in the image", pod(terminated("tools:1", "StartError", 128, noShell)),
			`the node-shell container on node n1 cannot run in image "tools:1" (StartError: exec: "/bin/sh": stat /bin/sh: no such file or directory); ` +
				"the image needs /bin/sh and sleep"},
		{"no shell, pod already failed", pod(func(p *corev1.Pod) {
			terminated("tools:1", "StartError", 128, noShell)(p)
			p.Status.Phase = corev1.PodFailed
		}), `cannot run in image "tools:1" (StartError`},
		{"exited at once", pod(terminated("busybox", "Completed", 0, "node-shell: no heartbeat from the client for 45s; stopping\n")),
			"exited before the session started (Completed, exit code 0: node-shell: no heartbeat from the client for 45s; stopping); " +
				"try again; if it persists, see kubectl describe pod -n ops node-shell-n1-abcde"},
		{"node at its pod limit", pod(failed("OutOfpods", "Pod was rejected: Node didn't have enough resource: pods, requested: 1, used: 110, capacity: 110")),
			"node n1 is at its pod limit (OutOfpods: Node didn't have enough resource: pods, requested: 1, used: 110, capacity: 110); no pod was evicted for the session; " +
				"pass --priority-class system-node-critical to let the kubelet evict a lower-priority pod to make room, or free a pod slot on the node"},
		{"node out of memory for the pod's requests", pod(failed("OutOfmemory", "Pod was rejected: Node didn't have enough resource: memory, requested: 67108864, used: 8000000000, capacity: 8000000000")),
			"node n1 has no room for the session pod's requests (OutOfmemory: Node didn't have enough resource: memory, requested: 67108864, used: 8000000000, capacity: 8000000000); " +
				"no pod was evicted for the session; pass --priority-class system-node-critical"},
		{"node affinity", pod(failed("NodeAffinity", "Pod was rejected: Predicate NodeAffinity failed: node(s) didn't match Pod's node affinity/selector")),
			"the kubelet on node n1 rejected the pod (NodeAffinity: Predicate NodeAffinity failed: node(s) didn't match Pod's node affinity/selector); " +
				"check the node's labels, taints and conditions with kubectl describe node n1"},
		{"other admission rejection", pod(failed("UnexpectedAdmissionError", "Pod was rejected: Allocate failed")),
			"the kubelet on node n1 rejected the pod (UnexpectedAdmissionError: Allocate failed)"},
		{"evicted", pod(failed("Evicted", "The node had condition: [DiskPressure]. ")),
			"node n1 evicted the pod (The node had condition: [DiskPressure].); the node is under resource pressure"},
		{"node shutting down", pod(failed("NodeShutdown", "Pod was rejected as the node is shutting down.")),
			"node n1 is shutting down (Pod was rejected as the node is shutting down.); wait for it to come back, or pick another node"},
		{"deadline", pod(failed("DeadlineExceeded", "Pod was active on the node longer than the specified deadline")),
			"reached its maximum lifetime before it started"},
		{"failed without a reason", pod(func(p *corev1.Pod) { p.Status.Phase = corev1.PodFailed }),
			"the pod on node n1 ended (Failed) before the session started"},
		{"deleted", pod(func(p *corev1.Pod) { p.DeletionTimestamp = &metav1.Time{Time: time.Now()} }),
			"pod ops/node-shell-n1-abcde was deleted while starting on node n1; something else removed it"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := PodProblem(tc.pod)
			switch {
			case tc.want == "" && got != nil:
				t.Errorf("PodProblem = %q, want none", got)
			case tc.want != "" && got == nil:
				t.Errorf("PodProblem = nil, want %q", tc.want)
			case got != nil && !strings.Contains(got.Error(), tc.want):
				t.Errorf("PodProblem =\n  %q\nwant it to contain\n  %q", got, tc.want)
			}
			if got != nil && strings.Contains(got.Error(), "\n") {
				t.Errorf("PodProblem %q spans lines", got)
			}
		})
	}
}

func TestStuck(t *testing.T) {
	tests := []struct {
		name string
		pod  *corev1.Pod
		want string
	}{
		{"kubelet never wrote", pod(func(*corev1.Pod) {}),
			"the kubelet on node n1 did not pick up the pod within 1m0s; the node's kubelet may be down: check kubectl get node n1"},
		{"slow pull", pod(func(p *corev1.Pod) {
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}}
			waiting("huge:1", "ContainerCreating", "")(p)
		}), "the pod on node n1 did not start within 1m0s (container ContainerCreating); raise --pod-running-timeout"},
		{"pending with conditions", pod(func(p *corev1.Pod) {
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}}
		}), "did not start within 1m0s (phase Pending)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Stuck(tc.pod, "1m0s"); !strings.Contains(got.Error(), tc.want) {
				t.Errorf("Stuck =\n  %q\nwant it to contain\n  %q", got, tc.want)
			}
		})
	}
}
