// Package e2e drives the built kubectl-node_shell binary against a real local cluster
// (kube-apiserver, kubelets, containerd on this machine). One cluster serves the package.
package e2e

import (
	"os"
	"testing"

	"github.com/kubectl-node-shell/kubectl-node-shell/integration/localcluster"
)

// e2eNodes is the cluster size: enough to run on more than one node and to break one.
const e2eNodes = 3

func TestMain(m *testing.M) {
	os.Exit(localcluster.RunTests(m, localcluster.Options{Nodes: e2eNodes}))
}
