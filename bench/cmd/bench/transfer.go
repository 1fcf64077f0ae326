package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/kubectl-node-shell/kubectl-node-shell/bench/nodepod"
)

// transferResult is one tool moving data one way, in the cp or port-forward case.
type transferResult struct {
	Case      string `json:"case"` // "cp" or "port-forward"
	Tool      string `json:"tool"`
	Name      string `json:"name"`
	Direction string `json:"direction"` // "download": node to here; "upload": here to node
	Bytes     int64  `json:"bytes"`
	How       string `json:"how"`
	// MiBPerS is bytes over the whole process (cp) or over the connection's transfer
	// (port-forward: the forwarder is up before it).
	MiBPerS summary `json:"mib_per_s"`
	WallMS  summary `json:"wall_ms"`
	// ReadyMS is how long the forwarder took to listen (port-forward only).
	ReadyMS summary `json:"ready_ms"`
	Failed  int     `json:"failed"`
	Silent  int     `json:"silent"`
}

// stressResult is the streamed transfers under CPU load, one direction.
type stressResult struct {
	Direction string `json:"direction"` // "out": node to stdout; "in": stdin to node
	Bytes     int64  `json:"bytes"`
	How       string `json:"how"`
	Transfers int    `json:"transfers"`
	// Verified runs exited 0 with the exact bytes (count and sha256); Detected ones exited
	// non-zero; Silent ones exited 0 with the wrong bytes: a silent truncation.
	Verified int            `json:"verified"`
	Detected int            `json:"detected"`
	Silent   int            `json:"silent"`
	Statuses map[string]int `json:"exit_statuses"`
	MiBPerS  summary        `json:"mib_per_s"`
	WallMS   summary        `json:"wall_ms"`
	Load1    summary        `json:"load1"`
	Spinners int            `json:"spinners"`
}

func (r *results) transfer(c, tool, dir string) transferResult {
	for _, t := range r.Transfers {
		if t.Case == c && t.Tool == tool && t.Direction == dir {
			return t
		}
	}
	return transferResult{}
}

// randomFile writes n pseudo-random bytes (incompressible, so nothing on the way can
// shrink them) to path and returns them with their sha256.
func randomFile(path string, n int64, seed uint64) ([]byte, string, error) {
	data := make([]byte, n)
	rng := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)})
	_, _ = rng.Read(data)
	sum := sha256.Sum256(data)
	if path != "" {
		if err := os.WriteFile(path, data, 0o644); err != nil {
			return nil, "", err
		}
	}
	return data, hex.EncodeToString(sum[:]), nil
}

func fileSHA256(path string) (int64, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, "", err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	return n, hex.EncodeToString(h.Sum(nil)), err
}

// cpTool copies one file one way: src and dest as the tool writes them.
type cpTool struct {
	key, name string
	argv      func(e *env, pod, nodeFile, localFile, nodeDir, localDir string, upload bool) (string, []string)
}

var cpTools = []cpTool{
	{
		key: "node-shell", name: "node-shell cp",
		argv: func(e *env, _, nodeFile, localFile, nodeDir, localDir string, upload bool) (string, []string) {
			if upload {
				return e.plugin, []string{"cp", "-n", benchNamespace, localFile, e.node + ":" + nodeDir + "/"}
			}
			return e.plugin, []string{"cp", "-n", benchNamespace, e.node + ":" + nodeFile, localDir + "/"}
		},
	},
	{
		key: "kubectl-cp", name: "kubectl cp (running pod)",
		argv: func(e *env, pod, nodeFile, localFile, nodeDir, localDir string, upload bool) (string, []string) {
			remote := func(p string) string { return benchNamespace + "/" + pod + ":" + nodepod.HostMount + p }
			if upload {
				return e.kubectl, []string{"cp", "-c", nodepod.Container, localFile, remote(filepath.Join(nodeDir, filepath.Base(localFile)))}
			}
			return e.kubectl, []string{"cp", "-c", nodepod.Container, remote(nodeFile), filepath.Join(localDir, filepath.Base(nodeFile))}
		},
	},
}

// runCp copies a random file of o.cpBytes from the node and back, node-shell cp against
// kubectl cp into the benchmark's running pod of the same spec, interleaved. Every copy's
// size and sha256 are checked here, on the far side of the tool; exit 0 with other bytes
// is a silent failure. The node's files are this machine's (the node's / is /).
func runCp(ctx context.Context, e *env, o options, res *results, target *corev1.Pod, work string) error {
	nodeDir := filepath.Join(work, "cp-node")
	localDir := filepath.Join(work, "cp-local")
	for _, d := range []string{nodeDir, localDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	nodeFile := filepath.Join(nodeDir, "payload.bin")
	data, sum, err := randomFile(nodeFile, o.cpBytes, 1)
	if err != nil {
		return err
	}
	localFile := filepath.Join(work, "cp-src", "payload.bin")
	if err := os.MkdirAll(filepath.Dir(localFile), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(localFile, data, 0o644); err != nil {
		return err
	}
	data = nil
	type key struct{ tool, dir string }
	accs := map[key]*struct{ rate, wall []float64 }{}
	out := map[key]*transferResult{}
	dirs := []string{"download", "upload"}
	for round := 0; round <= o.cpRounds; round++ { // round 0: warm-up, not counted
		for i := range cpTools {
			t := cpTools[(i+round)%len(cpTools)]
			for _, dir := range dirs {
				if err := e.settle(ctx, target.UID); err != nil {
					return err
				}
				upload := dir == "upload"
				got := filepath.Join(localDir, "payload.bin")
				if upload {
					got = filepath.Join(nodeDir, "up", "payload.bin")
					if err := os.MkdirAll(filepath.Dir(got), 0o755); err != nil {
						return err
					}
				}
				_ = os.Remove(got)
				path, args := t.argv(e, target.Name, nodeFile, localFile, filepath.Dir(got), localDir, upload)
				r, err := runProc(ctx, procSpec{Path: path, Args: args, Env: e.procEnv(), Timeout: 10 * time.Minute})
				if ctx.Err() != nil {
					return ctx.Err()
				}
				k := key{t.key, dir}
				if out[k] == nil {
					out[k] = &transferResult{Case: "cp", Tool: t.key, Name: t.name, Direction: dir, Bytes: o.cpBytes,
						How: cpHow(e, target.Name, work, path, args)}
					accs[k] = &struct{ rate, wall []float64 }{}
				}
				silent := false
				if err == nil {
					n, gotSum, serr := fileSHA256(got)
					switch {
					case r.Status != 0:
						err = fmt.Errorf("exited %d; stderr: %s", r.Status, firstLine(r.Stderr))
					case serr != nil || n != o.cpBytes || gotSum != sum:
						silent = true
						err = fmt.Errorf("%w: exit 0 but the copy has %d bytes, sha256 %.12s, want %d, %.12s (%v)", errWrongOutput, n, gotSum, o.cpBytes, sum, serr)
					}
				}
				rate := mibPerS(o.cpBytes, r.Wall())
				logf("cp round %d: %-26s %-8s %6.1f MiB/s, wall %6.0f ms%s", round, t.name, dir, rate, ms(r.Wall()), errSuffix(err))
				_ = os.Remove(got)
				if round == 0 && err == nil {
					continue
				}
				if err != nil {
					out[k].Failed++
					if silent {
						out[k].Silent++
					}
					res.Failures = append(res.Failures, failure{Case: "cp", Tool: t.name, What: dir, Round: round, Silent: silent, Error: err.Error()})
					if err := e.cleanUp(ctx, target.UID); err != nil {
						return err
					}
					continue
				}
				accs[k].rate = append(accs[k].rate, rate)
				accs[k].wall = append(accs[k].wall, ms(r.Wall()))
			}
		}
	}
	for _, dir := range dirs {
		for _, t := range cpTools {
			k := key{t.key, dir}
			if out[k] == nil {
				continue
			}
			out[k].MiBPerS, out[k].WallMS = summarize(accs[k].rate), summarize(accs[k].wall)
			res.Transfers = append(res.Transfers, *out[k])
		}
	}
	return nil
}

// pfTool starts a forwarder from local to the node's 127.0.0.1:remote.
type pfTool struct {
	key, name string
	argv      func(e *env, pod string, local, remote int) (string, []string)
}

var pfTools = []pfTool{
	{
		key: "node-shell", name: "node-shell port-forward",
		argv: func(e *env, _ string, local, remote int) (string, []string) {
			return e.plugin, []string{"port-forward", "-n", benchNamespace, "--address", "127.0.0.1", e.node, fmt.Sprintf("%d:%d", local, remote)}
		},
	},
	{
		key: "node-shell-to", name: "node-shell port-forward --to",
		argv: func(e *env, _ string, local, remote int) (string, []string) {
			return e.plugin, []string{"port-forward", "-n", benchNamespace, "--address", "127.0.0.1", e.node, fmt.Sprintf("--to=%d:127.0.0.1:%d", local, remote)}
		},
	},
	{
		key: "kubectl-port-forward", name: "kubectl port-forward (running pod)",
		argv: func(e *env, pod string, local, remote int) (string, []string) {
			return e.kubectl, []string{"port-forward", "-n", benchNamespace, "--address", "127.0.0.1", "pod/" + pod, fmt.Sprintf("%d:%d", local, remote)}
		},
	},
}

// pfServer listens on this machine's loopback, which is the node's (the pods use the host
// network): a connection that sends 'D' gets the payload; one that sends 'U' followed by
// the payload's length of bytes gets back the count and sha256 of what it sent.
type pfServer struct {
	ln      net.Listener
	payload []byte
}

func (s *pfServer) serve() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			op := make([]byte, 1)
			if _, err := io.ReadFull(c, op); err != nil {
				return
			}
			switch op[0] {
			case 'D':
				_, _ = c.Write(s.payload)
			case 'U':
				h := sha256.New()
				n, _ := io.CopyN(h, c, int64(len(s.payload)))
				reply := binary.BigEndian.AppendUint64(nil, uint64(n))
				_, _ = c.Write(h.Sum(reply))
			}
		}()
	}
}

// pfTransfer moves the payload one way through the forwarder at addr and checks it.
func pfTransfer(addr string, payload []byte, sum, dir string) (time.Duration, error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Minute))
	if dir == "download" {
		if _, err := c.Write([]byte{'D'}); err != nil {
			return 0, err
		}
		h := sha256.New()
		buf := make([]byte, 1<<20)
		var first time.Time
		var n int64
		for n < int64(len(payload)) {
			m, err := c.Read(buf)
			if m > 0 && first.IsZero() {
				first = time.Now()
			}
			h.Write(buf[:m])
			n += int64(m)
			if err != nil {
				break
			}
		}
		took := time.Since(first)
		if got := hex.EncodeToString(h.Sum(nil)); n != int64(len(payload)) || got != sum {
			return 0, fmt.Errorf("%w: %d bytes arrived, sha256 %.12s, want %d, %.12s", errWrongOutput, n, got, len(payload), sum)
		}
		return took, nil
	}
	start := time.Now()
	if _, err := c.Write(append([]byte{'U'}, payload...)); err != nil {
		return 0, err
	}
	reply := make([]byte, 8+sha256.Size)
	if _, err := io.ReadFull(c, reply); err != nil {
		return 0, fmt.Errorf("no answer from the node's side: %w", err)
	}
	took := time.Since(start)
	n, got := binary.BigEndian.Uint64(reply), hex.EncodeToString(reply[8:])
	if n != uint64(len(payload)) || got != sum {
		return 0, fmt.Errorf("%w: the node's side got %d bytes, sha256 %.12s, want %d, %.12s", errWrongOutput, n, got, len(payload), sum)
	}
	return took, nil
}

// runPortForward forwards a local port to a listener on the node's loopback with
// node-shell (pods/portforward, and the --to relay over exec) and with kubectl
// port-forward into the benchmark's running pod, interleaved; each round starts the
// forwarder, moves o.pfBytes down and then up through one connection each, and stops it
// with SIGINT as a user's Ctrl-C. Throughput is the connection's, the forwarder being up.
func runPortForward(ctx context.Context, e *env, o options, res *results, target *corev1.Pod) error {
	payload, sum, err := randomFile("", o.pfBytes, 2)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer ln.Close()
	srv := &pfServer{ln: ln, payload: payload}
	go srv.serve()
	remote := ln.Addr().(*net.TCPAddr).Port

	type key struct{ tool, dir string }
	type acc struct{ rate, wall, ready []float64 }
	accs := map[key]*acc{}
	out := map[key]*transferResult{}
	dirs := []string{"download", "upload"}
	for round := 0; round <= o.pfRounds; round++ { // round 0: warm-up
		for i := range pfTools {
			t := pfTools[(i+round)%len(pfTools)]
			if err := e.settle(ctx, target.UID); err != nil {
				return err
			}
			local, err := freePort()
			if err != nil {
				return err
			}
			path, args := t.argv(e, target.Name, local, remote)
			how := pfHow(e, target.Name, path, args, local, remote)
			fwd, err := startForwarder(ctx, path, args, e.procEnv())
			var took [2]time.Duration
			var errs [2]error
			if err == nil {
				for j, dir := range dirs {
					took[j], errs[j] = pfTransfer(fmt.Sprintf("127.0.0.1:%d", local), payload, sum, dir)
				}
				if serr := fwd.stop(); serr != nil && errs[0] == nil && errs[1] == nil {
					errs[0] = serr
				}
			} else {
				errs = [2]error{err, err}
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			for j, dir := range dirs {
				k := key{t.key, dir}
				if out[k] == nil {
					out[k] = &transferResult{Case: "port-forward", Tool: t.key, Name: t.name, Direction: dir, Bytes: o.pfBytes, How: how}
					accs[k] = &acc{}
				}
				rate := mibPerS(o.pfBytes, took[j])
				logf("port-forward round %d: %-34s %-8s %6.1f MiB/s%s", round, t.name, dir, rate, errSuffix(errs[j]))
				if errs[j] != nil {
					out[k].Failed++
					res.Failures = append(res.Failures, failure{Case: "port-forward", Tool: t.name, What: dir, Round: round, Error: errs[j].Error()})
					continue
				}
				if round == 0 {
					continue
				}
				accs[k].rate = append(accs[k].rate, rate)
				accs[k].wall = append(accs[k].wall, ms(took[j]))
				if j == 0 {
					accs[k].ready = append(accs[k].ready, ms(fwd.ready))
				}
			}
			if errs[0] != nil || errs[1] != nil {
				if err := e.cleanUp(ctx, target.UID); err != nil {
					return err
				}
			}
		}
	}
	for _, dir := range dirs {
		for _, t := range pfTools {
			k := key{t.key, dir}
			if out[k] == nil {
				continue
			}
			out[k].MiBPerS, out[k].WallMS, out[k].ReadyMS = summarize(accs[k].rate), summarize(accs[k].wall), summarize(accs[k].ready)
			res.Transfers = append(res.Transfers, *out[k])
		}
	}
	return nil
}

// cpHow is a cp command line as the report shows it: the node's name (NODE: its
// positional argument; paths keep their own), the pod and the work directory generic.
func cpHow(e *env, pod, work, path string, args []string) string {
	out := []string{filepath.Base(path)}
	for _, a := range args {
		a = strings.ReplaceAll(a, work, "DIR")
		a = strings.Replace(a, pod, "POD", 1)
		if rest, ok := strings.CutPrefix(a, e.node+":"); ok {
			a = "NODE:" + rest
		}
		out = append(out, a)
	}
	return strings.Join(out, " ")
}

// pfHow is a port-forward command line with NODE, POD, LOCAL and PORT generic.
func pfHow(e *env, pod, path string, args []string, local, remote int) string {
	out := []string{filepath.Base(path)}
	for i, a := range args {
		switch {
		case a == e.node && i > 0 && args[i-1] != "--address":
			a = "NODE"
		default:
			a = strings.NewReplacer(pod, "POD", strconv.Itoa(local), "LOCAL", strconv.Itoa(remote), "PORT").Replace(a)
		}
		out = append(out, a)
	}
	return strings.Join(out, " ")
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// forwarder is a running port-forward process.
type forwarder struct {
	cmd    *exec.Cmd
	ready  time.Duration // start to the "Forwarding from" line
	stderr *limitedBuffer
	done   chan error
}

// startForwarder runs the forwarder and returns once it says it listens.
func startForwarder(ctx context.Context, path string, args, env []string) (*forwarder, error) {
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = env
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	f := &forwarder{cmd: cmd, stderr: &limitedBuffer{}, done: make(chan error, 1)}
	cmd.Stderr = f.stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	listening := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		said := false
		for sc.Scan() {
			if !said && strings.HasPrefix(sc.Text(), "Forwarding from") {
				said = true
				close(listening)
			}
		}
		f.done <- cmd.Wait()
	}()
	select {
	case <-listening:
		f.ready = time.Since(start)
		return f, nil
	case err := <-f.done:
		return nil, fmt.Errorf("%s exited before forwarding (%v); stderr: %s", filepath.Base(path), err, firstLine(f.stderr.String()))
	case <-time.After(90 * time.Second):
		_ = cmd.Process.Kill()
		<-f.done
		return nil, fmt.Errorf("%s did not forward within 90 s; stderr: %s", filepath.Base(path), firstLine(f.stderr.String()))
	}
}

// stop sends SIGINT, as Ctrl-C would, and waits for the forwarder to end.
func (f *forwarder) stop() error {
	_ = f.cmd.Process.Signal(os.Interrupt)
	select {
	case err := <-f.done:
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.ExitCode() == 130 {
			return nil // node-shell's status for an interrupted session
		}
		if err != nil {
			return fmt.Errorf("after Ctrl-C: %v; stderr: %s", err, firstLine(f.stderr.String()))
		}
		return nil
	case <-time.After(60 * time.Second):
		_ = f.cmd.Process.Kill()
		<-f.done
		return fmt.Errorf("still running 60 s after Ctrl-C")
	}
}

// stressInScript counts and hashes stdin on the node in one pass (the node's sh, no
// bash): "SHA256  -" and then the byte count.
const stressInScript = `d=$(mktemp -d) && mkfifo "$d/p" || exit 125
wc -c <"$d/p" >"$d/n" &
tee "$d/p" | sha256sum; s=$?
wait; cat "$d/n"; rm -rf "$d"; exit $s`

// runStress streams o.stressTransfers transfers of o.stressBytes each way through plain
// node-shell sessions (stdout of `cat FILE`, and stdin into a count and sha256 on the
// node) while a busy loop per core keeps the CPUs saturated, the conditions under which
// streams used to end short with exit 0. Each transfer's bytes and sha256 are checked
// here on both ends; a run that exits 0 with other bytes is a silent truncation.
func runStress(ctx context.Context, e *env, o options, res *results, work string) error {
	file := filepath.Join(work, "stress.bin")
	data, sum, err := randomFile(file, o.stressBytes, 3)
	if err != nil {
		return err
	}
	defer os.Remove(file)
	spinners, err := startSpinners(runtime.NumCPU())
	if err != nil {
		return err
	}
	defer spinners.stop()
	logf("stress: %d busy loops running; %d transfers of %s each way", len(spinners.cmds), o.stressTransfers, size(o.stressBytes))

	out := map[string]*stressResult{}
	type acc struct{ rate, wall, load []float64 }
	accs := map[string]*acc{}
	for _, dir := range []string{"out", "in"} {
		out[dir] = &stressResult{Direction: dir, Bytes: o.stressBytes, Statuses: map[string]int{}, Spinners: len(spinners.cmds)}
		accs[dir] = &acc{}
	}
	out["out"].How = "kubectl-node_shell -n bench NODE -- cat FILE"
	out["in"].How = "kubectl-node_shell -n bench NODE -- sh -c 'tee FIFO | sha256sum; wc -c <FIFO'"
	for i := 0; i < o.stressTransfers; i++ {
		order := []string{"out", "in"}
		if i%2 == 1 { // alternate which direction goes first
			order = []string{"in", "out"}
		}
		for _, dir := range order {
			if err := e.settle(ctx); err != nil {
				return err
			}
			load := loadSample("stress")
			var r procResult
			var err error
			var rate float64
			if dir == "out" {
				h := sha256.New()
				r, err = runProc(ctx, procSpec{Path: e.plugin, Args: []string{"-n", benchNamespace, e.node, "--", "cat", file},
					Env: e.procEnv(), Stdout: h})
				if err == nil && r.Status == 0 {
					if got := hex.EncodeToString(h.Sum(nil)); r.OutBytes != o.stressBytes || got != sum {
						err = fmt.Errorf("%w: exit 0 but %d bytes arrived, sha256 %.12s, want %d, %.12s", errWrongOutput, r.OutBytes, got, o.stressBytes, sum)
					}
				}
				rate = mibPerS(r.OutBytes, r.OutEOF.Sub(r.FirstOut))
			} else {
				var first time.Time
				r, first, err = runWithStdin(ctx, procSpec{Path: e.plugin, Args: []string{"-n", benchNamespace, e.node, "--", "sh", "-c", stressInScript},
					Env: e.procEnv()}, data)
				if err == nil && r.Status == 0 {
					f := strings.Fields(r.Stdout)
					if len(f) != 3 || f[0] != sum || f[2] != strconv.FormatInt(o.stressBytes, 10) {
						err = fmt.Errorf("%w: exit 0 but the node counted %q, want %d bytes, sha256 %.12s", errWrongOutput, strings.TrimSpace(r.Stdout), o.stressBytes, sum)
					}
				}
				rate = mibPerS(o.stressBytes, r.FirstOut.Sub(first))
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			s, a := out[dir], accs[dir]
			s.Transfers++
			s.Statuses[strconv.Itoa(r.Status)]++
			silent := r.Status == 0 && errors.Is(err, errWrongOutput)
			switch {
			case err == nil && r.Status == 0:
				s.Verified++
				a.rate = append(a.rate, rate)
			case silent:
				s.Silent++
			default:
				s.Detected++
				if err == nil {
					err = fmt.Errorf("exited %d; stderr: %s", r.Status, firstLine(r.Stderr))
				}
			}
			a.wall = append(a.wall, ms(r.Wall()))
			a.load = append(a.load, load.Load1)
			logf("stress %2d/%d: %-3s %6.1f MiB/s, wall %6.0f ms, status %d, load %.1f%s", i+1, o.stressTransfers, dir, rate, ms(r.Wall()), r.Status, load.Load1, errSuffix(err))
			if err != nil {
				res.Failures = append(res.Failures, failure{Case: "stress", Tool: "node-shell", What: dir, Round: i + 1, Silent: silent, Error: err.Error()})
				if err := e.cleanUp(ctx); err != nil {
					return err
				}
			}
		}
	}
	for _, dir := range []string{"out", "in"} {
		s, a := out[dir], accs[dir]
		s.MiBPerS, s.WallMS, s.Load1 = summarize(a.rate), summarize(a.wall), summarize(a.load)
		res.Stress = append(res.Stress, *s)
	}
	return nil
}

// runWithStdin runs spec with data on its stdin through a pipe, and returns when the
// first MiB of it was taken.
func runWithStdin(ctx context.Context, spec procSpec, data []byte) (procResult, time.Time, error) {
	pr, pw, err := os.Pipe()
	if err != nil {
		return procResult{}, time.Time{}, err
	}
	const chunk = 1 << 20
	var first time.Time
	writeErr := make(chan error, 1)
	go func() {
		defer pw.Close()
		for off := 0; off < len(data); off += chunk {
			if _, err := pw.Write(data[off:min(off+chunk, len(data))]); err != nil {
				writeErr <- err
				return
			}
			if first.IsZero() {
				first = time.Now()
			}
		}
		writeErr <- nil
	}()
	spec.Stdin = pr
	r, err := runProc(ctx, spec)
	pr.Close()
	werr := <-writeErr
	if err == nil && werr != nil && r.Status == 0 {
		err = fmt.Errorf("%w: exit 0 but stdin was not all taken: %v", errWrongOutput, werr)
	}
	return r, first, err
}

// spinners are busy loops, one per core, at normal priority.
type spinners struct{ cmds []*exec.Cmd }

func startSpinners(n int) (*spinners, error) {
	s := &spinners{}
	for range n {
		cmd := exec.Command("/bin/sh", "-c", "while :; do :; done")
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			s.stop()
			return nil, err
		}
		s.cmds = append(s.cmds, cmd)
	}
	return s, nil
}

func (s *spinners) stop() {
	for _, c := range s.cmds {
		_ = c.Process.Kill()
		_ = c.Wait()
	}
	s.cmds = nil
}

// runTransfers is the cp, port-forward and stress cases, as sections lists them.
func runTransfers(ctx context.Context, e *env, o options, res *results, sections map[string]bool) error {
	work, err := os.MkdirTemp("", "kns-bench-transfer-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	if sections["cp"] || sections["port-forward"] {
		target, err := e.startExecTarget(ctx)
		if err != nil {
			return fmt.Errorf("start the kubectl pod: %w", err)
		}
		defer e.deletePod(target)
		if sections["cp"] {
			res.CpRounds = o.cpRounds
			if err := runCp(ctx, e, o, res, target, work); err != nil {
				return err
			}
		}
		if sections["port-forward"] {
			res.PortForwardRounds = o.pfRounds
			if err := runPortForward(ctx, e, o, res, target); err != nil {
				return err
			}
		}
		e.deletePod(target)
	}
	if sections["stress"] {
		res.StressTransfers = o.stressTransfers
		if err := runStress(ctx, e, o, res, work); err != nil {
			return err
		}
	}
	return nil
}
