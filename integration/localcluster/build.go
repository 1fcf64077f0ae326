package localcluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// Build makes sure everything a cluster needs is on the machine: the Debian
// packages (containerd, runc, CNI plugins, static busybox), the busybox
// image layer, etcd, and kube-apiserver, kubelet, kube-controller-manager and
// kubectl built from the Go module proxy. Each step is skipped when its
// output exists, so a second Build takes milliseconds; a cold one takes
// about 10 minutes on 2 cores, and prints progress to log.
//
// Binaries go to $KNS_CACHE (default ~/.cache/kubectl-node-shell) under
// bin/kubernetes-VERSION and bin/etcd-VERSION. Go's own module and build
// caches are the user's usual ones.
//
// kubernetesVersion "" means $KNS_KUBERNETES_VERSION or
// DefaultKubernetesVersion (see KubernetesVersion).
func Build(ctx context.Context, kubernetesVersion string, log io.Writer) error {
	if log == nil {
		log = io.Discard
	}
	version, err := KubernetesVersion(kubernetesVersion)
	if err != nil {
		return err
	}
	if err := checkRootLinux(); err != nil {
		return err
	}
	cache, err := cacheRoot()
	if err != nil {
		return err
	}
	b := binariesIn(cache, version)
	// Two processes building at once (two test packages on a cold cache)
	// would compile everything twice on a small machine: the second waits,
	// then finds everything built.
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return fmt.Errorf("creating cache %s: %w", cache, err)
	}
	lock, err := lockFile(ctx, filepath.Join(cache, "build.lock"), log, "another build to finish")
	if err != nil {
		return err
	}
	defer lock.unlock()
	if err := installPackages(ctx, log); err != nil {
		return fmt.Errorf("installing packages: %w", err)
	}
	if err := buildBusyboxLayer(ctx, b.Layer, log); err != nil {
		return fmt.Errorf("building the busybox layer: %w", err)
	}
	if err := buildEtcd(ctx, cache, b, log); err != nil {
		return fmt.Errorf("building etcd %s: %w", EtcdVersion, err)
	}
	if err := buildKubernetes(ctx, cache, version, b, log); err != nil {
		return fmt.Errorf("building kubernetes %s: %w", version, err)
	}
	return nil
}

// built reports whether every path exists: the build writes to a temporary
// name and renames, so an existing output is a complete one.
func built(paths ...string) bool {
	for _, p := range paths {
		if fi, err := os.Stat(p); err != nil || fi.Size() == 0 {
			return false
		}
	}
	return true
}

// etcdGoMod is a scratch module whose build of go.etcd.io/etcd/server/v3 (the
// package is etcd's main) uses the release's own versions of etcd's other
// modules.
func etcdGoMod() string {
	return fmt.Sprintf(`module localbuild-etcd

go 1.24

require go.etcd.io/etcd/server/v3 %[1]s

replace (
	go.etcd.io/etcd/api/v3 => go.etcd.io/etcd/api/v3 %[1]s
	go.etcd.io/etcd/client/pkg/v3 => go.etcd.io/etcd/client/pkg/v3 %[1]s
	go.etcd.io/etcd/client/v3 => go.etcd.io/etcd/client/v3 %[1]s
	go.etcd.io/etcd/pkg/v3 => go.etcd.io/etcd/pkg/v3 %[1]s
)
`, EtcdVersion)
}

func buildEtcd(ctx context.Context, cache string, b binaries, log io.Writer) error {
	if built(b.Etcd) {
		return nil
	}
	src := filepath.Join(cache, "src", "etcd-"+EtcdVersion)
	if err := os.MkdirAll(src, 0o755); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(b.Etcd), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(src, "go.mod"), []byte(etcdGoMod()), 0o644); err != nil {
		return fmt.Errorf("writing scratch module: %w", err)
	}
	tmp := b.Etcd + ".tmp" // a killed build's is overwritten
	fmt.Fprintf(log, "localcluster: building etcd %s (cold: ~1 min)\n", EtcdVersion)
	if _, err := runGo(ctx, src, log, "etcd", "build", "-trimpath", "-ldflags", "-s -w", "-o", tmp, "go.etcd.io/etcd/server/v3"); err != nil {
		return err
	}
	return os.Rename(tmp, b.Etcd)
}

// stagingReplace matches the lines of Kubernetes' go.mod that point a
// staging module at the source tree: "k8s.io/api => ./staging/src/k8s.io/api".
var goDirective = regexp.MustCompile(`(?m)^go\s+(\S+)\s*$`)

var stagingReplace = regexp.MustCompile(`(?m)^\s*(k8s\.io/\S+)\s*=>\s*\./staging/src/`)

// kubernetesGoMod turns upstream's go.mod into a scratch module that can
// build k8s.io/kubernetes/cmd/...: k8s.io/kubernetes is not meant to be used
// as a module, and its staging replaces point at directories that are not
// in the module zip. Each is replaced by the published v0.X.Y tag instead
// (31 modules for 1.34, from k8s.io/api to k8s.io/sample-controller).
func kubernetesGoMod(upstream []byte, version string) (string, error) {
	staging := "v0." + strings.TrimPrefix(version, "v1.")
	// The scratch module's go line must not be older than upstream's, or the
	// go command refuses to build without a go.mod update.
	goLine := "1.24"
	if m := goDirective.FindSubmatch(upstream); m != nil {
		goLine = string(m[1])
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "module localbuild\n\ngo %s\n\nrequire k8s.io/kubernetes %s\n\nreplace (\n", goLine, version)
	matches := stagingReplace.FindAllSubmatch(upstream, -1)
	if len(matches) == 0 {
		return "", errors.New("no staging replace directives in k8s.io/kubernetes's go.mod")
	}
	for _, m := range matches {
		fmt.Fprintf(&sb, "\t%s => %s %s\n", m[1], m[1], staging)
	}
	sb.WriteString(")\n")
	return sb.String(), nil
}

// kubernetesLDFlags stamps the version, as upstream's release build does:
// kubelet reports it to the apiserver, kubectl prints it.
func kubernetesLDFlags(version string) string {
	ver := strings.TrimPrefix(version, "v")
	parts := strings.SplitN(ver, ".", 3)
	const p = "k8s.io/component-base/version."
	return fmt.Sprintf("-s -w -X %sgitVersion=%s -X %sgitMajor=%s -X %sgitMinor=%s -X %sgitTreeState=clean",
		p, version, p, parts[0], p, parts[1], p)
}

func buildKubernetes(ctx context.Context, cache, version string, b binaries, log io.Writer) error {
	outs := make([]string, len(kubeCommands))
	pkgs := make([]string, len(kubeCommands))
	for i, c := range kubeCommands {
		outs[i] = b.kube(c)
		pkgs[i] = "k8s.io/kubernetes/cmd/" + c
	}
	if built(outs...) {
		return nil
	}
	src := filepath.Join(cache, "src", "kubernetes-"+version)
	if err := os.MkdirAll(src, 0o755); err != nil {
		return err
	}
	fmt.Fprintf(log, "localcluster: kubernetes %s: resolving the module\n", version)
	out, err := runGo(ctx, src, log, "", "mod", "download", "-json", "k8s.io/kubernetes@"+version)
	if err != nil {
		return err
	}
	var mod struct{ GoMod string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.GoMod == "" {
		return fmt.Errorf("go mod download k8s.io/kubernetes@%s: no go.mod in %q", version, out)
	}
	upstream, err := os.ReadFile(mod.GoMod)
	if err != nil {
		return fmt.Errorf("reading upstream go.mod: %w", err)
	}
	gomod, err := kubernetesGoMod(upstream, version)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(src, "go.mod"), []byte(gomod), 0o644); err != nil {
		return fmt.Errorf("writing scratch module: %w", err)
	}
	// One `go build` for the four commands so shared packages compile once,
	// into a temporary directory: a killed build never leaves half a binary
	// under a final name. A killed build's directory is removed here (the
	// build lock is held).
	stale, _ := filepath.Glob(filepath.Join(b.KubeDir, ".build-*"))
	for _, d := range stale {
		os.RemoveAll(d)
	}
	tmp := filepath.Join(b.KubeDir, fmt.Sprintf(".build-%d", os.Getpid()))
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	fmt.Fprintf(log, "localcluster: building %s %s (cold: ~9 min on 2 cores, a few seconds when Go's build cache is warm)\n",
		strings.Join(kubeCommands, ", "), version)
	args := append([]string{"build", "-trimpath", "-ldflags", kubernetesLDFlags(version), "-o", tmp + "/"}, pkgs...)
	if _, err := runGo(ctx, src, log, "kubernetes", args...); err != nil {
		return err
	}
	for i, c := range kubeCommands {
		if err := os.Rename(filepath.Join(tmp, c), outs[i]); err != nil {
			return fmt.Errorf("installing %s: %w", c, err)
		}
	}
	return nil
}

// goTool finds the go command, also under sudo's secure_path.
func goTool() (string, error) {
	if p, err := exec.LookPath("go"); err == nil {
		return p, nil
	}
	for _, p := range []string{"/usr/local/go/bin/go", "/usr/lib/go/bin/go"} {
		if fileExists(p) {
			return p, nil
		}
	}
	return "", errors.New("the go command is required to build the cluster's binaries; put it in PATH")
}

// goEnv is the environment of the builds: static binaries, the scratch
// module may be updated (-mod=mod), no VCS stamping (the scratch module has
// no repository), and the installed toolchain, never a downloaded one.
func goEnv() []string {
	env := []string{"CGO_ENABLED=0", "GOFLAGS=-mod=mod -buildvcs=false", "GOTOOLCHAIN=local", "GOWORK=off"}
	for _, kv := range os.Environ() {
		switch k, _, _ := strings.Cut(kv, "="); k {
		case "CGO_ENABLED", "GOFLAGS", "GOTOOLCHAIN", "GOWORK":
		default:
			env = append(env, kv)
		}
	}
	return env
}

// runGo runs the go command in dir and returns its stdout. While it runs,
// and if what is set, it prints a progress line every 30 s; go itself is
// silent while compiling.
func runGo(ctx context.Context, dir string, log io.Writer, what string, args ...string) ([]byte, error) {
	gobin, err := goTool()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, gobin, args...)
	cmd.Dir = dir
	cmd.Env = goEnv()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting go %s: %w", args[0], err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	tick := time.NewTicker(30 * time.Second)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			if what != "" {
				fmt.Fprintf(log, "localcluster: %s built in %s\n", what, time.Since(start).Round(time.Second))
			}
			if err != nil {
				return nil, fmt.Errorf("go %s (in %s): %w\n%s", strings.Join(args, " "), dir, err, tail(stderr.String(), 30))
			}
			return stdout.Bytes(), nil
		case <-tick.C:
			if what != "" {
				fmt.Fprintf(log, "localcluster: building %s: %s so far, %d modules downloaded\n",
					what, time.Since(start).Round(time.Second), strings.Count(stderr.String(), "go: downloading "))
			}
		}
	}
}
