package localcluster

import (
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// apiServerURL is what every kubeconfig points at.
var apiServerURL = fmt.Sprintf("https://127.0.0.1:%d", apiServerPort)

// kubeconfigFor returns a kubeconfig with one cluster, one user and one
// context, all named so that `kubectl config view` reads well. Certificates
// are embedded, so the file works wherever it is copied.
func kubeconfigFor(user string, caPEM, certPEM, keyPEM []byte) ([]byte, error) {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["localcluster"] = &clientcmdapi.Cluster{Server: apiServerURL, CertificateAuthorityData: caPEM}
	cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{ClientCertificateData: certPEM, ClientKeyData: keyPEM}
	cfg.Contexts["localcluster"] = &clientcmdapi.Context{Cluster: "localcluster", AuthInfo: user}
	cfg.CurrentContext = "localcluster"
	data, err := clientcmd.Write(*cfg)
	if err != nil {
		return nil, fmt.Errorf("encoding kubeconfig for %s: %w", user, err)
	}
	return data, nil
}

// writeKubeconfigFromPKI writes a kubeconfig for the certificate pkiName
// (pki/NAME.crt, pki/NAME.key) to path, mode 0600 (it holds a key).
func writeKubeconfigFromPKI(path, pkiDir, pkiName, user string) error {
	read := func(name string) ([]byte, error) {
		data, err := os.ReadFile(filepath.Join(pkiDir, name))
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", name, err)
		}
		return data, nil
	}
	ca, err := read("ca.crt")
	if err != nil {
		return err
	}
	cert, err := read(pkiName + ".crt")
	if err != nil {
		return err
	}
	key, err := read(pkiName + ".key")
	if err != nil {
		return err
	}
	data, err := kubeconfigFor(user, ca, cert, key)
	if err != nil {
		return err
	}
	return writeFileAtomic(path, data, 0o600)
}

// writeFileAtomic writes data to a temporary file next to path and renames
// it, so a reader never sees half a file.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", filepath.Dir(path), err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Chmod(tmp, mode); err != nil {
		return fmt.Errorf("chmod %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("renaming %s: %w", tmp, err)
	}
	return nil
}
