// Package localcluster starts a real multi-node Kubernetes cluster on the
// local Linux machine, for the end-to-end tests of kubectl node-shell and for
// people who want to try the plugin without a cloud account.
//
// The cluster is made of real components built from source: etcd,
// kube-apiserver, kube-controller-manager and, for each node, a kubelet with
// its own containerd and runc. Node K is named 127.0.0.K and listens on that
// loopback address, so N nodes share one machine without containers or VMs.
// There is no scheduler (pods set spec.nodeName), no kube-proxy and no DNS.
// Images come from an in-process registry on 127.0.0.1:5000 that every node's
// containerd uses as a mirror for docker.io, registry.k8s.io and the other
// well-known registries, so pods use real image names and nothing is pulled
// from the internet.
//
// Everything needs root. Build installs missing Debian packages and builds
// the binaries from the Go module proxy into a cache; Up starts a cluster and
// returns once every node is Ready; Down stops it and puts the machine back
// as it was. RunTests wraps a test package's TestMain around a shared
// cluster.
//
// Runtime state (sockets, data, logs) lives in a short directory under
// /var/lib/kubectl-node-shell, because unix socket paths must fit in 107
// bytes and the directory a caller asks for (for example ".cluster" in a
// deeply nested checkout) may be long. The requested directory gets the
// admin kubeconfig, a pointer file and a "state" symlink to the runtime
// directory.
package localcluster
