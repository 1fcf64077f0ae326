package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-node-shell/kubectl-node-shell/integration/release"
)

// krewVersion is the version the test build is stamped with and the manifest installs.
const krewVersion = "v0.1.0-e2e"

// TestKrewInstall installs the plugin the way users get it: krew, the repository's manifest,
// an archive laid out as goreleaser lays out a release (built here for this machine, its
// digest filled into the manifest). Then kubectl runs it on the real cluster and completes
// node names through the helper the manifest's caveats tell users to copy.
func TestKrewInstall(t *testing.T) {
	if testing.Short() {
		t.Skip("builds krew")
	}
	e := newE2E(t)
	root := release.RepoRoot()
	dir := t.TempDir()
	krew, err := release.Tool("krew")
	if err != nil {
		t.Fatal(err)
	}

	// The archive: a stamped build and the files the release archive has.
	bin := filepath.Join(dir, "build", "kubectl-node_shell")
	build := exec.Command("go", "build", "-trimpath",
		"-ldflags", "-X "+release.VersionPackage+".Version="+krewVersion+" -X "+release.VersionPackage+".Commit=e2e",
		"-o", bin, "./cmd/kubectl-node_shell")
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	archive := filepath.Join(dir, release.ArchiveName(runtime.GOOS, runtime.GOARCH))
	err = release.WriteTarGz(archive, []release.ArchiveFile{
		{Name: "kubectl-node_shell", Source: bin},
		{Name: "LICENSE", Source: filepath.Join(root, "LICENSE")},
		{Name: "README.md", Source: filepath.Join(root, "README.md")},
		{Name: "kubectl_complete-node_shell", Source: filepath.Join(root, "kubectl_complete-node_shell")},
	})
	if err != nil {
		t.Fatal(err)
	}
	manifest := e.krewManifest(dir, archive)

	// kubectl, with krew as its plugin, and nothing else of this machine on PATH.
	krewRoot := filepath.Join(dir, "krew")
	tools := filepath.Join(dir, "tools")
	if err := os.MkdirAll(tools, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, target := range map[string]string{"kubectl": e.cluster.KubectlPath(), "kubectl-krew": krew} {
		if err := os.Symlink(target, filepath.Join(tools, name)); err != nil {
			t.Fatal(err)
		}
	}
	kubectl := func(args ...string) Result {
		t.Helper()
		cmd := exec.Command(filepath.Join(tools, "kubectl"), args...)
		cmd.Env = []string{
			"PATH=" + tools + ":" + filepath.Join(krewRoot, "bin") + ":/usr/bin:/bin",
			"HOME=" + e.home,
			"KUBECONFIG=" + e.kubeconfig,
			"KREW_ROOT=" + krewRoot,
			"KREW_NO_UPGRADE_CHECK=1",
		}
		return e.runCommand(cmd, time.Minute)
	}

	if r := kubectl("krew", "install", "--manifest="+manifest, "--archive="+archive); r.Status != 0 {
		t.Fatalf("krew install: status %d\n%s%s", r.Status, r.Stdout, r.Stderr)
	}
	// krew's list and uninstall refuse to run without a clone of the plugin index, which
	// this machine cannot fetch; install --manifest never reads it, so an empty one will do.
	if err := os.MkdirAll(filepath.Join(krewRoot, "index", "default", ".git"), 0o755); err != nil {
		t.Fatal(err)
	}
	if r := kubectl("krew", "list"); !strings.Contains(string(r.Stdout), "node-shell") {
		t.Errorf("krew list does not show node-shell:\n%s", r.Stdout)
	}

	r := kubectl("node-shell", "--version")
	if r.Status != 0 || !strings.HasPrefix(string(r.Stdout), "kubectl node-shell "+krewVersion+" (commit e2e") {
		t.Errorf("kubectl node-shell --version: status %d, stdout %q, stderr %q", r.Status, r.Stdout, r.Stderr)
	}

	// chroot /host is this machine's root: the local cluster's nodes are processes here.
	hostname, err := os.ReadFile("/etc/hostname")
	if err != nil {
		t.Fatal(err)
	}
	node := e.Nodes()[0]
	r = kubectl("node-shell", "-n", e.namespace, node, "--", "cat", "/etc/hostname")
	if r.Status != 0 || !bytes.Equal(r.Stdout, hostname) {
		t.Errorf("kubectl node-shell %s -- cat /etc/hostname: status %d, stdout %q (want %q), stderr %q", node, r.Status, r.Stdout, hostname, r.Stderr)
	}
	r.AssertOnNode(t, node)
	node = e.Nodes()[len(e.Nodes())-1]
	if r = kubectl("node-shell", "-n", e.namespace, node, "--", "sh", "-c", "exit 3"); r.Status != 3 {
		t.Errorf("through kubectl, exit 3 became status %d; stderr %q", r.Status, r.Stderr)
	}
	r.AssertOnNode(t, node)

	// Completion through kubectl: the caveats' cp puts the helper on PATH.
	helpers, _ := filepath.Glob(filepath.Join(krewRoot, "store", "node-shell", "*", "kubectl_complete-node_shell"))
	if len(helpers) != 1 {
		t.Fatalf("krew installed %d completion helpers, want 1", len(helpers))
	}
	data, err := os.ReadFile(helpers[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(krewRoot, "bin", "kubectl_complete-node_shell"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	r = kubectl("__complete", "node-shell", "127.0.0.")
	words, _ := completions(r.Stdout)
	if want := slices.Sorted(slices.Values(e.Nodes())); !slices.Equal(words, want) {
		t.Errorf("kubectl __complete node-shell 127.0.0.: %q, want %q; stderr %q", words, want, r.Stderr)
	}

	if r := kubectl("krew", "uninstall", "node-shell"); r.Status != 0 {
		t.Errorf("krew uninstall: status %d\n%s", r.Status, r.Stderr)
	}
	if _, err := os.Lstat(filepath.Join(krewRoot, "bin", "kubectl-node_shell")); !os.IsNotExist(err) {
		t.Errorf("after uninstall, kubectl-node_shell is still linked: %v", err)
	}
}

// krewManifest writes the repository's manifest with this machine's platform pointing at
// archive (by digest; krew's --archive replaces the download) and returns its path, named
// node-shell.yaml because krew takes the plugin's name from the file's. The other platforms
// keep their placeholders.
func (e *E2E) krewManifest(dir, archive string) string {
	e.t.Helper()
	data, err := os.ReadFile(filepath.Join(release.RepoRoot(), release.ManifestPath))
	if err != nil {
		e.t.Fatal(err)
	}
	p, err := release.ParseManifest(data)
	if err != nil {
		e.t.Fatal(err)
	}
	sum, err := release.FileSHA256(archive)
	if err != nil {
		e.t.Fatal(err)
	}
	sums := map[string]string{}
	for _, pl := range p.Spec.Platforms {
		sums[pl.Archive()] = pl.Sha256
	}
	sums[filepath.Base(archive)] = sum
	filled, err := release.Fill(data, release.Release{
		Version: krewVersion,
		URI:     func(a string) string { return "https://releases.invalid/" + krewVersion + "/" + a },
		SHA256:  sums,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	path := filepath.Join(dir, "node-shell.yaml")
	if err := os.WriteFile(path, filled, 0o644); err != nil {
		e.t.Fatal(err)
	}
	return path
}
