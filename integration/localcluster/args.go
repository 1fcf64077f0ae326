package localcluster

import (
	"fmt"
	"strconv"
)

// The command lines of the daemons. They are functions of the layout and the
// binaries only, so a daemon restarted mid-test (StartAPIServer,
// StartKubelet) runs with exactly the flags and certificates it had.

// etcdArgs: one throwaway member; fsync is pointless for a test cluster.
func etcdArgs(l layout, b binaries) []string {
	return []string{b.Etcd, "--name", "lc", "--data-dir", l.path("etcd"),
		"--listen-client-urls", "http://" + etcdClient, "--advertise-client-urls", "http://" + etcdClient,
		"--listen-peer-urls", "http://" + etcdPeer, "--initial-advertise-peer-urls", "http://" + etcdPeer,
		"--initial-cluster", "lc=http://" + etcdPeer, "--unsafe-no-fsync", "--log-level", "warn"}
}

// apiServerArgs. Beyond the obvious:
//   - --endpoint-reconciler-type=none: the kubernetes Service would otherwise
//     get an endpoint of 127.0.0.1, which means nothing inside a pod;
//   - --kubelet-preferred-address-types: nodes are named by, and report,
//     their loopback IP; exec, logs and port-forward must dial that;
//   - --kubelet-certificate-authority: kubelets serve certs from our CA;
//   - --allow-privileged: the whole point (privileged, hostPID, hostPath /);
//   - Pod Security Admission stays at its default (privileged everywhere),
//     so tests can label namespaces to exercise its rejections.
func apiServerArgs(l layout, b binaries) []string {
	return []string{b.kube("kube-apiserver"),
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(apiServerPort),
		"--etcd-servers=http://" + etcdClient,
		"--client-ca-file=" + l.pki("ca.crt"),
		"--tls-cert-file=" + l.pki("apiserver.crt"), "--tls-private-key-file=" + l.pki("apiserver.key"),
		"--kubelet-client-certificate=" + l.pki("apiserver-kubelet-client.crt"),
		"--kubelet-client-key=" + l.pki("apiserver-kubelet-client.key"),
		"--kubelet-certificate-authority=" + l.pki("ca.crt"),
		"--kubelet-preferred-address-types=InternalIP,Hostname",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + l.pki("sa.pub"),
		"--service-account-signing-key-file=" + l.pki("sa.key"),
		"--service-cluster-ip-range=" + serviceCIDR,
		"--authorization-mode=Node,RBAC", "--enable-admission-plugins=NodeRestriction",
		"--allow-privileged=true", "--endpoint-reconciler-type=none", "--profiling=false",
		"--audit-policy-file=" + l.auditPolicy(), "--audit-log-path=" + l.auditLog(),
		"--audit-log-maxsize=200", "--audit-log-maxbackup=1",
	}
}

// kcmArgs: one identity (no per-controller service accounts, see
// clusterCerts), no leader election (one instance). --root-ca-file publishes
// kube-root-ca.crt in every namespace; the default controllers create
// service accounts, delete namespaces, garbage-collect pods and run the
// workload controllers.
func kcmArgs(l layout, b binaries) []string {
	kc := l.kcmKubeconfig()
	return []string{b.kube("kube-controller-manager"),
		"--kubeconfig=" + kc, "--authentication-kubeconfig=" + kc, "--authorization-kubeconfig=" + kc,
		"--bind-address=127.0.0.1", "--secure-port=" + strconv.Itoa(kcmPort), "--leader-elect=false",
		"--root-ca-file=" + l.pki("ca.crt"), "--service-account-private-key-file=" + l.pki("sa.key"),
		"--use-service-account-credentials=false",
		"--flex-volume-plugin-dir=" + l.path("kcm-flexvolume"), "--profiling=false",
	}
}

// kubeletArgs: the node name is its loopback IP, which kubelet then reports
// as InternalIP (--node-ip refuses loopback addresses, a hostname override
// does not). --cert-dir defaults to /var/lib/kubelet/pki whatever
// --root-dir says, so it is set too.
func kubeletArgs(l layout, b binaries, k int) []string {
	return []string{b.kube("kubelet"),
		"--config=" + l.node(k, "kubelet.yaml"),
		"--kubeconfig=" + l.node(k, "kubeconfig"),
		"--root-dir=" + l.node(k, "kubelet"),
		"--cert-dir=" + l.node(k, "kubelet", "pki"),
		"--hostname-override=" + nodeName(k),
	}
}

func containerdArgs(l layout, containerd string, k int) []string {
	return []string{containerd, "--config", l.node(k, "containerd.toml")}
}

// registryArgs runs the hidden `registry` subcommand of the localcluster
// command (see registryExecutable).
func registryArgs(l layout, exe string) []string {
	return []string{exe, "registry", "--addr", RegistryAddr, "--dir", l.registryDir()}
}

// daemon names, used for pid and log files.
const (
	etcdName       = "etcd"
	apiServerName  = "kube-apiserver"
	kcmName        = "kube-controller-manager"
	registryName   = "registry"
	kubeletPrefix  = "kubelet-"
	containerdPref = "containerd-"
)

func kubeletName(k int) string    { return kubeletPrefix + strconv.Itoa(k) }
func containerdName(k int) string { return fmt.Sprintf("%s%d", containerdPref, k) }
