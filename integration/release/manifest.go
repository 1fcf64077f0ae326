// Package release checks and finishes what a release ships: the krew manifest
// (krew-manifest/nodeshell.yaml) and the archives goreleaser builds (.goreleaser.yaml).
// It is test and release tooling, never imported by the plugin.
package release

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path"
	"regexp"
	"strings"

	"sigs.k8s.io/yaml"
)

// PluginName is the plugin's name in krew, and so the command krew links: `kubectl
// nodeshell`. krew's default index already has a `node-shell` (the shell-script plugin); a
// second one by that name would make krew skip ours as installed, or replace theirs.
const PluginName = "nodeshell"

// ManifestPath is the krew manifest, relative to the repository root. krew takes the plugin's
// name from the file's name.
const ManifestPath = "krew-manifest/" + PluginName + ".yaml"

// Plugin is the part of krew's index.Plugin (sigs.k8s.io/krew/pkg/index) these checks read.
// krew's own types are not imported: its module requires client-go v11, which would replace
// ours in this module's build list.
type Plugin struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		Version          string     `json:"version"`
		Homepage         string     `json:"homepage"`
		ShortDescription string     `json:"shortDescription"`
		Description      string     `json:"description"`
		Caveats          string     `json:"caveats"`
		Platforms        []Platform `json:"platforms"`
	} `json:"spec"`
}

// Platform is one spec.platforms entry.
type Platform struct {
	Selector struct {
		MatchLabels map[string]string `json:"matchLabels"`
	} `json:"selector"`
	URI    string `json:"uri"`
	Sha256 string `json:"sha256"`
	Bin    string `json:"bin"`
	Files  []struct {
		From string `json:"from"`
		To   string `json:"to"`
	} `json:"files"`
}

// OS and Arch are the platform's selector labels.
func (p Platform) OS() string   { return p.Selector.MatchLabels["os"] }
func (p Platform) Arch() string { return p.Selector.MatchLabels["arch"] }

// Archive is the file name the platform's uri ends in.
func (p Platform) Archive() string { return path.Base(p.URI) }

// ParseManifest reads a krew manifest, rejecting fields krew would not know.
func ParseManifest(data []byte) (*Plugin, error) {
	var p Plugin
	if err := yaml.UnmarshalStrict(data, &p); err != nil {
		return nil, fmt.Errorf("parse krew manifest: %w", err)
	}
	return &p, nil
}

// ArchiveName is the archive goreleaser builds for a platform (see .goreleaser.yaml).
func ArchiveName(goos, goarch string) string {
	ext := "tar.gz"
	if goos == "windows" {
		ext = "zip"
	}
	return fmt.Sprintf("kubectl-node_shell_%s_%s.%s", goos, goarch, ext)
}

// Release is what Fill writes into a manifest.
type Release struct {
	// Version is spec.version, a v-prefixed semantic version.
	Version string
	// URI returns the download address of an archive.
	URI func(archive string) string
	// SHA256 maps each archive's name to its hex digest.
	SHA256 map[string]string
}

var (
	versionLine = regexp.MustCompile(`^(  version:\s*)\S+\s*$`)
	uriLine     = regexp.MustCompile(`^(\s*(?:- )?uri:\s*)(\S+)\s*$`)
	sha256Line  = regexp.MustCompile(`^(\s*sha256:\s*)\S+\s*$`)
	hexDigest   = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// Fill returns the manifest with spec.version, each platform's uri and its sha256 replaced.
// It edits lines instead of re-encoding the YAML, so comments and layout stay as reviewed.
// Every platform's archive must have a digest: a manifest is never half filled.
func Fill(manifest []byte, r Release) ([]byte, error) {
	if !strings.HasPrefix(r.Version, "v") {
		return nil, fmt.Errorf("version %q: krew versions start with v", r.Version)
	}
	var out bytes.Buffer
	archive := ""
	platforms := 0
	sc := bufio.NewScanner(bytes.NewReader(manifest))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case versionLine.MatchString(line):
			line = versionLine.ReplaceAllString(line, "${1}"+r.Version)
		case uriLine.MatchString(line):
			m := uriLine.FindStringSubmatch(line)
			archive = path.Base(m[2])
			line = m[1] + r.URI(archive)
			platforms++
		case sha256Line.MatchString(line):
			if archive == "" {
				return nil, fmt.Errorf("sha256 before any uri in the manifest")
			}
			sum, ok := r.SHA256[archive]
			if !ok {
				return nil, fmt.Errorf("no sha256 for %s", archive)
			}
			if !hexDigest.MatchString(sum) {
				return nil, fmt.Errorf("sha256 of %s is %q, not 64 lowercase hex digits", archive, sum)
			}
			line = sha256Line.ReplaceAllString(line, "${1}"+`"`+sum+`"`)
			archive = ""
		}
		out.WriteString(line)
		out.WriteByte('\n')
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if platforms == 0 {
		return nil, fmt.Errorf("no platform uri in the manifest")
	}
	return out.Bytes(), nil
}

// ReadChecksums parses a goreleaser checksums.txt ("<sha256>  <file>" per line) into a map
// from file name to digest.
func ReadChecksums(file string) (map[string]string, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	sums := map[string]string{}
	for i, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		fields := strings.Fields(line)
		if len(fields) != 2 || !hexDigest.MatchString(fields[0]) {
			return nil, fmt.Errorf("%s:%d: want \"<sha256>  <file>\", got %q", file, i+1, line)
		}
		sums[fields[1]] = fields[0]
	}
	return sums, nil
}
