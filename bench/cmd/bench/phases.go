package main

import (
	"strings"
	"time"
)

// phaseNames split a create-watch-exec session (node-shell, the floor) at its requests, in
// order; together they are the whole wall time.
var phaseNames = []string{
	"start-up",        // process start to the first request: runtime init, flags, kubeconfig
	"before create",   // first request to the create: preflight checks
	"create to watch", // create sent to watch sent: the create's latency and what follows it
	"pod start",       // watch sent to exec sent: the kubelet starting the pod, and noticing it
	"exec",            // the exec request, from sent to closed: the command itself
	"exit",            // exec closed to process exit: the delete, and shutting down
}

// phasesOf splits a `-- true` run of a create-watch-exec tool into phaseNames, in ms; false
// if the requests are not that shape.
func phasesOf(reqs []request, s session) (map[string]float64, bool) {
	var create, watch, exec *request
	for i := range reqs {
		r := &reqs[i]
		switch {
		case create == nil && r.Label == "create pods":
			create = r
		case create != nil && watch == nil && r.Label == "watch pods":
			watch = r
		case watch != nil && exec == nil && strings.HasSuffix(r.Label, "pods/exec"):
			exec = r
		}
	}
	if create == nil || watch == nil || exec == nil || len(reqs) == 0 {
		return nil, false
	}
	d := func(from, to time.Time) float64 { return ms(to.Sub(from)) }
	return map[string]float64{
		"start-up":        d(s.Start, reqs[0].Received),
		"before create":   d(reqs[0].Received, create.Received),
		"create to watch": d(create.Received, watch.Received),
		"pod start":       d(watch.Received, exec.Received),
		"exec":            d(exec.Received, exec.Completed),
		"exit":            d(exec.Completed, s.End),
	}, true
}
