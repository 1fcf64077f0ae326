// Package stream runs a command in a pod through the pods/exec subresource and carries
// stdin, stdout, stderr, the TTY and its resizes. It knows nothing of pod lifecycles.
package stream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/client-go/transport/spdy"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"k8s.io/streaming/pkg/httpstream"
)

// Request is one exec: where, what, and the streams to carry.
type Request struct {
	Namespace string
	Pod       string
	Container string
	Command   []string
	// Stdin is nil when no input is sent; the command then sees no stdin stream.
	Stdin  io.Reader
	Stdout io.Writer
	// Stderr is ignored when TTY is set: a terminal carries both on one stream.
	Stderr io.Writer
	TTY    bool
	// Resize delivers terminal size changes; nil when there is no terminal.
	Resize remotecommand.TerminalSizeQueue
}

// Executor runs a Request to completion. It exists so that tests can stand in for the
// apiserver; the error of a command that exited non-zero carries its status (see ExitCode).
type Executor interface {
	Exec(ctx context.Context, req Request) error
}

// RemoteExecutor execs through the apiserver with the executors kubectl exec uses, SPDY
// first (see newExecutor), WebSocket when the server or a proxy refuses the SPDY upgrade.
type RemoteExecutor struct {
	Config *rest.Config
	// Client is a REST client for the core/v1 group (clientset.CoreV1().RESTClient()).
	Client rest.Interface
}

// Exec implements Executor.
func (e *RemoteExecutor) Exec(ctx context.Context, req Request) error {
	execReq := e.Client.Post().
		Resource("pods").Namespace(req.Namespace).Name(req.Pod).
		SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{
			Container: req.Container,
			Command:   req.Command,
			Stdin:     req.Stdin != nil,
			Stdout:    req.Stdout != nil,
			Stderr:    req.Stderr != nil && !req.TTY,
			TTY:       req.TTY,
		}, scheme.ParameterCodec)
	exec, err := newExecutor(e.Config, execReq.URL())
	if err != nil {
		return fmt.Errorf("set up exec stream: %w", err)
	}
	opts := remotecommand.StreamOptions{
		Stdin:             req.Stdin,
		Stdout:            req.Stdout,
		Tty:               req.TTY,
		TerminalSizeQueue: req.Resize,
	}
	if !req.TTY {
		opts.Stderr = req.Stderr
	}
	return exec.StreamWithContext(ctx, opts)
}

// newExecutor returns a SPDY executor that falls back to WebSocket when the SPDY upgrade
// is refused (a proxy that only passes WebSockets), and SPDY alone when
// $KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false, kubectl's escape hatch. kubectl tries WebSocket
// first; node-shell does not, for two reasons (docs/benchmarks.md): a WebSocket stream is
// translated to SPDY on its way to the container runtime, which costs CPU and so
// throughput, and only over SPDY can a stream cut short be told from success: the
// apiserver's translator reports success for an upstream that ended without a status
// (kubernetes/kubernetes#124571), while here statusRequired checks the v4 status frame.
func newExecutor(config *rest.Config, url *url.URL) (remotecommand.Executor, error) {
	transport, upgrader, err := spdy.RoundTripperFor(config)
	if err != nil {
		return nil, err
	}
	spdyExec, err := remotecommand.NewSPDYExecutorForTransports(transport, statusRequired{upgrader}, "POST", url)
	if err != nil {
		return nil, err
	}
	if cmdutil.RemoteCommandWebsockets.IsDisabled() {
		return spdyFirst{spdy: spdyExec}, nil
	}
	// WebSocket requires GET (RFC 6455 §4.1).
	ws, err := remotecommand.NewWebSocketExecutor(config, "GET", url.String())
	if err != nil {
		return nil, err
	}
	return spdyFirst{spdy: spdyExec, ws: ws}, nil
}

// spdyFirst streams over SPDY and, when the SPDY upgrade is refused, over WebSocket (ws
// nil: SPDY only). When both are refused the SPDY refusal is returned as the apiserver
// wrote it: it is what the diagnoses read, the same for every cause (access, the kubelet's
// hop), while a WebSocket refusal's wording depends on the proxy in between.
type spdyFirst struct{ spdy, ws remotecommand.Executor }

func (e spdyFirst) Stream(options remotecommand.StreamOptions) error {
	return e.StreamWithContext(context.Background(), options)
}

func (e spdyFirst) StreamWithContext(ctx context.Context, options remotecommand.StreamOptions) error {
	err := e.spdy.StreamWithContext(ctx, options)
	var refused *httpstream.UpgradeFailureError
	if !errors.As(err, &refused) {
		return err
	}
	if e.ws == nil {
		return refused.Cause
	}
	if wsErr := e.ws.StreamWithContext(ctx, options); !httpstream.IsUpgradeFailure(wsErr) && !httpstream.IsHTTPSProxyError(wsErr) {
		return wsErr
	}
	return refused.Cause
}
