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
	took, msg, _ := runWatchdogWithRecords(t, timeout, changes, nil)
	return took, msg
}

// runWatchdogWithRecords is runWatchdog with session records listed in the pod's sessions
// file; it returns the records' contents when the watchdog has exited.
func runWatchdogWithRecords(t *testing.T, timeout string, changes int, records []string) (time.Duration, string, []string) {
	t.Helper()
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh on this machine")
	}
	dir := t.TempDir()
	hb, termLog := filepath.Join(dir, "heartbeat"), filepath.Join(dir, "termination-log")
	sessions := filepath.Join(dir, "sessions")
	var list string
	for i, r := range records {
		p := filepath.Join(dir, "record-"+string(rune('a'+i)))
		if err := os.WriteFile(p, []byte(r), 0o600); err != nil {
			t.Fatal(err)
		}
		list += p + "\n"
	}
	if err := os.WriteFile(sessions, []byte(list), 0o600); err != nil {
		t.Fatal(err)
	}
	script := strings.NewReplacer(heartbeatDir+"/"+heartbeatFile, hb, "/dev/termination-log", termLog, PodSessionsFile, sessions).Replace(watchdogScript)
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
	took := time.Since(start)
	var after []string
	for i := range records {
		b, _ := os.ReadFile(filepath.Join(dir, "record-"+string(rune('a'+i))))
		after = append(after, string(b))
	}
	return took, string(msg), after
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
	t.Run("ends the records of its sessions that have no end", func(t *testing.T) {
		t.Parallel()
		open := `{"event":"start","time":"2026-12-01T10:00:00Z","session":{"id":"a"}}` + "\n"
		ended := open + `{"event":"end","time":"2026-12-01T10:00:01Z","exitStatus":0}` + "\n"
		_, _, after := runWatchdogWithRecords(t, "1", 0, []string{open, ended})
		lines := strings.Split(strings.TrimSpace(after[0]), "\n")
		if len(lines) != 2 || !strings.Contains(lines[1], `"event":"end"`) || !strings.Contains(lines[1], `"endedBy":"the pod's watchdog: no heartbeat from the client for 1s"`) {
			t.Errorf("the open record after the watchdog: %q; want its end, by the watchdog", after[0])
		}
		if after[1] != ended {
			t.Errorf("an ended record was changed: %q", after[1])
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
