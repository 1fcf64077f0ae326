package localcluster

import (
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
)

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(data)
	if b == nil || b.Type != "CERTIFICATE" {
		t.Fatalf("%s: not a PEM certificate", path)
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return c
}

func verify(t *testing.T, ca, c *x509.Certificate, usage x509.ExtKeyUsage) {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	if _, err := c.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
		t.Errorf("%s does not verify against the CA for %v: %v", c.Subject, usage, err)
	}
}

func TestWritePKI(t *testing.T) {
	dir := t.TempDir()
	if err := writePKI(dir, 3); err != nil {
		t.Fatal(err)
	}
	ca := readCert(t, filepath.Join(dir, "ca.crt"))
	if !ca.IsCA || ca.Subject.CommonName != "localcluster-ca" {
		t.Errorf("CA: IsCA=%v CN=%q", ca.IsCA, ca.Subject.CommonName)
	}

	api := readCert(t, filepath.Join(dir, "apiserver.crt"))
	verify(t, ca, api, x509.ExtKeyUsageServerAuth)
	for _, ip := range []string{"127.0.0.1", serviceClusterIP} {
		if !slices.ContainsFunc(api.IPAddresses, func(a net.IP) bool { return a.Equal(net.ParseIP(ip)) }) {
			t.Errorf("apiserver cert lacks IP SAN %s: %v", ip, api.IPAddresses)
		}
	}
	for _, name := range []string{"localhost", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"} {
		if err := api.VerifyHostname(name); err != nil {
			t.Errorf("apiserver cert: %v", err)
		}
	}

	clients := map[string][2]string{ // file: CN, O
		"admin":                    {"localcluster-admin", "system:masters"},
		"apiserver-kubelet-client": {"kube-apiserver-kubelet-client", "system:masters"},
		"kube-controller-manager":  {"system:kube-controller-manager", "system:masters"},
		"node1":                    {"system:node:127.0.0.1", "system:nodes"},
		"node3":                    {"system:node:127.0.0.3", "system:nodes"},
	}
	for file, want := range clients {
		c := readCert(t, filepath.Join(dir, file+".crt"))
		verify(t, ca, c, x509.ExtKeyUsageClientAuth)
		if c.Subject.CommonName != want[0] || !slices.Equal(c.Subject.Organization, []string{want[1]}) {
			t.Errorf("%s: subject %v, want CN=%s O=%s", file, c.Subject, want[0], want[1])
		}
	}

	// Each kubelet serves with its own cert for its own IP only.
	for k, ip := range []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"} {
		c := readCert(t, filepath.Join(dir, "node"+string(rune('1'+k))+"-serving.crt"))
		verify(t, ca, c, x509.ExtKeyUsageServerAuth)
		if err := c.VerifyHostname(ip); err != nil {
			t.Errorf("node %d serving cert: %v", k+1, err)
		}
		other := []string{"127.0.0.2", "127.0.0.3", "127.0.0.1"}[k]
		if err := c.VerifyHostname(other); err == nil {
			t.Errorf("node %d serving cert is also valid for %s", k+1, other)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "node4.crt")); err == nil {
		t.Error("node4.crt written for a 3-node cluster")
	}

	for _, f := range []string{"ca.key", "admin.key", "sa.key"} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, want 0600", f, fi.Mode().Perm())
		}
	}
	pub, _ := os.ReadFile(filepath.Join(dir, "sa.pub"))
	if b, _ := pem.Decode(pub); b == nil || b.Type != "PUBLIC KEY" {
		t.Errorf("sa.pub is not a PEM public key")
	}
}

func TestKubeconfigs(t *testing.T) {
	state := t.TempDir()
	l := layout{dir: t.TempDir(), state: state}
	if err := writePKI(l.path("pki"), 1); err != nil {
		t.Fatal(err)
	}
	if err := writeKubeconfigFromPKI(l.adminKubeconfig(), l.path("pki"), "admin", "localcluster-admin"); err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.LoadFromFile(l.adminKubeconfig())
	if err != nil {
		t.Fatal(err)
	}
	ctx := cfg.Contexts[cfg.CurrentContext]
	if ctx == nil || cfg.Clusters[ctx.Cluster].Server != "https://127.0.0.1:6443" || cfg.AuthInfos[ctx.AuthInfo] == nil {
		t.Fatalf("admin kubeconfig: %+v", cfg)
	}
	if fi, _ := os.Stat(l.adminKubeconfig()); fi.Mode().Perm() != 0o600 {
		t.Errorf("kubeconfig mode %v, want 0600", fi.Mode().Perm())
	}

	// Minted users get a cert with their name and groups, from the same CA.
	c := &Cluster{l: l, spec: clusterSpec{Nodes: 1}}
	path, err := c.MintKubeconfig("system:serviceaccount:x:y", "dev", "ops")
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(path) != l.path("users") {
		t.Errorf("minted kubeconfig at %s, want under %s", path, l.path("users"))
	}
	mc, err := clientcmd.LoadFromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ai := mc.AuthInfos[mc.Contexts[mc.CurrentContext].AuthInfo]
	b, _ := pem.Decode(ai.ClientCertificateData)
	cert, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if cert.Subject.CommonName != "system:serviceaccount:x:y" || !slices.Equal(cert.Subject.Organization, []string{"dev", "ops"}) {
		t.Errorf("minted subject %v", cert.Subject)
	}
	verify(t, readCert(t, l.pki("ca.crt")), cert, x509.ExtKeyUsageClientAuth)
	if _, err := c.MintKubeconfig(""); err == nil {
		t.Error("MintKubeconfig accepted an empty user")
	}
}
