// Package forward carries TCP connections from local ports to ports the node reaches:
// its loopback through the pods/portforward API on the host-network session pod, and any
// HOST:PORT the node can reach through a relay, busybox nc in the session's container
// over one exec stream per connection.
package forward

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	authorizationv1 "k8s.io/api/authorization/v1"
)

// Spec is one forwarded port: Local (0: any free port) to Port on Host, where Host ""
// means the node's loopback through pods/portforward.
type Spec struct {
	Local int
	Host  string
	Port  int
}

// Relayed says the connection goes through nc on the node rather than pods/portforward.
func (s Spec) Relayed() bool { return s.Host != "" }

// Remote is HOST:PORT as the node dials it, or the port alone for the node's loopback.
func (s Spec) Remote() string {
	if s.Host == "" {
		return strconv.Itoa(s.Port)
	}
	return net.JoinHostPort(s.Host, strconv.Itoa(s.Port))
}

// ParsePort reads kubectl port-forward's [LOCAL:]REMOTE; ":REMOTE" picks a free local port.
func ParsePort(arg string) (Spec, error) {
	local, remote, hasLocal := strings.Cut(arg, ":")
	if !hasLocal {
		remote = local
	}
	r, err := port(remote, false)
	if err != nil {
		return Spec{}, fmt.Errorf("%q: the remote port %v", arg, err)
	}
	l, err := port(local, true)
	if err != nil {
		return Spec{}, fmt.Errorf("%q: the local port %v", arg, err)
	}
	return Spec{Local: l, Port: r}, nil
}

// ParseTo reads --to's [LOCAL:]HOST:PORT, ssh -L's shape: LOCAL defaults to PORT, and an
// IPv6 HOST is written in brackets.
func ParseTo(arg string) (Spec, error) {
	local := ""
	hostport := arg
	if i := strings.IndexByte(arg, ':'); i > 0 && isDigits(arg[:i]) {
		if h, _, err := net.SplitHostPort(arg[i+1:]); err == nil && h != "" {
			local, hostport = arg[:i], arg[i+1:]
		}
	}
	host, p, err := net.SplitHostPort(hostport)
	if err != nil || host == "" {
		return Spec{}, fmt.Errorf("--to %q: want [LOCAL:]HOST:PORT, like 8443:10.0.0.1:443", arg)
	}
	r, err := port(p, false)
	if err != nil {
		return Spec{}, fmt.Errorf("--to %q: the port %v", arg, err)
	}
	if local == "" {
		local = p
	}
	l, err := port(local, true)
	if err != nil {
		return Spec{}, fmt.Errorf("--to %q: the local port %v", arg, err)
	}
	return Spec{Local: l, Host: host, Port: r}, nil
}

func port(s string, zeroOK bool) (int, error) {
	if s == "" && zeroOK {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > 65535 || (n == 0 && !zeroOK) {
		return 0, fmt.Errorf("%q is not a port number (1-65535)", s)
	}
	return n, nil
}

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

// PortForwardRequest is the action of forwarding to the node's loopback: pods/portforward.
// Like exec, the WebSocket tunnel is a GET ("get") and SPDY a POST ("create"); create is
// what every apiserver version needs.
type PortForwardRequest struct{}

// RequiredAccess implements session.Action.
func (PortForwardRequest) RequiredAccess(namespace string) []authorizationv1.ResourceAttributes {
	return []authorizationv1.ResourceAttributes{{Namespace: namespace, Verb: "create", Resource: "pods", Subresource: "portforward"}}
}
