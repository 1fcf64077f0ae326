package localcluster

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// certificateAuthority signs every certificate of a cluster: serving certs
// (apiserver, kubelets) and client certs (admin, controller manager, nodes,
// minted users). One CA is enough for a throwaway cluster.
type certificateAuthority struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// certSpec describes one certificate to issue.
type certSpec struct {
	name   string // file name without extension
	cn     string
	orgs   []string
	server bool // serverAuth, else clientAuth
	ips    []net.IP
	dns    []string
}

// clusterCerts lists the certificates of a cluster with n nodes. The
// subjects are what the apiserver's authorizers look at:
//   - kubelets are system:node:127.0.0.K in group system:nodes, so the Node
//     authorizer and NodeRestriction treat them as real kubelets;
//   - the apiserver's client cert for kubelets and the controller manager
//     are in system:masters: the former passes the kubelets' webhook
//     authorization, the latter runs every controller with one identity
//     (no per-controller service accounts: minting ~30 of those at start
//     costs ~4 s);
//   - each kubelet has its own serving cert signed by the CA. Left to itself
//     kubelet self-signs into --cert-dir, whose default is
//     /var/lib/kubelet/pki whatever --root-dir says, and N kubelets race on
//     that one file.
func clusterCerts(nodes int) []certSpec {
	specs := []certSpec{
		{
			name: "apiserver", cn: "kube-apiserver", server: true,
			ips: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP(serviceClusterIP)},
			dns: []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
		},
		{name: "apiserver-kubelet-client", cn: "kube-apiserver-kubelet-client", orgs: []string{"system:masters"}},
		{name: "admin", cn: "localcluster-admin", orgs: []string{"system:masters"}},
		{name: "kube-controller-manager", cn: "system:kube-controller-manager", orgs: []string{"system:masters"}},
	}
	for k := 1; k <= nodes; k++ {
		specs = append(specs,
			certSpec{name: fmt.Sprintf("node%d", k), cn: "system:node:" + nodeName(k), orgs: []string{"system:nodes"}},
			certSpec{name: fmt.Sprintf("node%d-serving", k), cn: nodeName(k), server: true, ips: []net.IP{net.ParseIP(nodeName(k))}},
		)
	}
	return specs
}

func newCA() (*certificateAuthority, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating CA key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "localcluster-ca"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("self-signing CA: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parsing CA: %w", err)
	}
	return &certificateAuthority{cert: cert, key: key}, nil
}

// issue returns a new key and a certificate for it signed by the CA, both
// PEM encoded.
func (ca *certificateAuthority) issue(spec certSpec) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generating key for %s: %w", spec.name, err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, nil, err
	}
	usage := x509.ExtKeyUsageClientAuth
	if spec.server {
		usage = x509.ExtKeyUsageServerAuth
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: spec.cn, Organization: spec.orgs},
		NotBefore:             now.Add(-time.Hour), // tolerate a little clock skew
		NotAfter:              now.AddDate(1, 0, 0),
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:           []x509.ExtKeyUsage{usage},
		IPAddresses:           spec.ips,
		DNSNames:              spec.dns,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return nil, nil, fmt.Errorf("signing %s: %w", spec.name, err)
	}
	keyPEM, err = encodeKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), keyPEM, nil
}

func (ca *certificateAuthority) certPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw})
}

func randomSerial() (*big.Int, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("generating serial number: %w", err)
	}
	return serial, nil
}

func encodeKey(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encoding key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), nil
}

// writePKI generates the CA, every certificate of clusterCerts and the
// service-account signing key (sa.key, sa.pub) into dir.
func writePKI(dir string, nodes int) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	ca, err := newCA()
	if err != nil {
		return err
	}
	caKey, err := encodeKey(ca.key)
	if err != nil {
		return err
	}
	files := map[string][]byte{"ca.crt": ca.certPEM(), "ca.key": caKey}
	for _, spec := range clusterCerts(nodes) {
		c, k, err := ca.issue(spec)
		if err != nil {
			return err
		}
		files[spec.name+".crt"], files[spec.name+".key"] = c, k
	}
	// Service-account tokens: the apiserver signs them with sa.key and
	// verifies them with sa.pub; the controller manager signs legacy ones.
	saKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("generating service-account key: %w", err)
	}
	if files["sa.key"], err = encodeKey(saKey); err != nil {
		return err
	}
	pub, err := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	if err != nil {
		return fmt.Errorf("encoding service-account public key: %w", err)
	}
	files["sa.pub"] = pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub})
	for name, data := range files {
		mode := os.FileMode(0o644)
		if filepath.Ext(name) == ".key" {
			mode = 0o600
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, mode); err != nil {
			return fmt.Errorf("writing %s: %w", name, err)
		}
	}
	return nil
}

// loadCA reads the CA written by writePKI, to mint more certificates.
func loadCA(dir string) (*certificateAuthority, error) {
	certPEM, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
	if err != nil {
		return nil, fmt.Errorf("reading CA: %w", err)
	}
	keyPEM, err := os.ReadFile(filepath.Join(dir, "ca.key"))
	if err != nil {
		return nil, fmt.Errorf("reading CA key: %w", err)
	}
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return nil, errors.New("CA files in " + dir + " are not PEM")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parsing CA: %w", err)
	}
	key, err := x509.ParseECPrivateKey(kb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parsing CA key: %w", err)
	}
	return &certificateAuthority{cert: cert, key: key}, nil
}
