package release

import (
	"bytes"
	"fmt"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// VersionPackage is the package whose Version, Commit and Date variables release builds
// stamp with -ldflags -X.
const VersionPackage = "github.com/kubectl-node-shell/kubectl-node-shell/pkg/version"

// RepoRoot is the repository's top directory, found from this file's place in it.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Tool returns the path of a release tool (goreleaser, krew, validate-krew-manifest), built
// from the Go module proxy and cached by hack/tools.sh on first use.
func Tool(name string) (string, error) {
	cmd := exec.Command("bash", filepath.Join(RepoRoot(), "hack", "tools.sh"), name)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("hack/tools.sh %s: %w\n%s", name, err, stderr.String())
	}
	return strings.TrimSpace(stdout.String()), nil
}
