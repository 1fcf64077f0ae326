package localcluster

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

func testLayout() layout {
	return newLayout("/home/someone/a/rather/long/checkout/path/kubectl-node-shell/.cluster")
}

func TestLayout(t *testing.T) {
	l := testLayout()
	if !strings.HasPrefix(l.state, stateRoot+"/") || len(l.state) > maxStateDirLen {
		t.Errorf("state dir %q: want a short dir under %s", l.state, stateRoot)
	}
	if newLayout(l.dir).state != l.state || newLayout(l.dir+"2").state == l.state {
		t.Error("state dir is not a function of the requested dir")
	}
	// The deepest unix sockets of the last node must fit in sun_path (108
	// bytes including the NUL).
	for _, sock := range []string{
		l.node(MaxNodes, "kubelet", "pod-resources", "kubelet.sock"),
		l.node(MaxNodes, "containerd.sock.ttrpc"),
	} {
		if len(sock) > 107 {
			t.Errorf("socket path too long (%d): %s", len(sock), sock)
		}
	}
	for _, name := range []string{"127.0.0.1", "127.0.0.42"} {
		k, err := nodeIndex(name)
		if err != nil || nodeName(k) != name {
			t.Errorf("nodeIndex(%q) = %d, %v", name, k, err)
		}
	}
	for _, bad := range []string{"127.0.0.0", "10.0.0.1", "127.0.0.x", "node1"} {
		if _, err := nodeIndex(bad); err == nil {
			t.Errorf("nodeIndex(%q) accepted", bad)
		}
	}
}

func TestContainerdConfig(t *testing.T) {
	l := testLayout()
	cfg := containerdConfig(l, 2, "/usr/sbin/runc")
	nd := l.nodeDir(2)
	for _, want := range []string{
		"version = 2",
		`root = "` + nd + `/containerd/root"`,
		`state = "` + nd + `/containerd/state"`,
		`address = "` + nd + `/containerd.sock"`,
		`path = "` + nd + `/containerd/opt"`,
		"restrict_oom_score_adj = true",
		"netns_mounts_under_state_dir = true",
		`sandbox_image = "registry.k8s.io/pause:3.10.1"`,
		`BinaryName = "/usr/sbin/runc"`,
		`Root = "` + nd + `/runc"`,
		"SystemdCgroup = false",
		`bin_dir = "/usr/lib/cni"`,
		`conf_dir = "` + nd + `/cni"`,
		`config_path = "` + l.certsDir() + `"`,
	} {
		if !strings.Contains(cfg, want) {
			t.Errorf("containerd.toml lacks %q", want)
		}
	}
	// Nothing may point at the system's containerd paths.
	for _, bad := range []string{"/var/lib/containerd", "/run/containerd", "/opt/containerd"} {
		if strings.Contains(cfg, bad) {
			t.Errorf("containerd.toml mentions %s", bad)
		}
	}
	if h := hostsTOML(); !strings.Contains(h, `server = "http://127.0.0.1:5000"`) || !strings.Contains(h, `capabilities = ["pull", "resolve"]`) {
		t.Errorf("hosts.toml:\n%s", h)
	}
}

func TestCNIConflist(t *testing.T) {
	l := testLayout()
	var conf struct {
		Plugins []struct {
			Type, Bridge string
			IsGateway    bool
			IPMasq       bool
			IPAM         struct {
				Type, DataDir string
				Ranges        [][]map[string]string
			}
		}
	}
	if err := json.Unmarshal([]byte(cniConflist(l, 3)), &conf); err != nil {
		t.Fatalf("conflist is not JSON: %v", err)
	}
	p := conf.Plugins[0]
	r := p.IPAM.Ranges[0][0]
	if p.Type != "bridge" || p.Bridge != podBridge || p.IsGateway || p.IPMasq || p.IPAM.Type != "host-local" ||
		p.IPAM.DataDir != l.node(3, "cni-ipam") || r["subnet"] != "198.18.0.0/16" ||
		r["rangeStart"] != "198.18.3.2" || r["rangeEnd"] != "198.18.3.254" {
		t.Errorf("conflist: %+v", conf)
	}
}

func TestKubeletConfig(t *testing.T) {
	l := testLayout()
	var cfg map[string]any
	if err := yaml.Unmarshal([]byte(kubeletConfig(l, 2, "/etc/resolv.conf")), &cfg); err != nil {
		t.Fatalf("kubelet.yaml is not YAML: %v", err)
	}
	want := map[string]any{
		"kind":                     "KubeletConfiguration",
		"address":                  "127.0.0.2",
		"healthzBindAddress":       "127.0.0.2",
		"port":                     float64(10250),
		"readOnlyPort":             float64(0),
		"tlsCertFile":              l.pki("node2-serving.crt"),
		"tlsPrivateKeyFile":        l.pki("node2-serving.key"),
		"containerRuntimeEndpoint": "unix://" + l.node(2, "containerd.sock"),
		"cgroupDriver":             "cgroupfs",
		"cgroupRoot":               "/localcluster/node2",
		"failCgroupV1":             false,
		"failSwapOn":               false,
		"podLogsDir":               l.node(2, "pod-logs"),
		"volumePluginDir":          l.node(2, "volume-plugins"),
		"resolvConf":               "/etc/resolv.conf",
		"makeIPTablesUtilChains":   false,
	}
	for k, v := range want {
		if cfg[k] != v {
			t.Errorf("kubelet.yaml %s = %v, want %v", k, cfg[k], v)
		}
	}
	auth := fmt.Sprint(cfg["authentication"])
	if !strings.Contains(auth, "anonymous:map[enabled:false]") || !strings.Contains(auth, l.pki("ca.crt")) {
		t.Errorf("authentication: %s", auth)
	}
	if ev := cfg["evictionHard"].(map[string]any); ev["nodefs.available"] != "1%" || ev["memory.available"] != "1Mi" {
		t.Errorf("evictionHard: %v", ev)
	}
}

func TestDaemonArgs(t *testing.T) {
	l := testLayout()
	b := binariesIn("/cache", "v1.34.4")
	api := apiServerArgs(l, b)
	for _, want := range []string{
		"--authorization-mode=Node,RBAC", "--enable-admission-plugins=NodeRestriction", "--allow-privileged=true",
		"--audit-log-path=" + l.auditLog(), "--audit-policy-file=" + l.auditPolicy(),
		"--kubelet-certificate-authority=" + l.pki("ca.crt"), "--service-cluster-ip-range=127.96.0.0/16",
		"--endpoint-reconciler-type=none", "--kubelet-preferred-address-types=InternalIP,Hostname",
	} {
		if !slices.Contains(api, want) {
			t.Errorf("kube-apiserver lacks %s", want)
		}
	}
	if api[0] != "/cache/bin/kubernetes-v1.34.4/kube-apiserver" {
		t.Errorf("apiserver binary %s", api[0])
	}
	for _, a := range api {
		if strings.HasPrefix(a, "--admission-control-config-file") || strings.Contains(a, "PodSecurity") {
			t.Errorf("Pod Security Admission must stay at its default: %s", a)
		}
	}
	kcm := kcmArgs(l, b)
	for _, want := range []string{"--use-service-account-credentials=false", "--leader-elect=false", "--root-ca-file=" + l.pki("ca.crt")} {
		if !slices.Contains(kcm, want) {
			t.Errorf("kube-controller-manager lacks %s", want)
		}
	}
	kl := kubeletArgs(l, b, 3)
	for _, want := range []string{"--hostname-override=127.0.0.3", "--cert-dir=" + l.node(3, "kubelet", "pki"), "--root-dir=" + l.node(3, "kubelet")} {
		if !slices.Contains(kl, want) {
			t.Errorf("kubelet lacks %s", want)
		}
	}
	// Every daemon's command line mentions the state dir: that is how Down
	// recognizes its processes.
	for name, argv := range map[string][]string{
		"etcd": etcdArgs(l, b), "apiserver": api, "kcm": kcm, "kubelet": kl,
		"containerd": containerdArgs(l, "/usr/bin/containerd", 1), "registry": registryArgs(l, "/x/localcluster"),
	} {
		if !strings.Contains(strings.Join(argv, " "), l.state+"/") {
			t.Errorf("%s command line does not mention %s/", name, l.state)
		}
		if !ourExes[filepath.Base(argv[0])] && name != "registry" {
			t.Errorf("%s runs %s, which Down would not recognize", name, argv[0])
		}
	}
}

func TestKubernetesGoMod(t *testing.T) {
	upstream := []byte(`module k8s.io/kubernetes

go 1.24.0

require (
	k8s.io/api v0.0.0
)

replace (
	k8s.io/api => ./staging/src/k8s.io/api
	k8s.io/apimachinery => ./staging/src/k8s.io/apimachinery
	k8s.io/sample-controller => ./staging/src/k8s.io/sample-controller
)
`)
	got, err := kubernetesGoMod(upstream, "v1.34.4")
	if err != nil {
		t.Fatal(err)
	}
	want := "module localbuild\n\ngo 1.24.0\n\nrequire k8s.io/kubernetes v1.34.4\n\nreplace (\n" +
		"\tk8s.io/api => k8s.io/api v0.34.4\n\tk8s.io/apimachinery => k8s.io/apimachinery v0.34.4\n" +
		"\tk8s.io/sample-controller => k8s.io/sample-controller v0.34.4\n)\n"
	if got != want {
		t.Errorf("go.mod:\n%s\nwant:\n%s", got, want)
	}
	if _, err := kubernetesGoMod([]byte("module x\n"), "v1.34.4"); err == nil {
		t.Error("no error for a go.mod without staging replaces")
	}
	ld := kubernetesLDFlags("v1.34.4")
	for _, want := range []string{"-s -w", "version.gitVersion=v1.34.4", "version.gitMajor=1 ", "version.gitMinor=34 ", "gitTreeState=clean"} {
		if !strings.Contains(ld, want) {
			t.Errorf("ldflags %q lack %q", ld, want)
		}
	}
	if !strings.Contains(etcdGoMod(), "require go.etcd.io/etcd/server/v3 v3.6.16") ||
		!strings.Contains(etcdGoMod(), "\tgo.etcd.io/etcd/client/v3 => go.etcd.io/etcd/client/v3 v3.6.16\n") {
		t.Errorf("etcd go.mod:\n%s", etcdGoMod())
	}
}

func TestBuiltIsCached(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "x")
	if built(f) {
		t.Error("missing file counts as built")
	}
	os.WriteFile(f, nil, 0o755)
	if built(f) {
		t.Error("empty file counts as built")
	}
	os.WriteFile(f, []byte("x"), 0o755)
	if !built(f) {
		t.Error("file does not count as built")
	}
}

func TestUnescapeMount(t *testing.T) {
	for in, want := range map[string]string{`/a\040b`: "/a b", `/plain`: "/plain", `/t\011x\134`: "/t\tx\\", `/end\04`: `/end\04`} {
		if got := unescapeMount(in); got != want {
			t.Errorf("unescapeMount(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestKubernetesVersion(t *testing.T) {
	t.Setenv(KubernetesVersionEnv, "")
	for in, want := range map[string]string{
		"": DefaultKubernetesVersion, "v1.30.14": "v1.30.14", "1.37.2": "v1.37.2", "v1.41.0": "v1.41.0",
	} {
		if got, err := KubernetesVersion(in); err != nil || got != want {
			t.Errorf("KubernetesVersion(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"v1.29.9", "v1.37", "v1.37.2-rc.0", "latest", "v2.0.0", "../v1.34.4"} {
		if got, err := KubernetesVersion(bad); err == nil {
			t.Errorf("KubernetesVersion(%q) = %q, want an error", bad, got)
		}
	}
	t.Setenv(KubernetesVersionEnv, "v1.30.14")
	if got, _ := KubernetesVersion(""); got != "v1.30.14" {
		t.Errorf("with $%s=v1.30.14: %q", KubernetesVersionEnv, got)
	}
	if got, _ := KubernetesVersion("v1.37.2"); got != "v1.37.2" {
		t.Errorf("an explicit version must beat the environment: %q", got)
	}
}
