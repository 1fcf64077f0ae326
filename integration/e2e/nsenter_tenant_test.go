package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/podspec"
)

// TestNsenterIgnoresTenantKubelet mounts the attack of issue 11: a tenant pod in another
// namespace, on the session's node, runs scripts named kubelet and containerd. PID 1's
// namespaces are closed on this machine, so --nsenter falls back to such processes; it must
// land in the host's mount namespace or refuse in one line, never in the tenant's container.
func TestNsenterIgnoresTenantKubelet(t *testing.T) {
	e := newE2E(t)
	ctx := context.Background()
	node := e.Nodes()[len(e.Nodes())-1]
	tenantNS := e.otherNamespace("tenant")
	tenantMarker := fmt.Sprintf("/tenant-marker-%d", time.Now().UnixNano())
	hostMarker := filepath.Join(t.TempDir(), "host-marker")
	hostContent := "written on the host by " + t.Name() + "\n"
	if err := os.WriteFile(hostMarker, []byte(hostContent), 0o644); err != nil {
		t.Fatal(err)
	}

	tenant := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "fake-node-daemons", Namespace: tenantNS},
		Spec: corev1.PodSpec{
			NodeName:                      node,
			TerminationGracePeriodSeconds: ptr.To[int64](0),
			Containers: []corev1.Container{{
				Name: "tenant", Image: podspec.DefaultImage, ImagePullPolicy: corev1.PullIfNotPresent,
				Command: []string{"sh", "-c", `printf '#!/bin/sh\nwhile :; do sleep 1; done\n' >/kubelet
chmod +x /kubelet
cp /kubelet /containerd
echo tenant >` + tenantMarker + `
/kubelet &
/containerd &
wait`},
				ReadinessProbe: &corev1.Probe{
					ProbeHandler:  corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"sh", "-c", "pidof kubelet && pidof containerd"}}},
					PeriodSeconds: 1,
				},
			}},
		},
	}
	created, err := e.client.CoreV1().Pods(tenantNS).Create(ctx, tenant, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create tenant pod: %v", err)
	}
	t.Cleanup(func() {
		_ = e.client.CoreV1().Pods(tenantNS).Delete(context.Background(), created.Name, metav1.DeleteOptions{
			GracePeriodSeconds: ptr.To[int64](0), Preconditions: &metav1.Preconditions{UID: &created.UID}})
	})
	e.waitReady(created, 60*time.Second)
	fakes := tenantProcesses(t, tenantMarker)
	t.Logf("tenant processes on the machine: %v", fakes)

	hostMnt, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil {
		t.Fatal(err)
	}
	seen := e.watchFirst(func(*corev1.Pod) bool { return true })
	r := e.NodeShell("--nsenter", node, "--", "sh", "-c",
		"readlink /proc/self/ns/mnt; if [ -e "+tenantMarker+" ]; then echo TENANT MARKER SEEN; fi; cat "+hostMarker).Run()

	if strings.Contains(string(r.Stdout), "TENANT MARKER SEEN") {
		t.Errorf("--nsenter joined the tenant's mount namespace: stdout %q, stderr %q", r.Stdout, r.Stderr)
	}
	switch r.Status {
	case 0:
		if want := hostMnt + "\n" + hostContent; string(r.Stdout) != want {
			t.Errorf("--nsenter printed %q, want the host's mount namespace and marker %q (stderr %q)", r.Stdout, want, r.Stderr)
		}
		t.Logf("--nsenter entered the host; stderr %q", r.Stderr)
	case 126:
		lines := strings.Split(strings.TrimRight(string(r.Stderr), "\n"), "\n")
		if len(lines) != 1 || !strings.HasPrefix(lines[0], "node-shell: ") || !strings.Contains(lines[0], "--mode=chroot") {
			t.Errorf("--nsenter refused with stderr %q, want one line that says why and suggests --mode=chroot", r.Stderr)
		}
		t.Logf("--nsenter refused: %s", lines[0])
	default:
		t.Errorf("--nsenter exited %d, want 0 (the host entered) or 126 (refused); stdout %q, stderr %q", r.Status, r.Stdout, r.Stderr)
	}

	select {
	case o := <-seen:
		if o.pod.Spec.NodeName != node {
			t.Errorf("session pod %s ran on %q, want %q", o.pod.Name, o.pod.Spec.NodeName, node)
		}
	case <-time.After(10 * time.Second):
		t.Errorf("no session pod seen in namespace %s", e.namespace)
	}
	e.AssertNoNodeShellPods()
}

// tenantProcesses returns the pids, by name, of the processes named kubelet and containerd
// whose root holds marker: proof, seen from the host, that the tenant's fakes run.
func tenantProcesses(t *testing.T, marker string) map[string][]int {
	t.Helper()
	found := map[string][]int{}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range entries {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		comm, err := os.ReadFile(filepath.Join("/proc", d.Name(), "comm"))
		if err != nil {
			continue
		}
		name := strings.TrimSpace(string(comm))
		if name != "kubelet" && name != "containerd" {
			continue
		}
		cgroup, _ := os.ReadFile(filepath.Join("/proc", d.Name(), "cgroup"))
		_, inTenant := os.Stat(filepath.Join("/proc", d.Name(), "root", marker))
		t.Logf("%s pid %d: tenant's=%v, cgroup %q", name, pid, inTenant == nil, cgroup)
		if inTenant == nil {
			found[name] = append(found[name], pid)
		}
	}
	if len(found["kubelet"]) == 0 || len(found["containerd"]) == 0 {
		t.Fatalf("the tenant's kubelet and containerd are not both running on the machine: %v", found)
	}
	return found
}

// waitReady waits for the pod's Ready condition.
func (e *E2E) waitReady(pod *corev1.Pod, timeout time.Duration) {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		p, err := e.client.CoreV1().Pods(pod.Namespace).Get(context.Background(), pod.Name, metav1.GetOptions{})
		if err == nil {
			for _, c := range p.Status.Conditions {
				if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
					return
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	e.t.Fatalf("pod %s/%s not Ready after %v", pod.Namespace, pod.Name, timeout)
}
