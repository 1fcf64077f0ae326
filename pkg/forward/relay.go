package forward

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
)

// Exec runs argv in the session's container with the given streams and returns its exit
// status; err is the session's own failure.
type Exec func(ctx context.Context, argv []string, stdin io.Reader, stdout, stderr io.Writer) (int, error)

// RelayArgv is the node side of one relayed connection: busybox nc, in the host network
// namespace; it half-closes towards the target when stdin ends, and exits when the target
// closes.
func RelayArgv(s Spec) []string {
	return []string{"nc", s.Host, strconv.Itoa(s.Port)}
}

// Relay accepts connections on ln and carries each to s through its own exec stream,
// until ctx ends; then it closes ln and every connection, and waits for their streams.
// warn hears about connections the node could not make.
func Relay(ctx context.Context, ln net.Listener, s Spec, exec Exec, warn func(string)) {
	var wg sync.WaitGroup
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	for {
		conn, err := ln.Accept()
		if err != nil {
			break // closed: ctx ended
		}
		wg.Go(func() {
			defer conn.Close()
			stop := context.AfterFunc(ctx, func() { conn.Close() })
			defer stop()
			var stderr bytes.Buffer
			status, err := exec(ctx, RelayArgv(s), conn, conn, &stderr)
			switch {
			case ctx.Err() != nil:
			case err != nil:
				warn(fmt.Sprintf("connection to %s through the node failed: %v", s.Remote(), err))
			case status != 0:
				msg := strings.TrimSpace(stderr.String())
				if msg == "" {
					msg = fmt.Sprintf("nc exited with status %d", status)
				}
				warn(fmt.Sprintf("the node could not connect to %s: %s", s.Remote(), msg))
			}
		})
	}
	wg.Wait()
}

// Listen opens a listener for local port on each address ("localhost" means 127.0.0.1
// and ::1, as in kubectl port-forward, and is satisfied by either). Port 0 picks a free
// port, the same one on every address.
func Listen(addresses []string, port int) ([]net.Listener, error) {
	var lns []net.Listener
	fail := func(err error) ([]net.Listener, error) {
		for _, l := range lns {
			l.Close()
		}
		return nil, err
	}
	for _, a := range addresses {
		hosts := []string{a}
		if a == "localhost" {
			hosts = []string{"127.0.0.1", "::1"}
		}
		opened := 0
		var lastErr error
		for _, h := range hosts {
			ln, err := net.Listen("tcp", net.JoinHostPort(h, strconv.Itoa(port)))
			if err != nil {
				lastErr = err
				continue
			}
			if port == 0 {
				port = ln.Addr().(*net.TCPAddr).Port
			}
			lns = append(lns, ln)
			opened++
		}
		if opened == 0 {
			var oe *net.OpError
			if errors.As(lastErr, &oe) && oe.Err != nil {
				lastErr = oe.Err
			}
			return fail(fmt.Errorf("cannot listen on %s port %d: %v", a, port, lastErr))
		}
	}
	return lns, nil
}
