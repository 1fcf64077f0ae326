package podspec

import (
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// Entry is one way onto a node, shaped like kubectl debug's ProfileApplier: it owns the
// pod changes that way needs, the argv that enters the node, and the watchdog that stops
// the pod when the client is gone. Adding a way onto a node is a new Entry in a file of
// its own, listed in Entries; nothing else switches on the mode.
type Entry interface {
	// Mode names the entry: the --mode value and the pod's mode annotation.
	Mode() Mode
	// Apply makes the pod changes this entry needs to reach the node.
	Apply(pod *corev1.Pod)
	// Argv is what is exec'd in the container to run command on the node (a login shell
	// when command is empty); term, when set, becomes the command's TERM.
	Argv(command []string, term string) []string
	// Watchdog makes the pod stop itself once its heartbeat has not changed for timeout.
	Watchdog(pod *corev1.Pod, timeout time.Duration)
}

// Entries lists every way onto a node, in the order help text shows them.
var Entries = []Entry{Chroot{}, Nsenter{}, Container{}}

// Modes lists the valid modes in the order help text shows them.
var Modes = func() []Mode {
	modes := make([]Mode, len(Entries))
	for i, e := range Entries {
		modes[i] = e.Mode()
	}
	return modes
}()

// EntryFor returns the entry named by mode.
func EntryFor(mode Mode) (Entry, error) {
	for _, e := range Entries {
		if e.Mode() == mode {
			return e, nil
		}
	}
	names := make([]string, len(Modes))
	for i, m := range Modes {
		names[i] = string(m)
	}
	return nil, fmt.Errorf("unknown mode %q: use one of %s", mode, strings.Join(names, ", "))
}

// ParseMode validates a mode name.
func ParseMode(s string) (Mode, error) {
	e, err := EntryFor(Mode(s))
	if err != nil {
		return "", err
	}
	return e.Mode(), nil
}
