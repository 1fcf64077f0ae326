package localcluster

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// childEnv carries the runtime directory of the shared cluster from
// RunTests to the child process that runs the tests.
const childEnv = "KNS_LOCALCLUSTER_STATE"

// shared is the cluster of RunTests, in the process that runs the tests.
var shared *Cluster

// Shared returns the cluster started by RunTests, or nil outside of it
// (and with -short, where RunTests starts none).
func Shared() *Cluster { return shared }

// Require returns the shared cluster for a test. It skips the test with
// -short and fails it when there is no shared cluster.
func Require(t testing.TB) *Cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("needs a real cluster; skipped with -short")
	}
	if shared == nil {
		t.Fatal("no shared cluster: call localcluster.RunTests from TestMain")
	}
	return shared
}

// RunTests runs a test package against one shared cluster. Use it as
//
//	func TestMain(m *testing.M) {
//		os.Exit(localcluster.RunTests(m, localcluster.Options{Nodes: 2}))
//	}
//
// and localcluster.Require(t) (or Shared()) in the tests.
//
// It starts the cluster (opts.Dir defaults to a new directory under
// $TMPDIR), then runs the tests in a child process (this same test binary,
// same arguments) and tears the cluster down when the child exits, however
// it exits: a test's panic, a -timeout, or a signal all end the child, not
// this process. If the tests fail it prints the tail of every daemon's log
// first. If the cluster cannot start it says why and returns 1: tests are
// never silently skipped. With -short no cluster is started and m.Run runs
// directly; Require skips.
//
// Only a SIGKILL of this process leaves the cluster running; the next Up
// on the machine removes it.
func RunTests(m *testing.M, opts Options) int {
	if !flag.Parsed() {
		flag.Parse()
	}
	if state := os.Getenv(childEnv); state != "" {
		c, err := attachState(state)
		if err != nil {
			fmt.Fprintf(os.Stderr, "localcluster: attaching to the shared cluster: %v\n", err)
			return 1
		}
		shared = c
		return m.Run()
	}
	if testing.Short() {
		return m.Run()
	}
	if opts.Log == nil {
		opts.Log = os.Stderr
	}
	if opts.Dir == "" {
		opts.Dir = filepath.Join(os.TempDir(), fmt.Sprintf("kns-cluster-%d", os.Getpid()))
	}
	opts.Detached = false

	// The parent never calls m.Run, so -timeout is not armed here: bound
	// the start (which may wait for another package's cluster) by it.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if f := flag.Lookup("test.timeout"); f != nil {
		if d, err := time.ParseDuration(f.Value.String()); err == nil && d > 0 {
			var cancelTimeout context.CancelFunc
			ctx, cancelTimeout = context.WithTimeout(ctx, d)
			defer cancelTimeout()
		}
	}
	var mu sync.Mutex
	var child *os.Process
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGQUIT, syscall.SIGHUP)
	defer signal.Stop(sigs)
	go func() {
		for sig := range sigs {
			cancel()
			mu.Lock()
			if child != nil {
				_ = child.Signal(sig)
			}
			mu.Unlock()
		}
	}()

	c, err := Up(ctx, opts)
	if err != nil {
		fmt.Fprintf(os.Stderr, "localcluster: the test cluster did not start: %v\n", err)
		return 1
	}
	code := func() int {
		exe, err := os.Executable()
		if err != nil {
			fmt.Fprintf(os.Stderr, "localcluster: finding the test binary: %v\n", err)
			return 1
		}
		cmd := exec.Command(exe, os.Args[1:]...)
		cmd.Env = append(os.Environ(), childEnv+"="+c.StateDir())
		cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
		mu.Lock()
		err = cmd.Start()
		if err == nil {
			child = cmd.Process
		}
		mu.Unlock()
		if err != nil {
			fmt.Fprintf(os.Stderr, "localcluster: starting the tests: %v\n", err)
			return 1
		}
		err = cmd.Wait()
		var exit *exec.ExitError
		switch {
		case err == nil:
			return 0
		case errors.As(err, &exit):
			if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				fmt.Fprintf(os.Stderr, "localcluster: the tests were killed by %v\n", ws.Signal())
				return 128 + int(ws.Signal())
			}
			return exit.ExitCode()
		default:
			fmt.Fprintf(os.Stderr, "localcluster: running the tests: %v\n", err)
			return 1
		}
	}()
	if code != 0 {
		fmt.Fprintf(os.Stderr, "localcluster: tests failed (exit %d); tails of the cluster's logs (all in %s):\n", code, c.l.path("logs"))
		c.DumpLogs(os.Stderr, 15)
	}
	if err := c.Down(context.Background()); err != nil {
		fmt.Fprintf(os.Stderr, "localcluster: tearing down the test cluster: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}
