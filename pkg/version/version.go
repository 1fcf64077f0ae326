// Package version says which build of node-shell is running. Release builds stamp the
// variables with -ldflags -X (see .goreleaser.yaml and the Makefile); other builds fall back
// to what the Go toolchain recorded in the binary.
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// Set by -ldflags "-X github.com/kubectl-node-shell/kubectl-node-shell/pkg/version.Version=v1.2.3"
// (and .Commit, .Date). Empty or "dev" means not stamped.
var (
	// Version is the release tag, e.g. v0.1.0.
	Version = "dev"
	// Commit is the git commit the binary was built from.
	Commit = ""
	// Date is the commit's date in RFC 3339 (UTC): builds of one commit are reproducible.
	Date = ""
)

// Info is the version report of `kubectl node-shell version`; its JSON and YAML field names
// are a stable interface for scripts.
type Info struct {
	Version   string `json:"version"`
	Commit    string `json:"commit,omitempty"`
	Date      string `json:"date,omitempty"`
	GoVersion string `json:"goVersion"`
	Platform  string `json:"platform"`
}

// Get returns the stamped version, completed from the binary's build info where the linker
// was not told: `go install …@v0.1.0` records the module version, a build in a git checkout
// records the commit and its date.
func Get() Info {
	bi, _ := debug.ReadBuildInfo()
	return get(bi)
}

func get(bi *debug.BuildInfo) Info {
	info := Info{
		Version:   Version,
		Commit:    Commit,
		Date:      Date,
		GoVersion: runtime.Version(),
		Platform:  runtime.GOOS + "/" + runtime.GOARCH,
	}
	if info.Version == "" {
		info.Version = "dev"
	}
	if bi == nil {
		return info
	}
	if info.Version == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		info.Version = bi.Main.Version
	}
	var revision, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			revision = s.Value
		case "vcs.time":
			// goreleaser's stand-in date when it could not read git is the zero time.
			if info.Date == "" || strings.HasPrefix(info.Date, "0001-01-01") {
				info.Date = s.Value
			}
		case "vcs.modified":
			modified = s.Value
		}
	}
	// goreleaser stamps "none" when it could not read git (a snapshot in a clone without a
	// remote); the toolchain's record is better than that.
	if (info.Commit == "" || info.Commit == "none") && revision != "" {
		info.Commit = revision
		if modified == "true" {
			info.Commit += "-dirty"
		}
	}
	return info
}

// String is the one-line form printed by --version.
func (i Info) String() string {
	s := "kubectl node-shell " + i.Version
	switch {
	case i.Commit != "" && i.Date != "":
		s += fmt.Sprintf(" (commit %s, %s)", shortCommit(i.Commit), i.Date)
	case i.Commit != "":
		s += fmt.Sprintf(" (commit %s)", shortCommit(i.Commit))
	}
	return s
}

// shortCommit abbreviates a full hash as git does (12 hex digits), keeping a -dirty mark.
func shortCommit(c string) string {
	const n = 12
	hash, dirty := c, ""
	if h, ok := strings.CutSuffix(c, "-dirty"); ok {
		hash, dirty = h, "-dirty"
	}
	if len(hash) > n {
		hash = hash[:n]
	}
	return hash + dirty
}
