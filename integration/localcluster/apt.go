package localcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
)

// checkRootLinux fails with a clear message where a cluster cannot run.
func checkRootLinux() error {
	if runtime.GOOS != "linux" {
		return fmt.Errorf("localcluster runs only on Linux (this is %s): kubelet needs cgroups, mounts and namespaces", runtime.GOOS)
	}
	if os.Geteuid() != 0 {
		return errors.New("localcluster must run as root: kubelet and containerd need mounts, cgroups and namespaces (try sudo, or run the tests as root)")
	}
	return nil
}

// missingPackages asks dpkg which of packages are not installed. One
// dpkg-query call: a few milliseconds when everything is there.
func missingPackages(ctx context.Context, packages []string) ([]string, error) {
	if _, err := exec.LookPath("dpkg-query"); err != nil {
		return nil, errors.New("dpkg-query not found: localcluster installs its packages with apt and needs Debian or Ubuntu")
	}
	// dpkg-query exits 1 when a package is unknown; the output still lists
	// the known ones.
	out, _ := exec.CommandContext(ctx, "dpkg-query", append([]string{"-W", "-f=${Package} ${Status}\n"}, packages...)...).Output()
	installed := map[string]bool{}
	for _, line := range strings.Split(string(out), "\n") {
		name, status, ok := strings.Cut(line, " ")
		if ok && status == "install ok installed" {
			installed[strings.Split(name, ":")[0]] = true
		}
	}
	var missing []string
	for _, p := range packages {
		if !installed[p] {
			missing = append(missing, p)
		}
	}
	return missing, nil
}

// installPackages installs the missing packages. A temporary policy-rc.d
// that exits 101 ("action forbidden") keeps the containerd package from
// starting a system-wide containerd that nobody asked for; it is created
// only if absent, and removed afterwards.
func installPackages(ctx context.Context, log io.Writer) error {
	return installAptPackages(ctx, log, aptPackages)
}

// installAptPackages installs those of packages that are missing, as installPackages.
func installAptPackages(ctx context.Context, log io.Writer, packages []string) error {
	missing, err := missingPackages(ctx, packages)
	if err != nil || len(missing) == 0 {
		return err
	}
	fmt.Fprintf(log, "localcluster: apt-get install %s\n", strings.Join(missing, " "))
	const prc = "/usr/sbin/policy-rc.d"
	if _, err := os.Lstat(prc); os.IsNotExist(err) {
		if err := os.WriteFile(prc, []byte("#!/bin/sh\nexit 101\n"), 0o755); err != nil {
			return fmt.Errorf("writing %s: %w", prc, err)
		}
		defer os.Remove(prc)
	}
	run := func(args ...string) error {
		cmd := exec.CommandContext(ctx, "apt-get", args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("apt-get %s: %w\n%s", strings.Join(args, " "), err, tail(out.String(), 20))
		}
		return nil
	}
	if err := run("update", "-qq"); err != nil {
		return err
	}
	return run(append([]string{"install", "-y", "-qq", "--no-install-recommends"}, missing...)...)
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
