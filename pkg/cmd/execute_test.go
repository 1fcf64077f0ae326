package cmd

import (
	"context"
	"errors"
	"io"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/cobra"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/klog/v2"
)

// TestClientLogsAreSilenced: what client-go logs when a stream is cut never reaches stderr.
func TestClientLogsAreSilenced(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stderr
	os.Stderr = w
	silenceClientLogs()
	utilruntime.HandleError(errors.New("next reader: websocket: close 1006 (abnormal closure)"))
	klog.Errorf("Websocket Ping failed")
	klog.Flush()
	os.Stderr = saved
	w.Close()
	if out, _ := io.ReadAll(r); len(out) != 0 {
		t.Errorf("client-go logged to stderr: %q", out)
	}
}

// TestSIGQUITEndsTheSession: SIGQUIT cancels the session like SIGTERM (so the pod is
// deleted and the terminal restored) instead of Go's default dump-and-exit.
func TestSIGQUITEndsTheSession(t *testing.T) {
	if !slices.Contains(terminationSignals, os.Signal(syscall.SIGQUIT)) {
		t.Fatal("SIGQUIT is not a termination signal: sending it would dump this test's goroutines and exit")
	}
	ctx, stop := signalContext(context.Background())
	defer stop()
	if err := syscall.Kill(os.Getpid(), syscall.SIGQUIT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ctx.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("SIGQUIT did not cancel the session within 10s")
	}
	err := context.Cause(ctx)
	var sigErr *SignalError
	if !errors.As(err, &sigErr) || sigErr.Signal != syscall.SIGQUIT {
		t.Fatalf("cause %v, want a SignalError for SIGQUIT", err)
	}
	if got := ExitStatus(err); got != 128+3 {
		t.Errorf("exit status %d, want 131", got)
	}
}

// panickyRoot is a command that panics in its RunE after deferring its cleanup, as a
// session defers the pod's delete.
func panickyRoot(cleaned *bool) *cobra.Command {
	root := &cobra.Command{Use: "node-shell", SilenceErrors: true, SilenceUsage: true, Args: cobra.ArbitraryArgs,
		RunE: func(*cobra.Command, []string) error {
			defer func() { *cleaned = true }()
			var sessions map[string]int
			sessions["n1"]++
			return nil
		}}
	root.Flags().IntP("v", "v", 0, "")
	return root
}

func TestPanicOnTheMainGoroutine(t *testing.T) {
	for _, tc := range []struct {
		args      []string
		wantStack bool
	}{{[]string{"n1"}, false}, {[]string{"-v", "1", "n1"}, true}} {
		var cleaned bool
		streams, _, out, errOut := genericiooptions.NewTestIOStreams()
		status := execute(context.Background(), panickyRoot(&cleaned), streams, tc.args)
		if status != ExitFailure || !cleaned || out.Len() != 0 {
			t.Errorf("%q: status %d, cleanup ran %v, stdout %q; want %d after the cleanup, nothing on stdout", tc.args, status, cleaned, out, ExitFailure)
		}
		first, rest, _ := strings.Cut(errOut.String(), "\n")
		if first != "error: internal error: assignment to entry in nil map (a bug in node-shell; please report it)" {
			t.Errorf("%q: first line %q", tc.args, first)
		}
		if hasStack := strings.Contains(rest, "panickyRoot"); hasStack != tc.wantStack {
			t.Errorf("%q: stack shown %v, want %v; stderr:\n%s", tc.args, hasStack, tc.wantStack, errOut)
		}
	}
}

func TestMessageEscapesAllButTabsAndNewlines(t *testing.T) {
	err := errors.New("admission webhook denied the request: \x1b]0;pwned\x07\x1b[2J\u202e\nsee:\thttps://x")
	want := `error: admission webhook denied the request: \x1b]0;pwned\a\x1b[2J\u202e` + "\nsee:\thttps://x"
	if got := Message(err); got != want {
		t.Errorf("Message = %q, want %q", got, want)
	}
}
