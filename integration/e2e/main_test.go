// Package e2e drives the built kubectl-node_shell binary against a real local cluster
// (kube-apiserver, kubelets, containerd on this machine). One cluster serves the package.
package e2e

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/kubectl-node-shell/kubectl-node-shell/integration/localcluster"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/sessionlog"
)

// e2eNodes is the cluster size: enough to run on more than one node and to break one.
const e2eNodes = 3

func TestMain(m *testing.M) {
	code := localcluster.RunTests(m, localcluster.Options{Nodes: e2eNodes})
	// The nodes are this machine, so every session's record (pkg/sessionlog) is in its own
	// /var/log: the run's, removed with its cluster.
	_ = os.RemoveAll(filepath.Dir(sessionlog.Dir))
	os.Exit(code)
}
