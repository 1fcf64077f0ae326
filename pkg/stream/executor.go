// Package stream runs a command in a pod through the pods/exec subresource and carries
// stdin, stdout, stderr, the TTY and its resizes. It knows nothing of pod lifecycles.
package stream

import (
	"context"
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

// RemoteExecutor execs through the apiserver the way kubectl exec does: WebSocket first,
// SPDY when the server or a proxy cannot upgrade to WebSocket.
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

// newExecutor returns a WebSocket executor that falls back to SPDY, as kubectl's own
// createExecutor does: on an upgrade failure or an HTTPS proxy that cannot tunnel, and
// SPDY alone when $KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false. It is not kubectl's
// DefaultRemoteExecutor because the SPDY one here requires the exit status (statusRequired).
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
		return spdyExec, nil // $KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false, kubectl's escape hatch
	}
	// WebSocket requires GET (RFC 6455 §4.1).
	ws, err := remotecommand.NewWebSocketExecutor(config, "GET", url.String())
	if err != nil {
		return nil, err
	}
	return remotecommand.NewFallbackExecutor(ws, spdyExec, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	})
}
