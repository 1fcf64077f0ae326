package podspec

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestEntryFor(t *testing.T) {
	for _, mode := range []Mode{ModeChroot, ModeNsenter, ModeContainer} {
		e, err := EntryFor(mode)
		if err != nil || e.Mode() != mode {
			t.Errorf("EntryFor(%q) = %v, %v; want the entry of that name", mode, e, err)
		}
	}
	if _, err := EntryFor("ssh"); err == nil || !strings.Contains(err.Error(), `unknown mode "ssh": use one of chroot, nsenter, container`) {
		t.Errorf("EntryFor(ssh) error = %v, want one listing the modes", err)
	}
}

// Each entry's table: the argv for a command, a login shell, and a TTY's TERM.
func TestEntryArgv(t *testing.T) {
	nsenter := []string{"sh", "-c", nsenterScript, "node-shell-nsenter"}
	tests := map[Entry][]struct {
		name    string
		command []string
		term    string
		want    []string
	}{
		Chroot{}: {
			{"command", []string{"cat", "/etc/os-release"}, "", []string{"chroot", "/host", "cat", "/etc/os-release"}},
			{"shell with TERM", nil, "xterm-256color", append([]string{"env", "TERM=xterm-256color", "chroot", "/host"}, loginShell...)},
		},
		Nsenter{}: {
			{"command", []string{"true"}, "", append(nsenter, "true")},
			{"shell with TERM", nil, "xterm", append(append([]string{"env", "TERM=xterm"}, nsenter...), loginShell...)},
		},
		Container{}: {
			{"command", []string{"ls", "/host"}, "", []string{"ls", "/host"}},
			{"shell", nil, "", loginShell},
		},
	}
	for entry, cases := range tests {
		for _, tc := range cases {
			t.Run(string(entry.Mode())+" "+tc.name, func(t *testing.T) {
				if diff := cmp.Diff(tc.want, entry.Argv(tc.command, tc.term)); diff != "" {
					t.Errorf("(-want +got):\n%s", diff)
				}
			})
		}
	}
}

// Each entry's pod: all reach the node with the same access today, record their own mode,
// and arm the same watchdog.
func TestEntryPod(t *testing.T) {
	for _, entry := range Entries {
		t.Run(string(entry.Mode()), func(t *testing.T) {
			got, err := Build(Spec{Node: "node-1", Namespace: "default", Entry: entry, HeartbeatTimeout: 20 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			want := wantPod()
			want.Annotations[AnnotationMode] = string(entry.Mode())
			want.Annotations[AnnotationHeartbeatTimeout] = "20s"
			want.Spec.Containers[0].Command[4] = "20"
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
