package sshkeys

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"

	"k8s.io/client-go/rest"
)

// nodeUserPrefix starts the user name of every kubelet under Node authorization.
const nodeUserPrefix = "system:node:"

// NodeName is the node whose credential cfg holds: the CN system:node:NAME of its client
// certificate. It comes from the credential and never from the command line, so whatever
// sshd or a login name says, the binary asks only for the Node that the kubelet (and
// NodeRestriction) ties this machine to.
func NodeName(cfg *rest.Config) (string, error) {
	data := cfg.TLSClientConfig.CertData
	if len(data) == 0 && cfg.TLSClientConfig.CertFile != "" {
		var err error
		if data, err = os.ReadFile(cfg.TLSClientConfig.CertFile); err != nil {
			return "", fmt.Errorf("reading the kubelet's client certificate: %w", err)
		}
	}
	if len(data) == 0 {
		return "", errors.New("the kubeconfig has no client certificate, so the node name cannot be told (node-shell-authorized-keys needs the kubelet's certificate credential)")
	}
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return "", errors.New("the kubelet's client certificate file holds no certificate")
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return "", fmt.Errorf("parsing the kubelet's client certificate: %w", err)
		}
		name, ok := strings.CutPrefix(cert.Subject.CommonName, nodeUserPrefix)
		if !ok || name == "" {
			return "", fmt.Errorf("the client certificate is for %q, not a node (system:node:NAME)", cert.Subject.CommonName)
		}
		return name, nil
	}
}
