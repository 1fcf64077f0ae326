package session

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/crash"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/leftover"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/podspec"
)

// sweepGrace is how long the end of a session waits for the background sweep of leftovers
// to finish before it cancels it: it must never hold up the user.
const sweepGrace = time.Second

// keepAlive is everything that runs beside a session, off its critical path: the sweep of
// leftover pods (concurrent with the create), then the heartbeat that keeps the pod's
// watchdog from stopping the container.
type keepAlive struct {
	s      *Session
	parent context.Context // the start's: once it is cancelled, nothing waits for the sweep
	ctx    context.Context
	cancel context.CancelFunc
	sweep  chan struct{}
	hbDone chan struct{}
}

// startKeepAlive starts, when asked for, the sweep of namespace. It and the heartbeat run
// until stop, whatever becomes of ctx.
func (s *Session) startKeepAlive(ctx context.Context, namespace string) *keepAlive {
	k := &keepAlive{s: s, parent: ctx, sweep: make(chan struct{})}
	k.ctx, k.cancel = context.WithCancel(context.WithoutCancel(ctx))
	crash.Go(func() {
		defer close(k.sweep)
		if s.SweepLeftovers {
			s.reportSweep(namespace, leftover.Sweep(k.ctx, s.Client, namespace, s.serverNow))
		}
	}, s.crashed)
	return k
}

// Sweep removes namespace's leftover node-shell pods and says which, as a session's
// background sweep does (SweepLeftovers): a fleet sweeps once for all of its sessions.
func (s *Session) Sweep(ctx context.Context, namespace string) {
	if s.Reporter == nil {
		s.Reporter = discardReporter{}
	}
	s.reportSweep(namespace, leftover.Sweep(ctx, s.Client, namespace, s.serverNow))
}

// reportSweep says in one line which leftovers of namespace the sweep removed.
func (s *Session) reportSweep(namespace string, removed []leftover.Removed) {
	if len(removed) == 0 {
		return
	}
	what := make([]string, len(removed))
	for i, r := range removed {
		what[i] = fmt.Sprintf("%s on node %s (%s)", r.Pod.Name, r.Pod.Spec.NodeName, r.Verdict.Reason)
	}
	s.Reporter.Warning(fmt.Sprintf("removed %d leftover node-shell pod(s) in namespace %s: %s",
		len(removed), namespace, strings.Join(what, "; ")))
}

// serverNow is the apiserver's time, or zero when unknown (then nothing is judged stale).
func (s *Session) serverNow() time.Time {
	if s.ServerClock == nil {
		return time.Time{}
	}
	now, _ := s.ServerClock.Now()
	return now
}

// heartbeat starts renewing pod's heartbeat.
func (k *keepAlive) heartbeat(pod *corev1.Pod) {
	h := &heartbeat{
		client:   k.s.Client,
		pod:      pod,
		interval: RenewInterval(k.s.spec.HeartbeatTimeout),
		timeout:  k.s.spec.HeartbeatTimeout,
		clock:    k.s.Clock,
		reporter: k.s.Reporter,
	}
	k.hbDone = make(chan struct{})
	crash.Go(func() {
		defer close(k.hbDone)
		h.run(k.ctx)
	}, k.s.crashed)
}

// stop ends the heartbeat at once and gives the sweep at most sweepGrace to finish, or
// no time at all when the start was cancelled (a signal: the user is waiting to get out).
func (k *keepAlive) stop() {
	select {
	case <-k.sweep:
	case <-k.parent.Done():
	case <-k.s.Clock.After(sweepGrace):
	}
	k.cancel()
	if k.hbDone != nil {
		<-k.hbDone
	}
}

// RenewInterval is how often the client renews the heartbeat: four renewals per timeout,
// so that up to three can fail (a slow apiserver, a dropped request) without the watchdog
// stopping a live session.
func RenewInterval(timeout time.Duration) time.Duration {
	if timeout <= 0 {
		timeout = podspec.DefaultHeartbeatTimeout
	}
	return timeout / 4
}

// WhoAmI asks the apiserver who it authenticates the client as, for the pod's user
// annotation. An apiserver that cannot say (before 1.28, or the request is refused) gets "".
func WhoAmI(ctx context.Context, client kubernetes.Interface) string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	res, err := client.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		return ""
	}
	return res.Status.UserInfo.Username
}

// heartbeat renews the pod's heartbeat annotation while the session lives.
type heartbeat struct {
	client   kubernetes.Interface
	pod      *corev1.Pod
	interval time.Duration
	timeout  time.Duration
	clock    clock.Clock
	reporter Reporter

	mu      sync.Mutex
	failing int // renewals failed in a row
	warned  bool
}

// run renews every interval until ctx ends or the pod is gone.
func (h *heartbeat) run(ctx context.Context) {
	timer := h.clock.NewTimer(h.interval)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C():
			timer.Reset(h.interval)
		}
		if gone := h.renew(ctx); gone {
			return
		}
	}
}

// renew writes a new heartbeat value, guarded by the pod's UID: a pod recreated under the
// same name is refused by the apiserver (uid is immutable). The value only has to differ
// from the last one, for the watchdog; the apiserver's managedFields time of the write is
// what cleanup judges. It reports whether the pod is gone, which ends the heartbeat.
func (h *heartbeat) renew(ctx context.Context) (gone bool) {
	annotations := map[string]string{podspec.AnnotationHeartbeat: podspec.FormatHeartbeat(h.clock.Now())}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"uid": h.pod.UID, "annotations": annotations}})
	if err != nil {
		return false
	}
	reqCtx, cancel := context.WithTimeout(ctx, h.interval)
	defer cancel()
	_, err = h.client.CoreV1().Pods(h.pod.Namespace).Patch(reqCtx, h.pod.Name, types.MergePatchType, patch,
		metav1.PatchOptions{FieldManager: podspec.FieldManager})
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case err == nil:
		h.failing = 0
		return false
	case apierrors.IsNotFound(err), apierrors.IsInvalid(err), apierrors.IsConflict(err):
		return true
	case ctx.Err() != nil:
		return true // the session is over
	}
	h.failing++
	if h.failing == 2 && !h.warned {
		h.warned = true
		h.reporter.Warning(fmt.Sprintf("cannot renew the heartbeat of pod %s/%s (%v); if this lasts %s, the pod stops itself",
			h.pod.Namespace, h.pod.Name, err, h.timeout))
	}
	return false
}
