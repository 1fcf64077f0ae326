package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"k8s.io/kubectl/pkg/util/templates"
	"k8s.io/streaming/pkg/httpstream"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/forward"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/session"
)

var (
	portForwardLong = templates.LongDesc(`
		Forward local ports to ports on a node, like kubectl port-forward and ssh -L.

		[LOCAL:]REMOTE forwards to REMOTE on the node's loopback (127.0.0.1), through the
		pods/portforward API on the session's host-network pod. --to [LOCAL:]HOST:PORT
		forwards to any address the node can reach (another machine on its network, an
		address only routed from it), through busybox nc in the session's container, one
		exec stream per connection. A LOCAL port left out is the remote one; :REMOTE picks a
		free local port.

		The session pod lives while node-shell runs; Ctrl-C closes the listeners and deletes
		it.`)

	portForwardExample = templates.Examples(`
		# The kubelet's healthz, on the node's loopback
		%[1]s port-forward NODE 10248

		# etcd's metrics on a control-plane node on local port 12381, and a random local port for pprof
		%[1]s port-forward NODE 12381:2381 :6060

		# A service only routable from the node, ssh -L style
		%[1]s port-forward NODE --to 8443:10.96.0.1:443`)
)

// PortForwardOptions are the flags and resolved state of `kubectl node-shell port-forward`.
type PortForwardOptions struct {
	*NodeShellOptions
	Ports     []string
	To        []string
	Addresses []string

	specs []forward.Spec
}

// NewCmdPortForward returns `kubectl node-shell port-forward`.
func NewCmdPortForward(streams genericiooptions.IOStreams) *cobra.Command {
	o := &PortForwardOptions{NodeShellOptions: NewNodeShellOptions(streams), Addresses: []string{"localhost"}}
	cmd := &cobra.Command{
		Use:                   "port-forward [flags] NODE [LOCAL:]REMOTE... [--to [LOCAL:]HOST:PORT]...",
		DisableFlagsInUseLine: true,
		Short:                 "Forward local ports to the node's loopback or to addresses the node reaches",
		Long:                  portForwardLong,
		Example:               templatesName(portForwardExample),
		SilenceUsage:          true,
		SilenceErrors:         true,
		RunE:                  completeValidateRun(o),
	}
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError(c, "%v", err) })
	o.addPodFlags(cmd)
	cmd.Flags().StringArrayVar(&o.To, "to", nil, "Forward [LOCAL:]HOST:PORT to HOST:PORT as the node reaches it (repeatable)")
	cmd.Flags().StringSliceVar(&o.Addresses, "address", o.Addresses, "Local addresses to listen on (comma-separated); localhost means 127.0.0.1 and ::1")
	return cmd
}

// Complete takes the node and the ports from args and resolves the session's clients.
func (o *PortForwardOptions) Complete(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return usageError(cmd, "a node name is required: kubectl node-shell port-forward NODE [LOCAL:]REMOTE...")
	}
	o.Ports = args[1:]
	return o.completeContainerSession(cmd, args[0])
}

// Validate parses the ports; nothing is created on a bad one.
func (o *PortForwardOptions) Validate() error {
	if err := o.NodeShellOptions.Validate(); err != nil {
		return err
	}
	if len(o.Ports) == 0 && len(o.To) == 0 {
		return usageError(nil, "name at least one port to forward: kubectl node-shell port-forward %s [LOCAL:]REMOTE or --to [LOCAL:]HOST:PORT", o.Node)
	}
	o.specs = nil
	for _, p := range o.Ports {
		s, err := forward.ParsePort(p)
		if err != nil {
			return usageError(nil, "%v", err)
		}
		o.specs = append(o.specs, s)
	}
	for _, t := range o.To {
		s, err := forward.ParseTo(t)
		if err != nil {
			return usageError(nil, "%v", err)
		}
		o.specs = append(o.specs, s)
	}
	if len(o.Addresses) == 0 {
		return usageError(nil, "--address needs at least one address")
	}
	return nil
}

// actions are what the forwards need: pods/portforward for the loopback, exec for relays.
func (o *PortForwardOptions) actions() []session.Action {
	var actions []session.Action
	var loopback, relayed bool
	for _, s := range o.specs {
		loopback = loopback || !s.Relayed()
		relayed = relayed || s.Relayed()
	}
	if loopback {
		actions = append(actions, forward.PortForwardRequest{})
	}
	if relayed {
		actions = append(actions, session.ExecRequest{})
	}
	return actions
}

// Run starts the session and forwards until a signal, then closes the listeners and
// deletes the pod.
func (o *PortForwardOptions) Run(ctx context.Context) error {
	// A panic in a goroutine of the session's ends the session through ctx, so cleanup runs.
	ctx, endSession := context.WithCancelCause(ctx)
	defer endSession(nil)
	reporter := newReporter(o.ErrOut, o.Quiet, o.Verbosity, endSession)
	defer reporter.Done()
	h, err := o.startContainerSession(ctx, reporter, append([]string{"port-forward"}, append(o.Ports, prefixAll("--to=", o.To)...)...), o.actions()...)
	if err != nil {
		return reporter.Explain(err)
	}
	defer h.Close()
	reporter.Progress("")

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	defer wg.Wait()
	if err := o.forwardLoopback(ctx, cancel, &wg, h); err != nil {
		return reporter.Explain(err)
	}
	exec := func(ctx context.Context, argv []string, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
		return h.Exec(ctx, session.ExecRequest{Command: argv, Terminal: session.Streams{In: stdin, Out: stdout, ErrOut: stderr}.Terminal()})
	}
	for _, s := range o.specs {
		if !s.Relayed() {
			continue
		}
		lns, err := forward.Listen(o.Addresses, s.Local)
		if err != nil {
			cancel(err)
			return err
		}
		for _, ln := range lns {
			fmt.Fprintf(o.Out, "Forwarding from %s -> %s (through node %s)\n", ln.Addr(), s.Remote(), o.Node)
			wg.Go(func() { forward.Relay(ctx, ln, s, exec, reporter.Warning) })
		}
	}
	<-ctx.Done()
	cancel(nil)
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return reporter.Explain(err)
	}
	return nil
}

// forwardLoopback starts client-go's port forwarder (kubectl port-forward's, WebSocket
// tunnel first, SPDY when that cannot upgrade) for the loopback ports and waits until it
// listens. When it ends on its own (the pod or the apiserver went away), ctx is cancelled
// with its error.
func (o *PortForwardOptions) forwardLoopback(ctx context.Context, cancel context.CancelCauseFunc, wg *sync.WaitGroup, h *session.Handle) error {
	var ports []string
	for _, s := range o.specs {
		if !s.Relayed() {
			ports = append(ports, strconv.Itoa(s.Local)+":"+strconv.Itoa(s.Port))
		}
	}
	if len(ports) == 0 {
		return nil
	}
	url := o.client.CoreV1().RESTClient().Post().Resource("pods").Namespace(h.Pod().Namespace).Name(h.Pod().Name).SubResource("portforward").URL()
	transport, upgrader, err := spdy.RoundTripperFor(o.restConfig)
	if err != nil {
		return err
	}
	// As kubectl port-forward does: SPDY tunnelled over WebSocket first, plain SPDY when the
	// upgrade is refused, and SPDY only when $KUBECTL_PORT_FORWARD_WEBSOCKETS=false.
	dialer := spdy.NewDialerForStreaming(upgrader, &http.Client{Transport: transport}, http.MethodPost, url)
	if !cmdutil.PortForwardWebsockets.IsDisabled() {
		tunnel, err := portforward.NewSPDYOverWebsocketDialerForStreaming(url, o.restConfig)
		if err != nil {
			return err
		}
		dialer = portforward.NewFallbackDialerForStreaming(tunnel, dialer, func(err error) bool {
			return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
		})
	}
	stop, ready := make(chan struct{}), make(chan struct{})
	fw, err := portforward.NewOnAddressesForStreaming(dialer, o.Addresses, ports, stop, ready, o.Out, o.ErrOut)
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	wg.Go(func() {
		err := fw.ForwardPorts()
		if err == nil {
			err = fmt.Errorf("port forwarding to pod %s/%s ended", h.Pod().Namespace, h.Pod().Name)
		}
		done <- err
		cancel(err)
	})
	context.AfterFunc(ctx, func() { close(stop) })
	select {
	case <-ready:
		return nil
	case err := <-done:
		return err
	}
}

func prefixAll(prefix string, list []string) []string {
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = prefix + s
	}
	return out
}
