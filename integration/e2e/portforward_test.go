package e2e

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// echoServer echoes every connection on addr back until the client half-closes. For each
// connection it records the process at the other end (see peerPID) as it connects.
type echoServer struct {
	ln    net.Listener
	mu    sync.Mutex
	peers []peer
}

type peer struct {
	pid          int
	comm, cgroup string
}

func startEcho(t *testing.T, addr string) *echoServer {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen on %s: %v", addr, err)
	}
	s := &echoServer{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p := peer{pid: peerPID(c.RemoteAddr().(*net.TCPAddr), c.LocalAddr().(*net.TCPAddr))}
			cg, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", p.pid))
			comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", p.pid))
			p.cgroup, p.comm = string(cg), strings.TrimSpace(string(comm))
			s.mu.Lock()
			s.peers = append(s.peers, p)
			s.mu.Unlock()
			go func() {
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
	return s
}

func (s *echoServer) port() int { return s.ln.Addr().(*net.TCPAddr).Port }

// peerPID finds the process that owns the client end of a loopback connection: the
// socket in /proc/net/tcp whose local address is the peer's and remote is ours, and the
// process with that socket open. 0 when not found.
func peerPID(peer, us *net.TCPAddr) int {
	hexAddr := func(a *net.TCPAddr) string {
		ip := a.IP.To4()
		return fmt.Sprintf("%02X%02X%02X%02X:%04X", ip[3], ip[2], ip[1], ip[0], a.Port)
	}
	data, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		return 0
	}
	inode := ""
	for _, line := range strings.Split(string(data), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) > 9 && f[1] == hexAddr(peer) && f[2] == hexAddr(us) {
			inode = f[9]
		}
	}
	if inode == "" {
		return 0
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/fd/*")
	for _, fd := range procs {
		if l, err := os.Readlink(fd); err == nil && l == "socket:["+inode+"]" {
			pid, _ := strconv.Atoi(strings.Split(fd, "/")[2])
			return pid
		}
	}
	return 0
}

// roundTrip sends size random bytes through addr and checks that exactly those bytes come
// back. It reads the known length rather than until EOF: whether a half-close crosses
// pods/portforward is the runtime's business, not node-shell's.
func roundTrip(addr string, size int) error {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(60 * time.Second))
	want := make([]byte, size)
	rand.Read(want)
	errc := make(chan error, 1)
	go func() {
		_, err := c.Write(want)
		errc <- err
	}()
	got := make([]byte, size)
	if n, err := io.ReadFull(c, got); err != nil {
		return fmt.Errorf("read after %d bytes: %w", n, err)
	}
	if err := <-errc; err != nil {
		return err
	}
	if !bytes.Equal(got, want) {
		return fmt.Errorf("%d bytes came back, not the %d sent", len(got), len(want))
	}
	return nil
}

var forwardingLine = regexp.MustCompile(`^Forwarding from 127\.0\.0\.1:(\d+) -> (\S+)`)

// TestPortForward: one session forwards a random local port to a listener on the node's
// 127.0.0.1 (pods/portforward) and another, ssh -L style, to 127.0.0.5:PORT through the
// relay. 20 concurrent connections on each come back byte for byte, after more than two
// heartbeat timeouts of forwarding. Every node is this machine, so any address the node
// reaches, this test reaches too: what shows that a relayed connection is made from the
// node's side is its client, which must be a process of the session pod (busybox nc in
// its container, in the node's network namespace). Ctrl-C ends node-shell with 130, the
// listeners are closed and the pod deleted.
func TestPortForward(t *testing.T) {
	e := newE2E(t)
	node := e.Nodes()[2]
	loopback := startEcho(t, "127.0.0.1:0")
	onlyNode := startEcho(t, "127.0.0.5:0")
	const heartbeat = 5 * time.Second

	run := e.NodeShell("port-forward", "--heartbeat-timeout", heartbeat.String(), node,
		":"+strconv.Itoa(loopback.port()), "--to", "0:127.0.0.5:"+strconv.Itoa(onlyNode.port()),
		"--address", "127.0.0.1").Start()
	local := map[string]string{} // remote → local address
	deadline := time.Now().Add(60 * time.Second)
	for len(local) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("no Forwarding lines after 60s; stdout %q, stderr %q", run.Stdout(), run.Stderr())
		}
		sc := bufio.NewScanner(strings.NewReader(run.Stdout()))
		for sc.Scan() {
			if m := forwardingLine.FindStringSubmatch(sc.Text()); m != nil {
				local[m[2]] = "127.0.0.1:" + m[1]
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("forwarding: %v", local)
	targets := map[string]string{
		"loopback": local[strconv.Itoa(loopback.port())],
		"relay":    local["127.0.0.5:"+strconv.Itoa(onlyNode.port())],
	}
	check := func(round string) {
		for name, addr := range targets {
			start := time.Now()
			var wg sync.WaitGroup
			errs := make(chan error, 20)
			for range 20 {
				wg.Go(func() {
					if err := roundTrip(addr, 512<<10); err != nil {
						errs <- err
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Errorf("%s %s via %s: %v", round, name, addr, err)
			}
			took := time.Since(start)
			t.Logf("%s %s: 20 concurrent connections × 512 KiB each way in %v (%.1f MiB/s total)", round, name, took.Round(time.Millisecond), 20*0.5*2/took.Seconds())
		}
	}
	check("first")
	time.Sleep(2*heartbeat + time.Second) // forwarding idles past the watchdog's timeout: the heartbeat must keep the pod
	check("after idling")

	pod := e.waitSessionPod(5 * time.Second)
	onlyNode.mu.Lock()
	uid := string(pod.UID)
	for _, p := range onlyNode.peers {
		if p.pid == 0 || !(strings.Contains(p.cgroup, uid) || strings.Contains(p.cgroup, strings.ReplaceAll(uid, "-", "_"))) {
			t.Errorf("a relayed connection came from pid %d (%s), not from the session pod %s: cgroup %q", p.pid, p.comm, pod.Name, p.cgroup)
			break
		}
	}
	if len(onlyNode.peers) > 0 {
		t.Logf("%d relayed connections, each from a process of the session pod (e.g. pid %d %s, cgroup %s)",
			len(onlyNode.peers), onlyNode.peers[0].pid, onlyNode.peers[0].comm, strings.TrimSpace(onlyNode.peers[0].cgroup))
	}
	onlyNode.mu.Unlock()

	run.Signal(syscall.SIGINT)
	if status := run.Wait(30 * time.Second); status != 130 {
		t.Errorf("status %d after Ctrl-C, want 130; stderr %q", status, run.Stderr())
	}
	for name, addr := range targets {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			t.Errorf("%s listener %s still accepts after node-shell exited", name, addr)
		}
	}
	e.AssertNoNodeShellPods()
	run.AssertOnNode(t, node)
}

// TestPortForwardBadInput: bad port specs fail with 255 before any pod exists.
func TestPortForwardBadInput(t *testing.T) {
	e := newE2E(t)
	node := e.Nodes()[0]
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"port-forward", node}, "name at least one port to forward"},
		{[]string{"port-forward", node, "70000"}, `"70000": the remote port "70000" is not a port number`},
		{[]string{"port-forward", node, "--to", "443"}, `--to "443": want [LOCAL:]HOST:PORT`},
		{[]string{"port-forward"}, "a node name is required"},
	} {
		r := e.NodeShell(tc.args...).Run()
		first, _, _ := strings.Cut(string(r.Stderr), "\n")
		if r.Status != 255 || !strings.Contains(first, tc.want) {
			t.Errorf("%v: status %d, stderr %q; want 255 and %q", tc.args, r.Status, r.Stderr, tc.want)
		}
		r.AssertNoSession(t)
	}
}
