package diagnose

import (
	"errors"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

var now = time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)

func readyNode(status corev1.ConditionStatus, reason, msg string) *corev1.Node {
	since := metav1.NewTime(now.Add(-5 * time.Second))
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "n1"},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{
			{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse},
			{Type: corev1.NodeReady, Status: status, Reason: reason, Message: msg, LastTransitionTime: since, LastHeartbeatTime: since},
		}},
	}
}

func TestNodeProblem(t *testing.T) {
	const netDown = "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized"
	tests := []struct {
		name        string
		node        *corev1.Node
		hostNetwork bool
		want        string // "" for no problem
	}{
		{"ready", readyNode(corev1.ConditionTrue, "KubeletReady", "kubelet is posting ready status"), true, ""},
		{"runtime down", readyNode(corev1.ConditionFalse, "KubeletNotReady", "container runtime is down"), true,
			"the container runtime on node n1 is down (Ready=False for 5s, KubeletNotReady: container runtime is down, last heartbeat 5s ago); " +
				"node-shell needs it to start its pod: restart the container runtime (containerd or CRI-O) through the node's console or SSH (its log says why it stopped), or pick another node"},
		{"runtime down among others", readyNode(corev1.ConditionFalse, "KubeletNotReady", "[container runtime is down, PLEG is not healthy: pleg was last seen active 3m1s ago; threshold is 3m0s]"), true,
			"the container runtime on node n1 is down (Ready=False for 5s, KubeletNotReady: [container runtime is down, PLEG is not healthy"},
		{"PLEG", readyNode(corev1.ConditionFalse, "KubeletNotReady", "PLEG is not healthy: pleg has yet to be successful"), true,
			"the container runtime on node n1 is down"},
		{"runtime not ready", readyNode(corev1.ConditionFalse, "KubeletNotReady", "container runtime not ready: RuntimeReady=false reason:x message:y"), true,
			"the container runtime on node n1 is down"},
		// A host-network pod starts without the pod network: not a verdict for a session.
		{"network, host network", readyNode(corev1.ConditionFalse, "KubeletNotReady", netDown), true, ""},
		{"network, pod network", readyNode(corev1.ConditionFalse, "KubeletNotReady", netDown), false,
			"the pod network on node n1 is not ready (Ready=False for 5s, KubeletNotReady: container runtime network not ready"},
		// Unknown is the kubelet gone silent: the lease and the pickup check judge that.
		{"unknown", readyNode(corev1.ConditionUnknown, "NodeStatusUnknown", "Kubelet stopped posting node status."), true, ""},
		{"other not ready", readyNode(corev1.ConditionFalse, "KubeletNotReady", "node is shutting down"), true, ""},
		{"no condition", &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}, true, ""},
	}
	for _, tc := range tests {
		got := NodeProblem(tc.node, tc.hostNetwork, now)
		switch {
		case tc.want == "" && got != nil:
			t.Errorf("%s: NodeProblem = %q, want none", tc.name, got)
		case tc.want != "" && (got == nil || !strings.HasPrefix(got.Error(), tc.want)):
			t.Errorf("%s: NodeProblem =\n  %v\nwant it to start with\n  %q", tc.name, got, tc.want)
		}
	}
}

// What a v1.34 kubelet with containerd 1.6 reported on the local cluster
// (integration/e2e/brokennode_test.go logs them).
const (
	sandboxNoSpace = "Failed to create pod sandbox: mkdir /var/lib/kubectl-node-shell/0123456789ab/nodes/3/pod-logs/ops_node-shell-n1-abcde_5f0c: no space left on device"
	sandboxDial    = `Failed to create pod sandbox: rpc error: code = Unavailable desc = connection error: desc = "transport: Error while dialing: dial unix /run/containerd/containerd.sock: connect: connection refused"`
	pullCut        = `failed to pull and unpack image "127.0.0.1:40000/node-shell/hang:1": rpc error: code = Unavailable desc = error reading from server: EOF`
)

func event(kind, reason, msg string) *corev1.Event {
	return &corev1.Event{Type: kind, Reason: reason, Message: msg}
}

func TestEventProblem(t *testing.T) {
	hostNet := pod(func(p *corev1.Pod) { p.Spec.HostNetwork = true })
	podNet := pod(func(*corev1.Pod) {})
	tests := []struct {
		name string
		pod  *corev1.Pod
		ev   *corev1.Event
		want string // "" for no problem
	}{
		{"normal", hostNet, event(corev1.EventTypeNormal, "Pulling", `Pulling image "busybox"`), ""},
		{"disk full", hostNet, event(corev1.EventTypeWarning, "FailedCreatePodSandBox", sandboxNoSpace),
			"node n1 is out of disk space: the filesystem that holds /var/lib/kubectl-node-shell/0123456789ab/nodes/3/pod-logs/ops_node-shell-n1-abcde_5f0c is full " +
				"(FailedCreatePodSandBox: mkdir /var/lib/kubectl-node-shell/0123456789ab/nodes/3/pod-logs/ops_node-shell-n1-abcde_5f0c: no space left on device); " +
				"free space there through the node's console or SSH (df -h /var/lib/kubectl-node-shell/0123456789ab/nodes/3/pod-logs/ops_node-shell-n1-abcde_5f0c), then try again"},
		{"disk full, no path", podNet, event(corev1.EventTypeWarning, "Failed", "write error: No space left on device"),
			"node n1 is out of disk space: a filesystem of the node is full (Failed: write error: No space left on device); free space on the node through the node's console or SSH (df -h"},
		{"runtime unreachable", hostNet, event(corev1.EventTypeWarning, "FailedCreatePodSandBox", sandboxDial),
			`the container runtime on node n1 does not answer the kubelet (FailedCreatePodSandBox: rpc error: code = Unavailable desc = connection error: desc = "transport: Error while dialing: dial unix /run/containerd/containerd.sock: connect: connection refused"); node-shell needs it`},
		{"runtime unreachable, pod network", podNet, event(corev1.EventTypeWarning, "FailedCreatePodSandBox", sandboxDial),
			"the container runtime on node n1 does not answer the kubelet"},
		{"sandbox, host network", hostNet, event(corev1.EventTypeWarning, "FailedCreatePodSandBox", `Failed to create pod sandbox: rpc error: code = Unknown desc = failed to get sandbox image "registry.k8s.io/pause:3.10": not found`),
			`the kubelet on node n1 cannot create the pod's sandbox (FailedCreatePodSandBox: rpc error: code = Unknown desc = failed to get sandbox image "registry.k8s.io/pause:3.10": not found); the node's container runtime`},
		// On the pod network, a sandbox failure may be a network plugin still starting.
		{"sandbox, pod network", podNet, event(corev1.EventTypeWarning, "FailedCreatePodSandBox", "Failed to create pod sandbox: plugin type=\"bridge\" failed (add): cni plugin not initialized"), ""},
		{"mount", hostNet, event(corev1.EventTypeWarning, "FailedMount", `MountVolume.SetUp failed for volume "heartbeat" : open /var/lib/kubelet/pods/x/volumes/y: read-only file system`),
			`the kubelet on node n1 cannot mount the pod's volumes (FailedMount: MountVolume.SetUp failed for volume "heartbeat" : open /var/lib/kubelet/pods/x/volumes/y: read-only file system); the kubelet's directory`},
		{"multi-line message", hostNet, event(corev1.EventTypeWarning, "FailedMount", "first line\nsecond line"),
			"the kubelet on node n1 cannot mount the pod's volumes (FailedMount: first line); "},
		// The pod's status says pull errors better (image, registry's answer).
		{"pull", hostNet, event(corev1.EventTypeWarning, "Failed", `Failed to pull image "x": not found`), ""},
		{"backoff", hostNet, event(corev1.EventTypeWarning, "BackOff", `Back-off pulling image "x"`), ""},
	}
	for _, tc := range tests {
		got := EventProblem(tc.pod, tc.ev)
		switch {
		case tc.want == "" && got != nil:
			t.Errorf("%s: EventProblem = %q, want none", tc.name, got)
		case tc.want != "" && (got == nil || !strings.HasPrefix(got.Error(), tc.want)):
			t.Errorf("%s: EventProblem =\n  %v\nwant it to start with\n  %q", tc.name, got, tc.want)
		case got != nil && (strings.Contains(got.Error(), "\n") || got.Detail != tc.ev.Message):
			t.Errorf("%s: EventProblem = %q (detail %q), want one line and the event's message as detail", tc.name, got, got.Detail)
		}
	}
}

// A pull cut off by a dying runtime is the runtime's fault: no image hint.
func TestPodProblemRuntimeCutThePull(t *testing.T) {
	got := PodProblem(pod(waiting("127.0.0.1:40000/node-shell/hang:1", "ErrImagePull", pullCut))).Error()
	want := `the container runtime on node n1 does not answer the kubelet (ErrImagePull: ` + pullCut + `); node-shell needs it to start its pod`
	if !strings.HasPrefix(got, want) || strings.Contains(got, "--image") {
		t.Errorf("PodProblem =\n  %q\nwant it to start with\n  %q, and no --image hint", got, want)
	}
}

func TestRuntimeDown(t *testing.T) {
	for msg, want := range map[string]bool{
		sandboxDial: true,
		pullCut:     true,
		`dial unix /run/k3s/containerd/containerd.sock: connect: no such file or directory`: true,
		"container runtime is down":                          true,
		"PLEG is not healthy: pleg has yet to be successful": true,
		pullNotFound: false,
		"unexpected status from HEAD request to https://registry/v2/x/manifests/1: 503 Service Unavailable": false,
		"container runtime network not ready: NetworkReady=false":                                           false,
	} {
		if got := RuntimeDown(msg); got != want {
			t.Errorf("RuntimeDown(%q) = %v, want %v", msg, got, want)
		}
	}
}

// KubeletAway on a node whose runtime is down names the runtime: that is why the kubelet
// picks up no pod.
func TestKubeletAwayRuntimeDown(t *testing.T) {
	got := KubeletAway(readyNode(corev1.ConditionFalse, "KubeletNotReady", "container runtime is down"), 12*time.Second, now).Error()
	if want := "the container runtime on node n1 is down (Ready=False for 5s"; !strings.HasPrefix(got, want) {
		t.Errorf("KubeletAway = %q, want it to start with %q", got, want)
	}
	got = KubeletAway(readyNode(corev1.ConditionUnknown, "NodeStatusUnknown", "Kubelet stopped posting node status."), 12*time.Second, now).Error()
	if want := "the kubelet on node n1 did not pick up the pod within 12s, and the node is not ready (Ready=Unknown for 5s"; !strings.HasPrefix(got, want) ||
		!strings.Contains(got, "the node's console or SSH") {
		t.Errorf("KubeletAway = %q, want it to start with %q and point to the node's console or SSH", got, want)
	}
}

func lease(durationSeconds *int32, renewedAgo time.Duration) *coordinationv1.Lease {
	return &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: "n1", Namespace: corev1.NamespaceNodeLease},
		Spec: coordinationv1.LeaseSpec{
			HolderIdentity:       ptr.To("n1"),
			LeaseDurationSeconds: durationSeconds,
			RenewTime:            &metav1.MicroTime{Time: now.Add(-renewedAgo)},
		},
	}
}

func TestKubeletLeaseBounds(t *testing.T) {
	for _, tc := range []struct {
		duration        *int32
		interval, bound time.Duration
	}{
		{ptr.To[int32](40), 10 * time.Second, 15 * time.Second},
		{nil, 10 * time.Second, 15 * time.Second},
		{ptr.To[int32](0), 10 * time.Second, 15 * time.Second},
		{ptr.To[int32](20), 5 * time.Second, 7500 * time.Millisecond},
	} {
		l := lease(tc.duration, 0)
		if got := LeaseRenewInterval(l); got != tc.interval {
			t.Errorf("LeaseRenewInterval(duration %v) = %v, want %v", tc.duration, got, tc.interval)
		}
		if got := KubeletSilenceBound(l); got != tc.bound {
			t.Errorf("KubeletSilenceBound(duration %v) = %v, want %v", tc.duration, got, tc.bound)
		}
	}
}

func TestKubeletSilent(t *testing.T) {
	const cause = "the kubelet on node n1 is not running or cannot reach the apiserver: "
	const fix = " (a live kubelet renews it every 10s); node-shell needs the kubelet to start its pod: restart the kubelet through the node's console or SSH (its log says why it stopped), or pick another node"
	tests := []struct {
		name        string
		renewedAgo  time.Duration
		serverKnown bool
		want        string
	}{
		{"age by the apiserver's clock", 23*time.Second + 400*time.Millisecond, true,
			cause + "its lease (kube-node-lease/n1) has not been renewed for 23s" + fix},
		// The node's clock is behind the apiserver's: the lease looks younger than the
		// silence this session saw, so the silence is what it says.
		{"node clock behind", 3 * time.Second, true,
			cause + "its lease (kube-node-lease/n1) has not been renewed in the 15s node-shell watched it" + fix},
		{"apiserver's clock unknown", time.Hour, false,
			cause + "its lease (kube-node-lease/n1) has not been renewed in the 15s node-shell watched it" + fix},
	}
	for _, tc := range tests {
		got := KubeletSilent(lease(ptr.To[int32](40), tc.renewedAgo), 15*time.Second, now, tc.serverKnown).Error()
		if got != tc.want {
			t.Errorf("%s: KubeletSilent =\n  %q\nwant\n  %q", tc.name, got, tc.want)
		}
	}
}

// TestExecProblemKubeletCertificates: an exec that fails on a certificate between the
// apiserver and the kubelet blames that certificate, not the user's credentials.
func TestExecProblemKubeletCertificates(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		// What a v1.34 apiserver said on the local cluster (brokennode_test.go).
		{"kubelet serving cert, unknown CA", errors.New(`Internal error occurred: error sending request: Post "https://127.0.0.3:10250/exec/default/node-shell-127-0-0-3-225qj/shell?command=chroot&command=%2Fhost&command=true&error=1&input=1&output=1": tls: failed to verify certificate: x509: certificate signed by unknown authority`),
			"the apiserver rejects the serving certificate of the kubelet on node n1 (x509: certificate signed by unknown authority): the kubelet's certificate is at fault, not your credentials; " +
				"renew the kubelet's serving certificate on node n1 through the node's console or SSH (or approve its pending CSR: kubectl get csr)"},
		{"kubelet serving cert, on another port", errors.New(`Internal error occurred: error sending request: Post "https://10.0.0.7:11250/exec/ops/x/shell?command=true": tls: failed to verify certificate: x509: certificate signed by unknown authority`),
			"the apiserver rejects the serving certificate of the kubelet on node n1 (x509: certificate signed by unknown authority)"},
		{"the user's own connection is not the kubelet's", errors.New(`Post "https://10.0.0.1:6443/api/v1/namespaces/ops/pods/x/exec?command=true": tls: failed to verify certificate: x509: certificate signed by unknown authority`),
			"the session's connection to pod ops/node-shell-n1-x on node n1 broke"},
		{"kubelet serving cert, expired", errors.New(`Internal error occurred: error dialing backend: x509: certificate has expired or is not yet valid: current time 2026-12-01T08:00:00Z is after 2026-11-30T00:00:00Z`),
			"the apiserver rejects the serving certificate of the kubelet on node n1 (x509: certificate has expired or is not yet valid: current time 2026-12-01T08:00:00Z is after 2026-11-30T00:00:00Z): the kubelet's certificate is at fault"},
		{"kubelet serving cert, wrong name", errors.New(`error dialing backend: tls: failed to verify certificate: x509: certificate is valid for 10.0.0.8, not 10.0.0.7`),
			"the apiserver rejects the serving certificate of the kubelet on node n1 (x509: certificate is valid for 10.0.0.8, not 10.0.0.7)"},
		{"apiserver client cert refused by the kubelet", errors.New(`error dialing backend: remote error: tls: bad certificate`),
			"the kubelet on node n1 refuses the apiserver's client certificate (remote error: tls: bad certificate): a certificate between the apiserver and the kubelet is at fault, not your credentials; " +
				"the kubelet's client CA (authentication.x509.clientCAFile) must trust the apiserver's --kubelet-client-certificate"},
		{"kubelet unreachable stays so", errors.New(`error dialing backend: dial tcp 10.0.0.7:10250: connect: connection refused`),
			"the apiserver cannot reach the kubelet on node n1 to exec"},
	}
	for _, tc := range tests {
		got := ExecProblem(tc.err, "ops", "node-shell-n1-x", "n1")
		if !strings.HasPrefix(got.Error(), tc.want) || !errors.Is(got, tc.err) {
			t.Errorf("%s: ExecProblem =\n  %q\nwant it to start with\n  %q, wrapping the error", tc.name, got, tc.want)
		}
	}
}
