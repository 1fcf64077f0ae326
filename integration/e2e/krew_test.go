package e2e

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
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

// TestKrewInstall installs the plugin the way users get it: from a krew custom index (a git
// repository holding plugins/nodeshell.yaml, the repository's manifest with this machine's
// archive, built here as goreleaser lays it out and served over HTTP as a release page
// would). Krew's default index stands in for the real one with its own `node-shell` (a
// script, as the shell-script plugin is): both install side by side, each command runs its
// own plugin. Then kubectl runs ours on the real cluster and completes node names through the
// helper the manifest's caveats tell users to copy.
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
	www := filepath.Join(dir, "www")
	if err := os.MkdirAll(www, 0o755); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.FileServer(http.Dir(www)))
	t.Cleanup(srv.Close)

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
	archive := filepath.Join(www, release.ArchiveName(runtime.GOOS, runtime.GOARCH))
	err = release.WriteTarGz(archive, []release.ArchiveFile{
		{Name: "kubectl-node_shell", Source: bin},
		{Name: "LICENSE", Source: filepath.Join(root, "LICENSE")},
		{Name: "README.md", Source: filepath.Join(root, "README.md")},
		{Name: "kubectl_complete-node_shell", Source: filepath.Join(root, "kubectl_complete-node_shell")},
	})
	if err != nil {
		t.Fatal(err)
	}
	ourIndex := e.gitIndex(filepath.Join(dir, "index-ours"), release.PluginName, e.krewManifest(dir, archive, srv.URL))
	theirIndex := e.gitIndex(filepath.Join(dir, "index-default"), "node-shell", e.scriptPluginManifest(dir, www, srv.URL))

	// kubectl, with krew as its plugin, and nothing else of this machine on PATH.
	krewRoot := filepath.Join(dir, "krew")
	tools := filepath.Join(dir, "tools")
	if err := os.MkdirAll(tools, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, target := range map[string]string{"kubectl": e.cluster.KubectlPath(), "kubectl-krew": krew, "git": "/usr/bin/git"} {
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
			"KREW_DEFAULT_INDEX_URI=" + theirIndex,
		}
		return e.runCommand(cmd, 2*time.Minute)
	}
	mustKubectl := func(args ...string) Result {
		t.Helper()
		r := kubectl(args...)
		if r.Status != 0 {
			t.Fatalf("kubectl %s: status %d\n%s%s", strings.Join(args, " "), r.Status, r.Stdout, r.Stderr)
		}
		return r
	}

	// What `krew install node-shell` gives: the default index's plugin, not ours.
	mustKubectl("krew", "install", "node-shell")
	// The README's two commands.
	mustKubectl("krew", "index", "add", "kubectl-node-shell", ourIndex)
	mustKubectl("krew", "install", "kubectl-node-shell/"+release.PluginName)

	list := string(mustKubectl("krew", "list").Stdout)
	if !strings.Contains(list, "kubectl-node-shell/"+release.PluginName) || !strings.Contains(list, "node-shell") {
		t.Errorf("krew list does not show both plugins:\n%s", list)
	}
	if r := kubectl("node-shell", "--version"); r.Status != 0 || string(r.Stdout) != "the shell-script plugin\n" {
		t.Errorf("kubectl node-shell no longer runs the default index's plugin: status %d, stdout %q", r.Status, r.Stdout)
	}
	r := kubectl(release.PluginName, "--version")
	if r.Status != 0 || !strings.HasPrefix(string(r.Stdout), "kubectl node-shell "+krewVersion+" (commit e2e") {
		t.Errorf("kubectl %s --version: status %d, stdout %q, stderr %q", release.PluginName, r.Status, r.Stdout, r.Stderr)
	}
	// Help and usage errors name the command the user typed.
	if r := kubectl(release.PluginName, "--help"); !strings.Contains(string(r.Stdout), "kubectl "+release.PluginName+" NODE") {
		t.Errorf("kubectl %s --help does not show its own name:\n%s", release.PluginName, r.Stdout)
	}

	// chroot /host is this machine's root: the local cluster's nodes are processes here.
	hostname, err := os.ReadFile("/etc/hostname")
	if err != nil {
		t.Fatal(err)
	}
	node := e.Nodes()[0]
	r = kubectl(release.PluginName, "-n", e.namespace, node, "--", "cat", "/etc/hostname")
	if r.Status != 0 || !bytes.Equal(r.Stdout, hostname) {
		t.Errorf("kubectl %s %s -- cat /etc/hostname: status %d, stdout %q (want %q), stderr %q", release.PluginName, node, r.Status, r.Stdout, hostname, r.Stderr)
	}
	r.AssertOnNode(t, node)
	node = e.Nodes()[len(e.Nodes())-1]
	if r = kubectl(release.PluginName, "-n", e.namespace, node, "--", "sh", "-c", "exit 3"); r.Status != 3 {
		t.Errorf("through kubectl, exit 3 became status %d; stderr %q", r.Status, r.Stderr)
	}
	r.AssertOnNode(t, node)

	// Completion through kubectl: the caveats' cp puts the helper on PATH under the plugin's name.
	helpers, _ := filepath.Glob(filepath.Join(krewRoot, "store", release.PluginName, "*", "kubectl_complete-node_shell"))
	if len(helpers) != 1 {
		t.Fatalf("krew installed %d completion helpers, want 1", len(helpers))
	}
	data, err := os.ReadFile(helpers[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(krewRoot, "bin", "kubectl_complete-"+release.PluginName), data, 0o755); err != nil {
		t.Fatal(err)
	}
	r = kubectl("__complete", release.PluginName, "127.0.0.")
	words, _ := completions(r.Stdout)
	if want := slices.Sorted(slices.Values(e.Nodes())); !slices.Equal(words, want) {
		t.Errorf("kubectl __complete %s 127.0.0.: %q, want %q; stderr %q", release.PluginName, words, want, r.Stderr)
	}

	mustKubectl("krew", "uninstall", release.PluginName)
	if _, err := os.Lstat(filepath.Join(krewRoot, "bin", "kubectl-"+release.PluginName)); !os.IsNotExist(err) {
		t.Errorf("after uninstall, kubectl-%s is still linked: %v", release.PluginName, err)
	}
	if r := kubectl("node-shell", "--version"); string(r.Stdout) != "the shell-script plugin\n" {
		t.Errorf("uninstalling ours touched the other plugin: status %d, stdout %q", r.Status, r.Stdout)
	}
}

// gitIndex makes a krew index at dir: a git repository with plugins/NAME.yaml, the manifest.
func (e *E2E) gitIndex(dir, name, manifest string) string {
	e.t.Helper()
	data, err := os.ReadFile(manifest)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "plugins"), 0o755); err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "plugins", name+".yaml"), data, 0o644); err != nil {
		e.t.Fatal(err)
	}
	for _, args := range [][]string{
		{"init", "-q", "-b", "master"}, {"add", "plugins"},
		{"-c", "user.name=e2e", "-c", "user.email=e2e@example.invalid", "commit", "-q", "-m", "index"},
	} {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			e.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	return dir
}

// scriptPluginManifest is a krew plugin named node-shell whose command prints one line: what
// users of krew's default index get under that name.
func (e *E2E) scriptPluginManifest(dir, www, baseURL string) string {
	e.t.Helper()
	script := filepath.Join(dir, "script", "kubectl-node_shell")
	if err := os.MkdirAll(filepath.Dir(script), 0o755); err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho the shell-script plugin\n"), 0o755); err != nil {
		e.t.Fatal(err)
	}
	archive := filepath.Join(www, "script-plugin.tar.gz")
	if err := release.WriteTarGz(archive, []release.ArchiveFile{{Name: "kubectl-node_shell", Source: script}}); err != nil {
		e.t.Fatal(err)
	}
	sum, err := release.FileSHA256(archive)
	if err != nil {
		e.t.Fatal(err)
	}
	manifest := fmt.Sprintf(`apiVersion: krew.googlecontainertools.github.com/v1alpha2
kind: Plugin
metadata:
  name: node-shell
spec:
  version: v1.11.0
  homepage: https://example.invalid/node-shell
  shortDescription: Stands in for the shell-script plugin
  description: Stands in for the shell-script plugin of the same name.
  platforms:
  - selector:
      matchLabels:
        os: %s
        arch: %s
    uri: %s/script-plugin.tar.gz
    sha256: "%s"
    bin: kubectl-node_shell
`, runtime.GOOS, runtime.GOARCH, baseURL, sum)
	path := filepath.Join(dir, "script", "node-shell.yaml")
	if err := os.WriteFile(path, []byte(manifest), 0o644); err != nil {
		e.t.Fatal(err)
	}
	return path
}

// krewManifest writes the repository's manifest with this machine's platform pointing at
// archive, served under baseURL, and returns its path, named after the plugin because krew
// takes the plugin's name from the file's. The other platforms keep their placeholders.
func (e *E2E) krewManifest(dir, archive, baseURL string) string {
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
		URI: func(a string) string {
			if a == filepath.Base(archive) {
				return baseURL + "/" + a
			}
			return "https://releases.invalid/" + krewVersion + "/" + a
		},
		SHA256: sums,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	path := filepath.Join(dir, release.PluginName+".yaml")
	if err := os.WriteFile(path, filled, 0o644); err != nil {
		e.t.Fatal(err)
	}
	return path
}
