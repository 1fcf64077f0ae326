package release

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

func readManifest(t *testing.T) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(RepoRoot(), ManifestPath))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// goreleaserConfig is the part of .goreleaser.yaml the manifest depends on.
type goreleaserConfig struct {
	Builds []struct {
		Binary string   `json:"binary"`
		Goos   []string `json:"goos"`
		Goarch []string `json:"goarch"`
		Env    []string `json:"env"`
	} `json:"builds"`
	Archives []struct {
		NameTemplate    string   `json:"name_template"`
		Formats         []string `json:"formats"`
		FormatOverrides []struct {
			Goos    string   `json:"goos"`
			Formats []string `json:"formats"`
		} `json:"format_overrides"`
		Files []string `json:"files"`
	} `json:"archives"`
	Checksum struct {
		NameTemplate string `json:"name_template"`
		Algorithm    string `json:"algorithm"`
	} `json:"checksum"`
}

// TestManifestMatchesGoreleaser checks that every platform of the krew manifest downloads an
// archive goreleaser builds, under the name it builds it, and installs files that archive has.
func TestManifestMatchesGoreleaser(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(RepoRoot(), ".goreleaser.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg goreleaserConfig
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		t.Fatal(err)
	}
	// The plugin's build and archive come first; the node side's (node-shell-authorized-keys,
	// docs/ssh.md) follow in archives of their own, which krew never downloads.
	if len(cfg.Builds) == 0 || len(cfg.Archives) == 0 || cfg.Builds[0].Binary != "kubectl-node_shell" {
		t.Fatalf("want the plugin's build and archive first in .goreleaser.yaml, got %d builds and %d archives", len(cfg.Builds), len(cfg.Archives))
	}
	build, archive := cfg.Builds[0], cfg.Archives[0]
	if !slices.Contains(build.Env, "CGO_ENABLED=0") {
		t.Errorf("build env %q: want CGO_ENABLED=0 (static binaries)", build.Env)
	}
	if cfg.Checksum.NameTemplate != "checksums.txt" || cfg.Checksum.Algorithm != "sha256" {
		t.Errorf("checksum = %+v, want sha256 into checksums.txt (krew-manifest reads it)", cfg.Checksum)
	}

	p, err := ParseManifest(readManifest(t))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, goos := range build.Goos {
		for _, goarch := range build.Goarch {
			want[goos+"/"+goarch] = true
		}
	}
	for _, pl := range p.Spec.Platforms {
		goos, goarch := pl.OS(), pl.Arch()
		key := goos + "/" + goarch
		if !want[key] {
			t.Errorf("manifest platform %s is not built by goreleaser (or listed twice)", key)
			continue
		}
		delete(want, key)

		format := archive.Formats[0]
		for _, o := range archive.FormatOverrides {
			if o.Goos == goos {
				format = o.Formats[0]
			}
		}
		built := strings.NewReplacer("{{ .Os }}", goos, "{{ .Arch }}", goarch).Replace(archive.NameTemplate) + "." + format
		if pl.Archive() != built || built != ArchiveName(goos, goarch) {
			t.Errorf("%s: manifest downloads %s, goreleaser builds %s, ArchiveName says %s", key, pl.Archive(), built, ArchiveName(goos, goarch))
		}

		bin := build.Binary
		if goos == "windows" {
			bin += ".exe"
		}
		if pl.Bin != bin {
			t.Errorf("%s: bin = %q, want %q", key, pl.Bin, bin)
		}
		inArchive := append([]string{bin}, archive.Files...)
		var froms []string
		for _, f := range pl.Files {
			froms = append(froms, f.From)
			if !slices.Contains(inArchive, f.From) || f.To != "." {
				t.Errorf("%s: files entry %s -> %s: want a top-level file of the archive %q, to .", key, f.From, f.To, inArchive)
			}
		}
		for _, must := range []string{bin, "LICENSE"} {
			if !slices.Contains(froms, must) {
				t.Errorf("%s: files %q lack %s (krew-index requires the license to be installed)", key, froms, must)
			}
		}
	}
	for missing := range want {
		t.Errorf("goreleaser builds %s but the manifest has no platform for it", missing)
	}

	if !strings.Contains(p.Spec.Caveats, "root on the node") || !strings.Contains(p.Spec.Caveats, "privileged") {
		t.Errorf("caveats must say what the plugin can do and what it needs:\n%s", p.Spec.Caveats)
	}
}

// TestManifestPassesKrewValidation runs krew's own validator (the one krew-index CI runs) on
// the manifest as committed and as filled for a release.
func TestManifestPassesKrewValidation(t *testing.T) {
	if testing.Short() {
		t.Skip("builds krew's validator")
	}
	validator, err := Tool("validate-krew-manifest")
	if err != nil {
		t.Fatal(err)
	}
	validate := func(t *testing.T, manifest string) {
		t.Helper()
		out, err := exec.Command(validator, "-manifest", manifest, "-skip-install").CombinedOutput()
		if err != nil {
			t.Fatalf("validate-krew-manifest %s: %v\n%s", manifest, err, out)
		}
	}
	t.Run("committed", func(t *testing.T) {
		validate(t, filepath.Join(RepoRoot(), ManifestPath))
	})
	t.Run("filled", func(t *testing.T) {
		filled, err := Fill(readManifest(t), fakeRelease())
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), PluginName+".yaml")
		if err := os.WriteFile(path, filled, 0o644); err != nil {
			t.Fatal(err)
		}
		validate(t, path)
	})
}

// fakeRelease has a digest for every archive the manifest names: the digest of its name.
func fakeRelease() Release {
	sums := map[string]string{}
	for _, goos := range []string{"linux", "darwin", "windows"} {
		for _, goarch := range []string{"amd64", "arm64"} {
			name := ArchiveName(goos, goarch)
			sum := sha256.Sum256([]byte(name))
			sums[name] = hex.EncodeToString(sum[:])
		}
	}
	return Release{
		Version: "v1.2.3",
		URI:     func(a string) string { return "https://example.com/v1.2.3/" + a },
		SHA256:  sums,
	}
}

func TestFill(t *testing.T) {
	manifest := readManifest(t)
	r := fakeRelease()
	filled, err := Fill(manifest, r)
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParseManifest(filled)
	if err != nil {
		t.Fatal(err)
	}
	if p.Spec.Version != "v1.2.3" {
		t.Errorf("version = %q", p.Spec.Version)
	}
	for _, pl := range p.Spec.Platforms {
		if pl.URI != "https://example.com/v1.2.3/"+ArchiveName(pl.OS(), pl.Arch()) {
			t.Errorf("%s/%s: uri = %s", pl.OS(), pl.Arch(), pl.URI)
		}
		if pl.Sha256 != r.SHA256[pl.Archive()] {
			t.Errorf("%s/%s: sha256 = %s, want %s", pl.OS(), pl.Arch(), pl.Sha256, r.SHA256[pl.Archive()])
		}
	}
	// Only the filled fields change: comments and the rest of the text are kept.
	if got, want := strings.Count(string(filled), "\n"), strings.Count(string(manifest), "\n"); got != want {
		t.Errorf("filled manifest has %d lines, the original %d", got, want)
	}
	if !strings.HasPrefix(string(filled), "# Krew plugin manifest.") {
		t.Error("the header comment was lost")
	}

	t.Run("missing digest", func(t *testing.T) {
		r := fakeRelease()
		delete(r.SHA256, ArchiveName("darwin", "arm64"))
		if _, err := Fill(manifest, r); err == nil || !strings.Contains(err.Error(), "no sha256 for kubectl-node_shell_darwin_arm64.tar.gz") {
			t.Errorf("err = %v, want the missing archive named", err)
		}
	})
	t.Run("bad digest", func(t *testing.T) {
		r := fakeRelease()
		r.SHA256[ArchiveName("linux", "amd64")] = "XYZ"
		if _, err := Fill(manifest, r); err == nil {
			t.Error("a non-hex digest was accepted")
		}
	})
	t.Run("version without v", func(t *testing.T) {
		r := fakeRelease()
		r.Version = "1.2.3"
		if _, err := Fill(manifest, r); err == nil {
			t.Error("version 1.2.3 was accepted")
		}
	})
}

func TestReadChecksums(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "checksums.txt")
	sum := strings.Repeat("ab", 32)
	if err := os.WriteFile(good, []byte(sum+"  kubectl-node_shell_linux_amd64.tar.gz\n"+sum+"  kubectl-node_shell_windows_amd64.zip\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sums, err := ReadChecksums(good)
	if err != nil {
		t.Fatal(err)
	}
	if len(sums) != 2 || sums["kubectl-node_shell_windows_amd64.zip"] != sum {
		t.Errorf("sums = %v", sums)
	}
	bad := filepath.Join(dir, "bad.txt")
	if err := os.WriteFile(bad, []byte("not a checksum line\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadChecksums(bad); err == nil || !strings.Contains(err.Error(), "bad.txt:1") {
		t.Errorf("err = %v, want the bad line located", err)
	}
}

// distEnv names a goreleaser dist/ directory (from `make release-snapshot`) to check.
const distEnv = "KNS_RELEASE_DIST"

// TestReleaseSnapshot checks a goreleaser build the way krew-index CI checks a submission:
// krew's validator installs every platform of the filled manifest (dist/nodeshell.yaml),
// downloading the archives from a local server standing in for the release page, and
// requires the license among the installed files. Only `make release-snapshot` runs it.
func TestReleaseSnapshot(t *testing.T) {
	dist := os.Getenv(distEnv)
	if dist == "" {
		t.Skipf("set %s to a goreleaser dist/ directory (make release-snapshot does)", distEnv)
	}
	validator, err := Tool("validate-krew-manifest")
	if err != nil {
		t.Fatal(err)
	}
	krew, err := Tool("krew")
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dist, PluginName+".yaml"))
	if err != nil {
		t.Fatalf("%v (krew-manifest writes it)", err)
	}
	p, err := ParseManifest(data)
	if err != nil {
		t.Fatal(err)
	}
	sums := map[string]string{}
	for _, pl := range p.Spec.Platforms {
		sum, err := FileSHA256(filepath.Join(dist, pl.Archive()))
		if err != nil {
			t.Fatalf("%s/%s: %v", pl.OS(), pl.Arch(), err)
		}
		if sum != pl.Sha256 {
			t.Errorf("%s: manifest sha256 %s, archive's %s", pl.Archive(), pl.Sha256, sum)
		}
		sums[pl.Archive()] = sum
	}

	srv := httptest.NewServer(http.FileServer(http.Dir(dist)))
	defer srv.Close()
	local, err := Fill(data, Release{Version: p.Spec.Version, URI: func(a string) string { return srv.URL + "/" + a }, SHA256: sums})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	manifest := filepath.Join(dir, PluginName+".yaml")
	if err := os.WriteFile(manifest, local, 0o644); err != nil {
		t.Fatal(err)
	}
	// The validator runs `kubectl krew install`; installing is all krew does there, so a
	// kubectl that hands its arguments to krew stands in for a real one.
	bin := filepath.Join(dir, "bin")
	shim := "#!/bin/sh\n[ \"$1\" = krew ] && shift\nKREW_NO_UPGRADE_CHECK=1 exec " + krew + " \"$@\"\n"
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bin, "kubectl"), []byte(shim), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(validator, "-manifest", manifest)
	cmd.Env = []string{"PATH=" + bin + ":/usr/bin:/bin", "HOME=" + dir}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("validate-krew-manifest: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}

// TestManifestName: krew links the plugin as kubectl-<name>, so the name is the command; it
// must not be the default index's node-shell, and the caveats must tell users that command.
func TestManifestName(t *testing.T) {
	p, err := ParseManifest(readManifest(t))
	if err != nil {
		t.Fatal(err)
	}
	if p.Metadata.Name != PluginName || PluginName == "node-shell" {
		t.Errorf("manifest name %q, want %q (not node-shell, which krew's default index has)", p.Metadata.Name, PluginName)
	}
	caveats := string(readManifest(t))
	for _, want := range []string{"kubectl " + PluginName, "store/" + PluginName + "/", "kubectl_complete-" + PluginName} {
		if !strings.Contains(caveats, want) {
			t.Errorf("manifest does not mention %q", want)
		}
	}
}
