package session

import (
	"context"
	"net/http"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/crash"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/diagnose"
)

// healthWatchDelay is how long a pod may take to run before the session watches its node: a
// healthy pod runs within it, so a healthy session makes no request for this, and the
// watches start with the objects' current state, so nothing that happened before is missed
// (docs/troubleshooting.md has the measurements).
var healthWatchDelay = time.Second

// watchNodeHealth fails a wait that has lasted delay and that the node says is hopeless (see
// pkg/diagnose nodehealth.go), from three watches, one request each: the kubelet's Lease (a
// dead kubelet stops renewing it at once, while the node stays Ready for ~50 s), the node's
// conditions (a dead container runtime) and the pod's events (what the kubelet failed to do
// for it).
//
// None of them is in RequiredAccess: they only make a failure faster and clearer, so each is
// best effort, and a user without the right to it (watch leases in kube-node-lease, watch
// nodes, watch events) waits as before instead of being refused a session.
func (s *Session) watchNodeHealth(ctx context.Context, giveUp context.CancelCauseFunc, pod *corev1.Pod, delay time.Duration) {
	select {
	case <-ctx.Done():
		return
	case <-s.Clock.After(delay):
	}
	crash.Go(func() { s.watchLease(ctx, giveUp, pod.Spec.NodeName) }, s.crashed)
	crash.Go(func() { s.watchNodeConditions(ctx, giveUp, pod) }, s.crashed)
	crash.Go(func() { s.watchPodEvents(ctx, giveUp, pod) }, s.crashed)
}

// watchLease gives up once the node's kubelet has gone KubeletSilenceBound without renewing
// its Lease, as timed by this session: the renewal time the kubelet writes is by the node's
// clock, so it only tells the age in the message, never the verdict.
func (s *Session) watchLease(ctx context.Context, giveUp context.CancelCauseFunc, node string) {
	leases := s.Client.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	updates := s.follow(ctx, byName(node, leases.Watch))
	var (
		last    *coordinationv1.Lease
		renewed time.Time // when this session saw the current renewal (or the lease) first
		timer   = s.Clock.NewTimer(time.Hour)
	)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case obj, ok := <-updates:
			if !ok {
				return
			}
			lease, ok := obj.(*coordinationv1.Lease)
			if !ok {
				continue
			}
			if last == nil || !lease.Spec.RenewTime.Equal(last.Spec.RenewTime) {
				renewed = s.Clock.Now()
				timer.Stop()
				timer.Reset(diagnose.KubeletSilenceBound(lease))
			}
			last = lease
		case <-timer.C():
			serverNow, known := s.clusterNow()
			giveUp(diagnose.KubeletSilent(last, s.Clock.Since(renewed), serverNow, known))
			return
		}
	}
}

// watchNodeConditions gives up when the node reports a condition under which the pod cannot
// start (its container runtime down).
func (s *Session) watchNodeConditions(ctx context.Context, giveUp context.CancelCauseFunc, pod *corev1.Pod) {
	updates := s.follow(ctx, byName(pod.Spec.NodeName, s.Client.CoreV1().Nodes().Watch))
	for obj := range updates {
		if n, ok := obj.(*corev1.Node); ok {
			now, _ := s.clusterNow()
			if problem := diagnose.NodeProblem(n, pod.Spec.HostNetwork, now); problem != nil {
				giveUp(problem)
				return
			}
		}
	}
}

// watchPodEvents gives up on the first Warning event about the pod that proves it will not
// start (a sandbox or a mount that failed, a full disk, the runtime unreachable).
func (s *Session) watchPodEvents(ctx context.Context, giveUp context.CancelCauseFunc, pod *corev1.Pod) {
	events := s.Client.CoreV1().Events(pod.Namespace)
	selector := fields.OneTermEqualSelector("involvedObject.uid", string(pod.UID)).String()
	updates := s.follow(ctx, func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
		opts.FieldSelector = selector
		return events.Watch(ctx, opts)
	})
	for obj := range updates {
		if ev, ok := obj.(*corev1.Event); ok {
			if problem := diagnose.EventProblem(pod, ev); problem != nil {
				giveUp(problem)
				return
			}
		}
	}
}

type watchFunc func(context.Context, metav1.ListOptions) (watch.Interface, error)

func byName(name string, open watchFunc) watchFunc {
	selector := fields.OneTermEqualSelector("metadata.name", name).String()
	return func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
		opts.FieldSelector = selector
		return open(ctx, opts)
	}
}

// follow sends the objects a watch selects, first as they are (a watch without a
// resourceVersion starts with them; watchtools' RetryWatcher cannot start there) and then
// as they change, resuming from the last version seen when the connection drops. The
// channel closes when ctx ends, or at once if the apiserver refuses the watch: without the
// right to it, the session waits as it would without it.
func (s *Session) follow(ctx context.Context, open watchFunc) <-chan runtime.Object {
	out := make(chan runtime.Object)
	crash.Go(func() {
		defer close(out)
		version := ""
		for attempt := 0; ctx.Err() == nil; attempt++ {
			if attempt > 0 { // a connection that keeps dropping is retried once a second
				select {
				case <-ctx.Done():
					return
				case <-s.Clock.After(time.Second):
				}
			}
			w, err := open(ctx, metav1.ListOptions{ResourceVersion: version, AllowWatchBookmarks: true})
			if apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err) || apierrors.IsNotFound(err) || apierrors.IsMethodNotSupported(err) {
				return
			}
			if err != nil {
				continue
			}
			version = drain(ctx, w, version, out)
		}
	}, s.crashed)
	return out
}

// drain forwards w's objects to out until w or ctx ends, and returns the version to resume
// from ("" when the apiserver no longer has it: start again from the current state).
func drain(ctx context.Context, w watch.Interface, version string, out chan<- runtime.Object) string {
	defer w.Stop()
	for {
		var ev watch.Event
		var ok bool
		select {
		case <-ctx.Done():
			return version
		case ev, ok = <-w.ResultChan():
		}
		if !ok {
			return version
		}
		if ev.Type == watch.Error {
			if status, isStatus := ev.Object.(*metav1.Status); isStatus && status.Code == http.StatusGone {
				return ""
			}
			return version
		}
		if m, err := meta.Accessor(ev.Object); err == nil && m.GetResourceVersion() != "" {
			version = m.GetResourceVersion()
		}
		if ev.Type == watch.Added || ev.Type == watch.Modified {
			select {
			case <-ctx.Done():
				return version
			case out <- ev.Object:
			}
		}
	}
}

// clusterNow is the apiserver's time when known (ok), else this machine's: a node's
// condition says how long it has held by the apiserver's clock.
func (s *Session) clusterNow() (now time.Time, ok bool) {
	if now := s.serverNow(); !now.IsZero() {
		return now, true
	}
	return s.Clock.Now(), false
}
