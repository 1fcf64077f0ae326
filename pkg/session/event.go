package session

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/sessionlog"
)

// Reasons of the Events a session leaves on its pod (or the agent's), for `kubectl get events`.
const (
	EventReasonStarted = "NodeShellSessionStarted"
	EventReasonEnded   = "NodeShellSessionEnded"
	// EventController is the Events' reportingController.
	EventController = "kubectl-node-shell.io/client"
)

// eventTimeout bounds the writing of one Event: it never holds a session up for long.
const eventTimeout = 3 * time.Second

// maxEventNote is the apiserver's limit on an Event's note.
const maxEventNote = 1024

// sessionEvents writes a session's start and end as Events on the pod it runs in, in that
// pod's namespace: a record in the apiserver, beside the node's own (pkg/sessionlog), that
// an admin lists with kubectl get events. The client writes them, so they are best effort:
// a user who may not create events there (setup's Role lets them) leaves none, and the
// node's record is the one that does not depend on the client.
type sessionEvents struct {
	s    *Session
	pod  *corev1.Pod
	rec  sessionlog.Record
	done chan struct{}
}

// eventsStarted writes the start Event in the background, so it costs the session no time.
func (s *Session) eventsStarted(pod *corev1.Pod, rec sessionlog.Record, command string, at time.Time) *sessionEvents {
	e := &sessionEvents{s: s, pod: pod, rec: rec, done: make(chan struct{})}
	go func() {
		defer close(e.done)
		e.write(EventReasonStarted, at, startNote(rec, command))
	}()
	return e
}

// endEvents writes e's end Event, after its start's, in the background: while the pod is
// deleted, not before. Close waits for it.
func (h *Handle) endEvents(e *sessionEvents, start time.Time, how string) {
	at := h.s.Clock.Now()
	h.events.Add(1)
	go func() {
		defer h.events.Done()
		<-e.done
		e.write(EventReasonEnded, at, endNote(e.rec, at.Sub(start), how))
	}()
}

func (e *sessionEvents) write(reason string, at time.Time, note string) {
	instance := e.rec.ClientHost
	if instance == "" {
		instance = "unknown-host"
	}
	ev := &eventsv1.Event{
		ObjectMeta:          metav1.ObjectMeta{GenerateName: "node-shell-session-", Namespace: e.pod.Namespace},
		EventTime:           metav1.NewMicroTime(at),
		ReportingController: EventController,
		ReportingInstance:   cut(instance, 128),
		Action:              "Exec",
		Reason:              reason,
		Type:                corev1.EventTypeNormal,
		Note:                cut(note, maxEventNote),
		Regarding: corev1.ObjectReference{APIVersion: "v1", Kind: "Pod", Namespace: e.pod.Namespace,
			Name: e.pod.Name, UID: e.pod.UID},
		Related: &corev1.ObjectReference{APIVersion: "v1", Kind: "Node", Name: e.rec.Node},
	}
	ctx, cancel := context.WithTimeout(context.Background(), eventTimeout)
	defer cancel()
	_, _ = e.s.Client.EventsV1().Events(e.pod.Namespace).Create(ctx, ev, metav1.CreateOptions{})
}

// startNote says who started what, where: "alice: session 0123abcd on node n1 (chroot, in
// its own pod, with a terminal): journalctl -u kubelet; reason: INC-1".
func startNote(r sessionlog.Record, command string) string {
	user := r.User
	if user == "" {
		user = "(unknown user)"
	}
	where := "in its own pod"
	if r.Agent {
		where = "on the node's agent"
	}
	tty := ""
	if r.TTY {
		tty = ", with a terminal"
	}
	if command == "" {
		command = "(login shell)"
	}
	note := fmt.Sprintf("%s: session %s on node %s (%s, %s%s): %s", user, sessionlog.ShortID(r.ID), r.Node, r.Mode, where, tty, command)
	if r.Reason != "" {
		note += "; reason: " + r.Reason
	}
	return note
}

// endNote: "alice: session 0123abcd on node n1 ended after 3s: exit status 0".
func endNote(r sessionlog.Record, took time.Duration, how string) string {
	user := r.User
	if user == "" {
		user = "(unknown user)"
	}
	return fmt.Sprintf("%s: session %s on node %s ended after %s: %s", user, sessionlog.ShortID(r.ID), r.Node, took.Round(time.Second), how)
}
