package session

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/agent"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/crash"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/diagnose"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/podspec"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/sessionlog"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/stream"
)

// heartbeatExecTimeout bounds one heartbeat exec; a slower one counts as failed.
const heartbeatExecTimeout = 10 * time.Second

// StartAgent is Start on a node that runs node-shell's agent: the session's actions run in
// agentPod (agent.Find's), each exec under its own supervisor (agent.SupervisedArgv) with
// its own random ID and heartbeat, so it ends when its client dies as a session pod would,
// while the agent stays. Nothing is created, so nothing is deleted: Close only stops the
// heartbeats. entry (chroot, nsenter, container) enters the node as in a pod of its own.
func (s *Session) StartAgent(ctx context.Context, target Target, entry podspec.Entry, agentPod *corev1.Pod) (*Handle, error) {
	run := *s
	run.spec, run.command = target.Pod, target.Command
	run.spec.Entry = entry
	run.spec.Node = agentPod.Spec.NodeName
	run.setDefaults()
	h := &Handle{s: &run, pod: agentPod}
	h.crashCtx, run.crashed = context.WithCancelCause(context.WithoutCancel(ctx))
	h.agent = &agentSession{h: h, restarts: restartsOf(agentPod)}
	if err := context.Cause(ctx); err != nil {
		run.crashed(nil)
		return nil, err
	}
	return h, nil
}

// AgentAccess is what a session on an agent needs, in the agent's namespace: create
// pods/exec (each exec and each heartbeat; get for the WebSocket upgrade of Kubernetes up to
// 1.34, as ExecRequest says), list pods to find the node's agent and to tell a stream cut by
// the agent's end from another, and get nodes as every session does. setup's Role grants them.
func AgentAccess() []authorizationv1.ResourceAttributes {
	return []authorizationv1.ResourceAttributes{
		{Namespace: agent.Namespace, Verb: "create", Resource: "pods", Subresource: "exec"},
		{Namespace: agent.Namespace, Verb: "list", Resource: "pods"},
		{Verb: "get", Resource: "nodes"},
	}
}

// IsAgent reports whether the session runs on the node's agent rather than a pod of its own.
func (h *Handle) IsAgent() bool { return h.agent != nil }

// agentSession is what a Handle on an agent adds: the agent pod's restart count when the
// session started (a restart ends every session in it) and the running exec's heartbeat.
type agentSession struct {
	h        *Handle
	restarts int32
}

// begin wraps argv, the entry's, in a new supervised agent session with rec's ID and
// starts its heartbeat, which end stops.
func (a *agentSession) begin(ctx context.Context, rec sessionlog.Record, argv []string) (supervised []string, hb *agentHeartbeat) {
	s := a.h.s
	hb = &agentHeartbeat{s: s, pod: a.h.pod, id: rec.ID, interval: RenewInterval(s.spec.HeartbeatTimeout), done: make(chan struct{})}
	hbCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	hb.cancel = cancel
	crash.Go(func() {
		defer close(hb.done)
		hb.run(hbCtx)
	}, s.crashed)
	return agent.SupervisedArgv(rec.ID, s.spec.HeartbeatTimeout, s.spec.MaxLifetime, rec.Encode(), argv), hb
}

// judge explains an exec on the agent that did not end with a status of the command's own
// making: when the agent pod is gone, restarted or being deleted, the session ended with it,
// which the user learns in one line (node-shell's failure, 255) instead of a broken stream or
// a 137. Otherwise the exec's own diagnosis stands.
func (a *agentSession) judge(code int, err error, hb *agentHeartbeat) (int, error) {
	if err == nil && code < 128 {
		return code, nil
	}
	if why := a.agentEnded(); why != "" {
		return 0, &diagnose.Problem{
			Cause: fmt.Sprintf("the node-shell agent on node %s %s during the session, which ended with it", a.h.s.spec.Node, why),
			Fix:   "run the command again: it runs in a pod of its own while the node has no ready agent (--agent=never asks for one)",
			Err:   err,
		}
	}
	if err == nil && hb.expired() {
		a.h.s.Reporter.Warning(fmt.Sprintf("the agent ended the session: its heartbeat could not be renewed for %s; raise --heartbeat-timeout on a slow connection",
			a.h.s.spec.HeartbeatTimeout))
	}
	return code, err
}

// agentEnded says how the agent pod ended ("" if it did not): it is gone or another pod now,
// being deleted, or its container restarted. The kubelet reports the end a moment after the
// stream breaks, so it looks a few times.
func (a *agentSession) agentEnded() string {
	s, pod := a.h.s, a.h.pod
	for i := 0; i < 4; i++ {
		if i > 0 {
			s.Clock.Sleep(500 * time.Millisecond)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		// A list by name, not a get: list is what the session's Role grants (AgentAccess).
		list, err := s.Client.CoreV1().Pods(pod.Namespace).List(ctx, metav1.ListOptions{
			FieldSelector: fields.OneTermEqualSelector("metadata.name", pod.Name).String(),
		})
		cancel()
		if err != nil {
			return ""
		}
		var p *corev1.Pod
		for i := range list.Items {
			if list.Items[i].Name == pod.Name {
				p = &list.Items[i]
			}
		}
		switch {
		case p == nil:
			return fmt.Sprintf("(pod %s/%s) was deleted", pod.Namespace, pod.Name)
		case p.UID != pod.UID:
			return fmt.Sprintf("(pod %s/%s) was replaced", pod.Namespace, pod.Name)
		case p.DeletionTimestamp != nil:
			return fmt.Sprintf("(pod %s/%s) was deleted", pod.Namespace, pod.Name)
		case restartsOf(p) != a.restarts || !agent.Ready(p):
			return fmt.Sprintf("(pod %s/%s) stopped", pod.Namespace, pod.Name)
		}
	}
	return ""
}

func restartsOf(pod *corev1.Pod) int32 {
	for _, cs := range pod.Status.ContainerStatuses {
		if cs.Name == podspec.ContainerName {
			return cs.RestartCount
		}
	}
	return 0
}

// agentHeartbeat refreshes one agent session's heartbeat file through an exec of its own
// every interval: the same exec path as the session, so it proves the client can still
// reach the node, and the same access (pods/exec in the agent's namespace), which tenants
// never have. Agent pods' annotations would not do: setup's admission policy lets nobody
// change a pod that names no creator, and the agent's pod is shared by every session.
type agentHeartbeat struct {
	s        *Session
	pod      *corev1.Pod
	id       string
	interval time.Duration
	cancel   context.CancelFunc
	done     chan struct{}

	mu      sync.Mutex
	beats   int
	failing int
	warned  bool
}

func (hb *agentHeartbeat) run(ctx context.Context) {
	timer := hb.s.Clock.NewTimer(hb.interval)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C():
			timer.Reset(hb.interval)
		}
		hb.renew(ctx)
	}
}

// renew writes the next heartbeat value (a count: it only has to differ from the last).
func (hb *agentHeartbeat) renew(ctx context.Context) {
	hb.mu.Lock()
	hb.beats++
	value := strconv.Itoa(hb.beats)
	hb.mu.Unlock()
	reqCtx, cancel := context.WithTimeout(ctx, heartbeatExecTimeout)
	defer cancel()
	err := hb.s.Executor.Exec(reqCtx, stream.Request{
		Namespace: hb.pod.Namespace,
		Pod:       hb.pod.Name,
		Container: podspec.ContainerName,
		Command:   agent.HeartbeatArgv(hb.id, value),
		Stdout:    io.Discard,
		Stderr:    io.Discard,
	})
	code, ok := stream.ExitCode(err)
	if ctx.Err() != nil {
		return // the session is over
	}
	hb.mu.Lock()
	defer hb.mu.Unlock()
	if ok && code == 0 {
		hb.failing = 0
		return
	}
	hb.failing++
	if hb.failing == 2 && !hb.warned {
		hb.warned = true
		why := fmt.Sprint(err)
		if ok && agent.IsNoSession(code) {
			why = "the agent has no such session"
		}
		hb.s.Reporter.Warning(fmt.Sprintf("cannot renew the heartbeat of agent session %s on node %s (%s); if this lasts %s, the agent ends the session",
			hb.id[:8], hb.s.spec.Node, why, hb.s.spec.HeartbeatTimeout))
	}
}

// expired reports whether the heartbeat was failing when the session ended.
func (hb *agentHeartbeat) expired() bool {
	hb.mu.Lock()
	defer hb.mu.Unlock()
	return hb.failing > 0
}

// finish ends the heartbeat. When the exec did not end with the command's status (a
// signal cut it, the stream broke), the command may still run on the node: it is ended at
// once, as deleting a session pod would end it, rather than a heartbeat timeout later.
func (hb *agentHeartbeat) finish(execErr error) {
	hb.cancel()
	<-hb.done
	if _, ok := stream.ExitCode(execErr); ok {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), heartbeatExecTimeout)
	defer cancel()
	_ = hb.s.Executor.Exec(ctx, stream.Request{
		Namespace: hb.pod.Namespace,
		Pod:       hb.pod.Name,
		Container: podspec.ContainerName,
		Command:   agent.EndArgv(hb.id, agent.EndedByClient),
		Stdout:    io.Discard,
		Stderr:    io.Discard,
	})
}
