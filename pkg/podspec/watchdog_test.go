package podspec

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// runWatchdog runs watchdogScript under the local sh, its files moved into a temp dir, and
// feeds it the heartbeat values of change (one a second) before leaving the file alone.
// It returns how long the script ran and what it printed.
func runWatchdog(t *testing.T, timeout string, changes int) (time.Duration, string) {
	t.Helper()
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh on this machine")
	}
	dir := t.TempDir()
	hb, termLog := filepath.Join(dir, "heartbeat"), filepath.Join(dir, "termination-log")
	script := strings.NewReplacer(heartbeatDir+"/"+heartbeatFile, hb, "/dev/termination-log", termLog).Replace(watchdogScript)
	if err := os.WriteFile(hb, []byte("v0"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(sh, "-c", script, "node-shell-watchdog", timeout)
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= changes; i++ {
		time.Sleep(time.Second)
		// Written the way the kubelet does: a new file renamed over the old one.
		tmp := hb + ".tmp"
		if err := os.WriteFile(tmp, []byte("v"+string(rune('0'+i))), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, hb); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("watchdog: %v", err)
		}
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("watchdog did not exit within 30s")
	}
	msg, _ := os.ReadFile(termLog)
	return time.Since(start), string(msg)
}

func TestWatchdogScript(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for several seconds")
	}
	t.Run("expires when the heartbeat stops", func(t *testing.T) {
		t.Parallel()
		took, msg := runWatchdog(t, "2", 0)
		if took < 2*time.Second || took > 4*time.Second {
			t.Errorf("watchdog with a 2s timeout and no heartbeat ran %v, want 2-4s", took)
		}
		if !strings.HasPrefix(msg, WatchdogExpiredMessage) {
			t.Errorf("termination message = %q, want it to start with %q", msg, WatchdogExpiredMessage)
		}
	})
	t.Run("lives while the heartbeat changes", func(t *testing.T) {
		t.Parallel()
		// Five changes a second apart outlive the 2s timeout twice over; it then expires
		// 2-3s after the last change.
		took, _ := runWatchdog(t, "2", 5)
		if took < 7*time.Second || took > 9*time.Second {
			t.Errorf("watchdog ran %v, want 7-9s (5s of heartbeats, then the 2s timeout)", took)
		}
	})
}

func TestHeartbeatRoundTrip(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 678_000_000, time.FixedZone("CET", 3600))
	v := FormatHeartbeat(at)
	if v != "2026-01-02T02:04:05.678Z" {
		t.Errorf("FormatHeartbeat = %q, want UTC with milliseconds", v)
	}
	got, err := ParseHeartbeat(v)
	if err != nil || !got.Equal(at) {
		t.Errorf("ParseHeartbeat(%q) = %v, %v; want %v", v, got, err, at)
	}
}

func TestHeartbeatTimeoutOf(t *testing.T) {
	built := func(timeout time.Duration, annotation string) *corev1.Pod {
		p, err := Build(Spec{Node: "n1", HeartbeatTimeout: timeout})
		if err != nil {
			t.Fatal(err)
		}
		p.Annotations[AnnotationHeartbeatTimeout] = annotation
		return p
	}
	tests := []struct {
		name string
		pod  *corev1.Pod
		want time.Duration
	}{
		{"the watchdog's own timeout", built(10*time.Second, "10s"), 10 * time.Second},
		{"an annotation patched to claim more is ignored", built(10*time.Second, "8760h"), 10 * time.Second},
		{"rounded up to whole seconds, as the watchdog counts", built(1500*time.Millisecond, ""), 2 * time.Second},
		{"no watchdog: the default", &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{AnnotationHeartbeatTimeout: "10s"}}}, DefaultHeartbeatTimeout},
	}
	for _, tc := range tests {
		if got := HeartbeatTimeoutOf(tc.pod); got != tc.want {
			t.Errorf("%s: HeartbeatTimeoutOf = %v, want %v", tc.name, got, tc.want)
		}
	}
}
