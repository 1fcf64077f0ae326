package main

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// machine is what the numbers were measured on.
type machine struct {
	CPU      string `json:"cpu"`
	Cores    int    `json:"cores"`
	MemoryMB int64  `json:"memory_mb"`
	Kernel   string `json:"kernel"`
	OS       string `json:"os"`
}

func readMachine() machine {
	m := machine{Cores: runtime.NumCPU()}
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		sc := bufio.NewScanner(strings.NewReader(string(data)))
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) >= 2 && f[0] == "MemTotal:" {
				kb, _ := strconv.ParseInt(f[1], 10, 64)
				m.MemoryMB = kb / 1000
			}
		}
	}
	if data, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(data))
	}
	if data, err := os.ReadFile("/etc/os-release"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, "PRETTY_NAME="); ok {
				m.OS = strings.Trim(v, `"`)
			}
		}
	}
	return m
}

// load is the machine's load average at one point of the run: on a shared machine it shows
// how much else was running.
type load struct {
	At     string  `json:"at"`
	Time   string  `json:"time"`
	Load1  float64 `json:"load1"`
	Load5  float64 `json:"load5"`
	Active int     `json:"runnable"`
}

func loadSample(at string) load {
	l := load{At: at, Time: time.Now().UTC().Format(time.RFC3339)}
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return l
	}
	f := strings.Fields(string(data))
	if len(f) >= 4 {
		l.Load1, _ = strconv.ParseFloat(f[0], 64)
		l.Load5, _ = strconv.ParseFloat(f[1], 64)
		running, _, _ := strings.Cut(f[3], "/")
		l.Active, _ = strconv.Atoi(running)
	}
	return l
}

// versions are the versions of everything measured.
type versions struct {
	Go         string `json:"go"`
	Kubernetes string `json:"kubernetes_server"`
	Kubectl    string `json:"kubectl"`
	Containerd string `json:"containerd"`
	Runc       string `json:"runc"`
	// Commit is the checkout the binaries were built from (make bench builds them first);
	// Dirty lists the files that differed from it.
	Commit string   `json:"commit"`
	Dirty  []string `json:"dirty,omitempty"`
}

func readVersions(ctx context.Context, e *env) versions {
	v := versions{Go: runtime.Version()}
	if sv, err := e.client.Discovery().ServerVersion(); err == nil {
		v.Kubernetes = sv.GitVersion
	}
	if out, err := exec.CommandContext(ctx, e.kubectl, "version", "--client", "-o", "json").Output(); err == nil {
		var kv struct {
			ClientVersion struct{ GitVersion string } `json:"clientVersion"`
		}
		if json.Unmarshal(out, &kv) == nil {
			v.Kubectl = kv.ClientVersion.GitVersion
		}
	}
	v.Containerd = firstOutputLine(ctx, "containerd", "--version")
	v.Runc = firstOutputLine(ctx, "runc", "--version")
	if out, err := exec.CommandContext(ctx, "git", "rev-parse", "--short=12", "HEAD").Output(); err == nil {
		v.Commit = strings.TrimSpace(string(out))
	}
	if out, err := exec.CommandContext(ctx, "git", "status", "--porcelain", "--untracked-files=all").Output(); err == nil {
		for _, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
			if len(line) > 3 && affectsBinaries(line[3:]) {
				v.Dirty = append(v.Dirty, line[3:])
			}
		}
	}
	return v
}

func firstOutputLine(ctx context.Context, name string, args ...string) string {
	out, err := exec.CommandContext(ctx, name, args...).Output()
	if err != nil {
		return ""
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return line
}

// affectsBinaries reports whether a change to path can change node-shell or the floor.
func affectsBinaries(path string) bool {
	for _, p := range []string{"cmd/", "pkg/", "bench/floor/", "bench/nodepod/", "go.mod", "go.sum"} {
		if strings.HasPrefix(path, p) {
			return true
		}
	}
	return false
}

// clusterProcesses are the cluster's processes a stream passes through, by comm.
var clusterProcesses = []string{"kube-apiserver", "kubelet", "containerd", "containerd-shim"}

// processCPU is the CPU time (user + system) each cluster process has used so far, by pid,
// with its name. Only one cluster runs on the machine, so every such process is this run's.
type processCPU map[int]struct {
	comm string
	cpu  time.Duration
}

func clusterCPU() processCPU {
	out := processCPU{}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return out
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		open, closing := strings.IndexByte(string(data), '('), strings.LastIndexByte(string(data), ')')
		if open < 0 || closing < open {
			continue
		}
		comm := string(data[open+1 : closing])
		if !slices.Contains(clusterProcesses, comm) {
			continue
		}
		f := strings.Fields(string(data[closing+1:]))
		if len(f) < 13 {
			continue
		}
		utime, _ := strconv.ParseInt(f[11], 10, 64)
		stime, _ := strconv.ParseInt(f[12], 10, 64)
		out[pid] = struct {
			comm string
			cpu  time.Duration
		}{comm, time.Duration(utime+stime) * time.Second / clockTicks}
	}
	return out
}

// cpuSince is the CPU each kind of cluster process used between before and now, by name:
// processes that started in between count whole; those that exited in between are lost
// (a node-shell pod's shim, once its pod is deleted).
func (now processCPU) cpuSince(before processCPU) map[string]time.Duration {
	out := map[string]time.Duration{}
	for pid, p := range now {
		out[p.comm] += p.cpu - before[pid].cpu
	}
	return out
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat's times: 100 on every Linux this runs on.
const clockTicks = 100
