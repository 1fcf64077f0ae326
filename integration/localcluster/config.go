package localcluster

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// auditPolicy logs every request at Metadata level (who, verb, URI, user
// agent, response code; no bodies). With RequestReceived omitted a request
// yields one ResponseComplete event; long-running ones (exec, watch) also a
// ResponseStarted. The log backend's default (blocking) mode writes from the
// request's goroutine, so an event is in the file when the response is sent.
const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: Metadata
`

// hostsTOML points one registry host at the local registry: containerd asks
// it for docker.io/library/busybox as "library/busybox", so images keep
// their real names.
func hostsTOML() string {
	return fmt.Sprintf(`server = "http://%[1]s"

[host."http://%[1]s"]
  capabilities = ["pull", "resolve"]
`, RegistryAddr)
}

// containerdConfig is node k's containerd.toml (config version 2, containerd
// 1.6). Every path is under the node's directory so N containerds coexist.
// Two settings are essential on this kind of machine:
//   - restrict_oom_score_adj: root may lack CAP_SYS_RESOURCE (it does in the
//     VMs this was written on), so no process may lower its oom_score_adj;
//     kubelet asks for -998 for every sandbox and runc create then fails with
//     "can't get final child's PID from pipe: EOF".
//   - netns_mounts_under_state_dir: pod netns bind mounts go under the
//     state directory instead of /run/netns, so Down finds them.
//
// The opt plugin path and runc's Root default to /opt/containerd and
// /run/containerd/runc, so they are moved too.
func containerdConfig(l layout, k int, runc string) string {
	nd := l.nodeDir(k)
	return fmt.Sprintf(`version = 2
root = "%[1]s/containerd/root"
state = "%[1]s/containerd/state"
temp = "%[1]s/containerd/tmp"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs"]

[grpc]
  address = "%[1]s/containerd.sock"

[plugins."io.containerd.internal.v1.opt"]
  path = "%[1]s/containerd/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "%[2]s"
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true

  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"

    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"

      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "%[3]s"
        Root = "%[1]s/runc"
        SystemdCgroup = false

  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "%[1]s/cni"

  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "%[4]s"
`, nd, PauseImage, runc, l.certsDir())
}

// cniConflist is node k's pod network: every node attaches its pods to the
// one bridge Up creates (which holds 198.18.0.1, so the host reaches pods
// through a connected route) and hands out its own slice of the subnet,
// 198.18.K.2-254. No gateway, no default route, no masquerade: pods reach
// each other and the host's bridge address, and nothing else.
func cniConflist(l layout, k int) string {
	return fmt.Sprintf(`{
  "cniVersion": "0.4.0",
  "name": "localcluster",
  "plugins": [{
    "type": "bridge",
    "bridge": "%[1]s",
    "isGateway": false,
    "ipMasq": false,
    "ipam": {
      "type": "host-local",
      "dataDir": "%[2]s",
      "ranges": [[{ "subnet": "%[3]s.0.0/16",
                    "rangeStart": "%[3]s.%[4]d.2", "rangeEnd": "%[3]s.%[4]d.254" }]]
    }
  }]
}
`, podBridge, l.node(k, "cni-ipam"), podSubnetPrefix, k)
}

// kubeletConfig is node k's KubeletConfiguration. Every node listens on its
// own loopback address with the standard ports. Why the less obvious fields:
//   - tlsCertFile: a serving cert from our CA (see clusterCerts), required
//     with more than one node;
//   - cgroupRoot: a subtree per node, so kubelets do not fight over
//     /kubepods; cgroupfs because the daemons are not systemd units;
//   - podLogsDir, volumePluginDir: their defaults are outside the state dir;
//   - makeIPTablesUtilChains: iptables may not be installed and nothing
//     needs its chains;
//   - image GC and eviction thresholds: never delete the locally built
//     images or evict pods because a developer's disk is fuller than a
//     server's would be.
func kubeletConfig(l layout, k int, resolvConf string) string {
	ip := nodeName(k)
	return fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: %[1]s
port: %[2]d
readOnlyPort: 0
tlsCertFile: %[3]s
tlsPrivateKeyFile: %[4]s
healthzBindAddress: %[1]s
healthzPort: %[5]d
containerRuntimeEndpoint: unix://%[6]s
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: %[7]s}
authorization:
  mode: Webhook
cgroupDriver: cgroupfs
cgroupRoot: /%[8]s/node%[9]d
failCgroupV1: false
failSwapOn: false
podLogsDir: %[10]s
volumePluginDir: %[11]s
resolvConf: %[12]s
makeIPTablesUtilChains: false
serializeImagePulls: false
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard:
  memory.available: "1Mi"
  nodefs.available: "1%%"
  nodefs.inodesFree: "1%%"
  imagefs.available: "1%%"
  imagefs.inodesFree: "1%%"
`, ip, kubeletPort, l.pki(fmt.Sprintf("node%d-serving.crt", k)), l.pki(fmt.Sprintf("node%d-serving.key", k)),
		kubeletHealth, l.node(k, "containerd.sock"), l.pki("ca.crt"), cgroupName, k,
		l.node(k, "pod-logs"), l.node(k, "volume-plugins"), resolvConf)
}

// writeCommonConfigs writes the audit policy and the registry mirror
// configuration shared by all nodes.
func writeCommonConfigs(l layout) error {
	if err := os.WriteFile(l.auditPolicy(), []byte(auditPolicy), 0o644); err != nil {
		return fmt.Errorf("writing audit policy: %w", err)
	}
	for _, host := range mirroredRegistries {
		dir := filepath.Join(l.certsDir(), host)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("creating %s: %w", dir, err)
		}
		if err := os.WriteFile(filepath.Join(dir, "hosts.toml"), []byte(hostsTOML()), 0o644); err != nil {
			return fmt.Errorf("writing mirror config for %s: %w", host, err)
		}
	}
	return nil
}

// writeNodeConfigs writes node k's containerd, CNI and kubelet configs and
// its kubeconfig.
func writeNodeConfigs(l layout, k int, runc string) error {
	for _, d := range []string{"containerd", "cni", "kubelet", "pod-logs", "volume-plugins"} {
		if err := os.MkdirAll(l.node(k, d), 0o755); err != nil {
			return fmt.Errorf("creating node %d directories: %w", k, err)
		}
	}
	resolv, err := resolvConf(l)
	if err != nil {
		return err
	}
	files := map[string]string{
		l.node(k, "containerd.toml"):                 containerdConfig(l, k, runc),
		l.node(k, "cni", "10-localcluster.conflist"): cniConflist(l, k),
		l.node(k, "kubelet.yaml"):                    kubeletConfig(l, k, resolv),
	}
	for path, content := range files {
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			return fmt.Errorf("writing %s: %w", path, err)
		}
	}
	return writeKubeconfigFromPKI(l.node(k, "kubeconfig"), l.path("pki"), fmt.Sprintf("node%d", k), "system:node:"+nodeName(k))
}

// resolvConf is the resolv.conf kubelets are given: the machine's, or an
// empty one of ours where it has none (kubelet refuses a resolvConf that
// does not exist; an empty one just means "no DNS", the truth here anyway).
func resolvConf(l layout) (string, error) {
	resolv := "/etc/resolv.conf"
	if _, err := os.Stat(resolv); err == nil {
		return resolv, nil
	}
	resolv = l.path("resolv.conf")
	if err := os.WriteFile(resolv, nil, 0o644); err != nil {
		return "", fmt.Errorf("writing %s: %w", resolv, err)
	}
	return resolv, nil
}

// indent is used by status output and log dumps.
func indent(s, prefix string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i := range lines {
		lines[i] = prefix + lines[i]
	}
	return strings.Join(lines, "\n")
}
