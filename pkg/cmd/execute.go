package cmd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/klog/v2"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/crash"
)

// terminationSignals end a session: the pod is deleted, then node-shell exits 128+N.
// In a raw-mode TTY, Ctrl-C is a byte sent to the remote command, not a signal here.
// SIGQUIT is one of them: Go's default dumps the goroutines and exits with no cleanup, and
// kubectl's raw-mode guard (term.TTY.Safe) catches it only to restore the terminal.
var terminationSignals = []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT}

// Execute runs node-shell with args and returns the process's exit status. It is main's
// only call, so everything below it returns errors instead of exiting and deferred cleanup
// (deleting the pod) always runs.
func Execute(streams genericiooptions.IOStreams, args []string) int {
	silenceClientLogs()
	ctx, stop := signalContext(context.Background())
	defer stop()
	return execute(ctx, NewCmdRoot(streams), streams, args)
}

// execute runs root; a panic on this goroutine, which has unwound through the deferred
// cleanup (terminal restored, pod deleted), is reported like any failure.
func execute(ctx context.Context, root *cobra.Command, streams genericiooptions.IOStreams, args []string) int {
	root.SetArgs(args)
	root.SetIn(streams.In)
	root.SetOut(streams.Out)
	root.SetErr(streams.ErrOut)
	var err error
	if p := crash.Catch(func() { err = root.ExecuteContext(ctx) }); p != nil {
		err = explainPanic(root, args, p)
	}
	if msg := Message(err); msg != "" {
		fmt.Fprintln(streams.ErrOut, msg)
	}
	return ExitStatus(err)
}

// explainPanic adds the stack to a panic when the command line asked for -v.
func explainPanic(root *cobra.Command, args []string, err error) error {
	c, _, findErr := root.Find(args)
	if findErr != nil {
		return err
	}
	var p *crash.Error
	if v, vErr := c.Flags().GetInt("v"); vErr == nil && v > 0 && errors.As(err, &p) {
		return fmt.Errorf("%w\n%s", err, p.Stack)
	}
	return err
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
