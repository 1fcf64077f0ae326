package forward

import (
	"bytes"
	"context"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// Each connection gets its own exec with the connection as stdin and stdout; a failed
// connect on the node is a warning; when ctx ends, the listener closes.
func TestRelay(t *testing.T) {
	lns, err := Listen([]string{"127.0.0.1"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	spec := Spec{Host: "10.0.0.1", Port: 443}
	var mu sync.Mutex
	var warnings []string
	execs := 0
	exec := func(ctx context.Context, argv []string, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
		mu.Lock()
		execs++
		mu.Unlock()
		if strings.Join(argv, " ") != "nc 10.0.0.1 443" {
			t.Errorf("argv %q", argv)
		}
		var first [4]byte
		if _, err := io.ReadFull(stdin, first[:]); err != nil {
			return 0, err
		}
		if string(first[:]) == "fail" {
			io.WriteString(stderr, "nc: can't connect to remote host (10.0.0.1): Connection refused\n")
			return 1, nil
		}
		stdout.Write(first[:])
		_, err := io.Copy(stdout, stdin) // an echo on the node's side
		return 0, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		Relay(ctx, lns[0], spec, exec, func(w string) { mu.Lock(); warnings = append(warnings, w); mu.Unlock() })
		close(done)
	}()
	addr := lns[0].Addr().String()
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			want := bytes.Repeat([]byte("echo"), 10000)
			go func() { c.Write(want); c.(*net.TCPConn).CloseWrite() }()
			got, _ := io.ReadAll(c)
			if !bytes.Equal(got, want) {
				t.Errorf("%d bytes back, want %d", len(got), len(want))
			}
		})
	}
	wg.Wait()
	c, _ := net.Dial("tcp", addr)
	c.Write([]byte("fail"))
	io.ReadAll(c)
	c.Close()
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Relay still runs after ctx ended")
	}
	if _, err := net.Dial("tcp", addr); err == nil {
		t.Error("the listener still accepts")
	}
	mu.Lock()
	defer mu.Unlock()
	if execs != 11 || len(warnings) != 1 || !strings.Contains(warnings[0], "the node could not connect to 10.0.0.1:443: nc: can't connect") {
		t.Errorf("%d execs, warnings %q", execs, warnings)
	}
}
