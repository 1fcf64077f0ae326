package cmd

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/go-logr/logr"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/klog/v2"
)

// terminationSignals end a session: the pod is deleted, then node-shell exits 128+N.
// In a raw-mode TTY, Ctrl-C is a byte sent to the remote command, not a signal here.
var terminationSignals = []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP}

// Execute runs node-shell with args and returns the process's exit status. It is main's
// only call, so everything below it returns errors instead of exiting and deferred cleanup
// (deleting the pod) always runs.
func Execute(streams genericiooptions.IOStreams, args []string) int {
	silenceClientLogs()
	ctx, stop := signalContext(context.Background())
	defer stop()
	root := NewCmdRoot(streams)
	root.SetArgs(args)
	root.SetIn(streams.In)
	root.SetOut(streams.Out)
	root.SetErr(streams.ErrOut)
	err := root.ExecuteContext(ctx)
	if msg := Message(err); msg != "" {
		fmt.Fprintln(streams.ErrOut, msg)
	}
	return ExitStatus(err)
}

// signalContext is cancelled, with a *SignalError as its cause, by the first termination
// signal. Later signals are swallowed: an impatient second Ctrl-C must not kill the process
// before it deletes the pod, and that delete is bounded by its own timeout.
func signalContext(parent context.Context) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(parent)
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, terminationSignals...)
	go func() {
		select {
		case sig := <-ch:
			cancel(&SignalError{Signal: sig})
		case <-ctx.Done():
		}
	}()
	return ctx, func() {
		signal.Stop(ch)
		cancel(nil)
	}
}

// silenceClientLogs keeps client-go from logging to stderr through klog: when a stream is
// cut (a signal, an apiserver restart) it logs "Unhandled Error" lines that would bury
// node-shell's own one-line report. Everything the user needs reaches them as an error or
// a warning instead.
func silenceClientLogs() {
	klog.SetLogger(logr.Discard())
}
