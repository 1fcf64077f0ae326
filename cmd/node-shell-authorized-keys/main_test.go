package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestUsageErrorsExit2(t *testing.T) {
	for _, args := range [][]string{{}, {"a", "b"}, {"--bogus", "root"}} {
		var out, errOut bytes.Buffer
		if code := run(args, &out, &errOut); code != 2 || out.Len() != 0 {
			t.Errorf("run(%q) = %d, stdout %q", args, code, out.String())
		}
	}
}

// With nothing to go on, the binary prints no key, logs why, and exits 0 so that sshd
// goes on with its other methods.
func TestNothingReachableGivesNoKeyAndExits0(t *testing.T) {
	dir := t.TempDir()
	logFile := filepath.Join(dir, "decisions.log")
	var out, errOut bytes.Buffer
	start := time.Now()
	code := run([]string{"--kubeconfig", filepath.Join(dir, "missing"), "--cache-dir", filepath.Join(dir, "cache"), "--timeout", "1s", "--log-file", logFile, "root"}, &out, &errOut)
	if code != 0 || out.Len() != 0 || time.Since(start) > 3*time.Second {
		t.Fatalf("code %d, stdout %q, took %s", code, out.String(), time.Since(start))
	}
	if !strings.Contains(errOut.String(), "user=root node=- source=none keys=0") {
		t.Fatalf("stderr %q", errOut.String())
	}
	logged, err := os.ReadFile(logFile)
	if err != nil || !strings.Contains(string(logged), "source=none") {
		t.Fatalf("log file: %q, %v", logged, err)
	}
}
