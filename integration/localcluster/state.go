package localcluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// clusterSpec is saved as the marker file of the runtime directory. It is
// everything needed to act on a running cluster from another process (the
// CLI's down and status, a test's child process, the next Up after a crash):
// paths, binaries, and who owns the cluster.
type clusterSpec struct {
	Dir        string   `json:"dir"`
	State      string   `json:"state"`
	Nodes      int      `json:"nodes"`
	Kubernetes string   `json:"kubernetesVersion"`
	Etcd       string   `json:"etcdVersion"`
	Binaries   binaries `json:"binaries"`
	Containerd string   `json:"containerd"`
	Runc       string   `json:"runc"`
	Registry   string   `json:"registryExecutable"`
	// CreatedDir is set when Up created Dir, so Down removes it entirely;
	// otherwise Down removes only what Up put in it.
	CreatedDir bool `json:"createdDir"`
	// Owner is the process the cluster belongs to. Zero means detached (the
	// CLI's up): the cluster lives until someone runs down. Otherwise, once
	// the owner is gone the cluster is leftovers that the next Up removes.
	Owner   processID `json:"owner"`
	Started time.Time `json:"started"`
}

// processID identifies a process for good: a pid plus its start time, which
// differs for a recycled pid.
type processID struct {
	PID   int    `json:"pid,omitempty"`
	Start uint64 `json:"start,omitempty"`
}

func selfID() processID {
	_, start, _ := procStat(os.Getpid())
	return processID{PID: os.Getpid(), Start: start}
}

// alive reports whether the process still runs.
func (p processID) alive() bool {
	if p.PID == 0 {
		return false
	}
	state, start, ok := procStat(p.PID)
	return ok && state != 'Z' && start == p.Start
}

func writeSpec(l layout, spec clusterSpec) error {
	data, err := json.MarshalIndent(spec, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding cluster spec: %w", err)
	}
	return writeFileAtomic(l.specFile(), append(data, '\n'), 0o644)
}

func readSpec(state string) (clusterSpec, error) {
	var spec clusterSpec
	data, err := os.ReadFile(filepath.Join(state, markerName))
	if err != nil {
		return spec, fmt.Errorf("reading cluster spec: %w", err)
	}
	if err := json.Unmarshal(data, &spec); err != nil {
		return spec, fmt.Errorf("decoding %s: %w", filepath.Join(state, markerName), err)
	}
	return spec, nil
}

// pointer is the marker file in the requested directory.
type pointer struct {
	State      string `json:"state"`
	CreatedDir bool   `json:"createdDir"`
}

func writePointer(l layout, created bool) error {
	data, _ := json.Marshal(pointer{State: l.state, CreatedDir: created})
	return writeFileAtomic(l.pointerFile(), append(data, '\n'), 0o644)
}

func readPointer(dir string) (pointer, error) {
	var p pointer
	data, err := os.ReadFile(filepath.Join(dir, markerName))
	if err != nil {
		return p, err
	}
	if err := json.Unmarshal(data, &p); err != nil {
		return p, fmt.Errorf("decoding %s: %w", filepath.Join(dir, markerName), err)
	}
	return p, nil
}

// stateDirs lists the runtime directories under stateRoot: the clusters
// that run, or whose teardown never happened.
func stateDirs() []string {
	entries, err := os.ReadDir(stateRoot)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() {
			out = append(out, filepath.Join(stateRoot, e.Name()))
		}
	}
	return out
}

// machineLock serializes Up and Down on this machine: the ports, the bridge
// and the cgroup name are fixed, so two clusters can never run at once, and
// two test packages starting at the same time must not both start one. It is
// a flock on stateRoot/lock, released by the kernel if the process dies.
type machineLock struct{ f *os.File }

func lockMachine(ctx context.Context, log io.Writer) (*machineLock, error) {
	if err := os.MkdirAll(stateRoot, 0o755); err != nil {
		return nil, fmt.Errorf("creating %s: %w", stateRoot, err)
	}
	return lockFile(ctx, filepath.Join(stateRoot, "lock"), log, "another process to finish starting or stopping a cluster")
}

// lockFile takes an exclusive flock on path, polling so that ctx can cancel
// the wait, and says every 30 s what it is waiting for.
func lockFile(ctx context.Context, path string, log io.Writer, waitingFor string) (*machineLock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening lock %s: %w", path, err)
	}
	for waited := time.Duration(0); ; waited += 200 * time.Millisecond {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return &machineLock{f: f}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("locking %s: %w", path, err)
		}
		if waited%(30*time.Second) == 0 {
			fmt.Fprintf(log, "localcluster: waiting for %s (lock %s)\n", waitingFor, path)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("waiting for lock %s: %w", path, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (m *machineLock) unlock() {
	if m != nil && m.f != nil {
		_ = syscall.Flock(int(m.f.Fd()), syscall.LOCK_UN)
		m.f.Close()
		m.f = nil
	}
}
