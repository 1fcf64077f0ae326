// Command krew-manifest fills the krew manifest for a goreleaser build: it checks that every
// archive the manifest names is in dist/ with the digest checksums.txt gives, and writes the
// manifest with the release's version, download addresses and digests.
//
//	go run ./integration/cmd/krew-manifest [--dist dist] [--out dist/nodeshell.yaml]
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/kubectl-node-shell/kubectl-node-shell/integration/release"
)

// downloadBase is where a release's archives are published; %s is the tag.
const downloadBase = "https://github.com/kubectl-node-shell/kubectl-node-shell/releases/download/%s/"

func main() {
	dist := flag.String("dist", "dist", "goreleaser's output directory")
	manifest := flag.String("manifest", release.ManifestPath, "the krew manifest to fill")
	out := flag.String("out", "", "where to write the filled manifest (default DIST/nodeshell.yaml)")
	version := flag.String("version", "", "the release's version, v-prefixed (default: from DIST/metadata.json)")
	flag.Parse()
	if *out == "" {
		*out = filepath.Join(*dist, filepath.Base(*manifest))
	}
	if err := run(*dist, *manifest, *out, *version); err != nil {
		fmt.Fprintln(os.Stderr, "krew-manifest:", err)
		os.Exit(1)
	}
}

func run(dist, manifestPath, out, version string) error {
	if version == "" {
		v, err := distVersion(dist)
		if err != nil {
			return err
		}
		version = v
	}
	data, err := os.ReadFile(manifestPath)
	if err != nil {
		return err
	}
	p, err := release.ParseManifest(data)
	if err != nil {
		return err
	}
	sums, err := release.ReadChecksums(filepath.Join(dist, "checksums.txt"))
	if err != nil {
		return err
	}
	for _, pl := range p.Spec.Platforms {
		name := pl.Archive()
		want, ok := sums[name]
		if !ok {
			return fmt.Errorf("%s/%s: %s is not in %s/checksums.txt", pl.OS(), pl.Arch(), name, dist)
		}
		got, err := release.FileSHA256(filepath.Join(dist, name))
		if err != nil {
			return fmt.Errorf("%s/%s: %w", pl.OS(), pl.Arch(), err)
		}
		if got != want {
			return fmt.Errorf("%s: sha256 %s, checksums.txt says %s", name, got, want)
		}
	}
	base := fmt.Sprintf(downloadBase, version)
	filled, err := release.Fill(data, release.Release{
		Version: version,
		URI:     func(archive string) string { return base + archive },
		SHA256:  sums,
	})
	if err != nil {
		return err
	}
	if err := os.WriteFile(out, filled, 0o644); err != nil {
		return err
	}
	fmt.Printf("krew-manifest: %s: %s, %d platforms, archives checked against checksums.txt\n", out, version, len(p.Spec.Platforms))
	return nil
}

// distVersion is the version goreleaser built, from the metadata.json it writes.
func distVersion(dist string) (string, error) {
	data, err := os.ReadFile(filepath.Join(dist, "metadata.json"))
	if err != nil {
		return "", fmt.Errorf("%w (or pass --version)", err)
	}
	var meta struct {
		Version string `json:"version"`
	}
	if err := json.Unmarshal(data, &meta); err != nil || meta.Version == "" {
		return "", fmt.Errorf("%s/metadata.json: no version", dist)
	}
	return "v" + strings.TrimPrefix(meta.Version, "v"), nil
}
