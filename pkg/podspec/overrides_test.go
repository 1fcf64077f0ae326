package podspec

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func buildWith(t *testing.T, mode Mode, o Overrides) (*corev1.Pod, error) {
	t.Helper()
	entry, err := EntryFor(mode)
	if err != nil {
		t.Fatal(err)
	}
	return Build(Spec{Node: "node-1", Namespace: "ops", Entry: entry, Heartbeat: "h0",
		Annotations: map[string]string{AnnotationUser: "alice"}, Overrides: o})
}

func patchOf(t *testing.T, data string) Overrides {
	t.Helper()
	p, err := ParsePatch("--overrides", []byte(data))
	if err != nil {
		t.Fatalf("ParsePatch(%s): %v", data, err)
	}
	return Overrides{Patches: []Patch{p}}
}

func TestOverridesAllowed(t *testing.T) {
	tests := []struct {
		name  string
		patch string
		check func(t *testing.T, p *corev1.Pod)
	}{
		{"limits and requests (YAML)", `
spec:
  containers:
  - name: shell
    resources:
      limits: {cpu: 500m, memory: 256Mi}
      requests: {cpu: 100m, memory: 128Mi}`, func(t *testing.T, p *corev1.Pod) {
			c := p.Spec.Containers[0]
			if !c.Resources.Limits.Cpu().Equal(resource.MustParse("500m")) || !c.Resources.Requests.Memory().Equal(resource.MustParse("128Mi")) {
				t.Errorf("resources = %v", c.Resources)
			}
			if c.SecurityContext == nil || !*c.SecurityContext.Privileged || len(c.Command) == 0 {
				t.Errorf("the patch lost the container's privileges or watchdog: %+v", c)
			}
		}},
		{"image and pull policy (JSON)", `{"spec":{"containers":[{"name":"shell","image":"registry.corp/busybox:1.37","imagePullPolicy":"Always"}]}}`,
			func(t *testing.T, p *corev1.Pod) {
				if c := p.Spec.Containers[0]; c.Image != "registry.corp/busybox:1.37" || c.ImagePullPolicy != corev1.PullAlways {
					t.Errorf("image = %s %s", c.Image, c.ImagePullPolicy)
				}
			}},
		{"a toleration replaces the tolerate-all one", `{"spec":{"tolerations":[{"key":"gpu","operator":"Exists"}]}}`,
			func(t *testing.T, p *corev1.Pod) {
				if len(p.Spec.Tolerations) != 1 || p.Spec.Tolerations[0].Key != "gpu" {
					t.Errorf("tolerations = %v", p.Spec.Tolerations)
				}
			}},
		{"pull secrets and priority class", `{"spec":{"imagePullSecrets":[{"name":"regcred"}],"priorityClassName":"ops"}}`,
			func(t *testing.T, p *corev1.Pod) {
				if len(p.Spec.ImagePullSecrets) != 1 || p.Spec.PriorityClassName != "ops" {
					t.Errorf("spec = %v %q", p.Spec.ImagePullSecrets, p.Spec.PriorityClassName)
				}
			}},
		{"an extra volume mounted outside /host", `
spec:
  volumes:
  - name: tools
    emptyDir: {}
  containers:
  - name: shell
    volumeMounts:
    - {name: tools, mountPath: /opt/tools}`, func(t *testing.T, p *corev1.Pod) {
			if len(p.Spec.Volumes) != 3 || len(p.Spec.Containers[0].VolumeMounts) != 3 {
				t.Errorf("volumes %v mounts %v", p.Spec.Volumes, p.Spec.Containers[0].VolumeMounts)
			}
		}},
		{"labels and annotations of the user's", `{"metadata":{"labels":{"team":"sre"},"annotations":{"cost-center":"42"}}}`,
			func(t *testing.T, p *corev1.Pod) {
				if p.Labels["team"] != "sre" || p.Annotations["cost-center"] != "42" || p.Labels[LabelManagedBy] != ManagedByValue {
					t.Errorf("labels %v annotations %v", p.Labels, p.Annotations)
				}
			}},
		{"setting a guarded field to the value it has", `{"spec":{"hostPID":true,"nodeName":"node-1"}}`, nil},
	}
	for _, mode := range Modes {
		for _, tc := range tests {
			t.Run(string(mode)+"/"+tc.name, func(t *testing.T) {
				p, err := buildWith(t, mode, patchOf(t, tc.patch))
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				named := p.DeepCopy()
				named.Name = named.GenerateName + "abcde"
				if err := Identify(named); err != nil {
					t.Errorf("Identify after the override: %v", err)
				}
				if tc.check != nil {
					tc.check(t, p)
				}
			})
		}
	}
}

func TestOverridesRefused(t *testing.T) {
	tests := []struct {
		name  string
		patch string
		want  string // the field the one-line refusal names
	}{
		{"privileged dropped", `{"spec":{"containers":[{"name":"shell","securityContext":{"privileged":false}}]}}`, "spec.containers[0].securityContext.privileged"},
		{"securityContext replaced", `{"spec":{"containers":[{"name":"shell","securityContext":{"$patch":"replace","runAsUser":1000}}]}}`, "spec.containers[0].securityContext"},
		{"capabilities added", `{"spec":{"containers":[{"name":"shell","securityContext":{"capabilities":{"drop":["ALL"]}}}]}}`, "spec.containers[0].securityContext.capabilities"},
		{"another node", `{"spec":{"nodeName":"node-2"}}`, "spec.nodeName"},
		{"node affinity", `{"spec":{"affinity":{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{"matchExpressions":[{"key":"a","operator":"Exists"}]}]}}}}}`, "spec.affinity"},
		{"node selector", `{"spec":{"nodeSelector":{"pool":"gpu"}}}`, "spec.nodeSelector"},
		{"host PID off", `{"spec":{"hostPID":false}}`, "spec.hostPID"},
		{"host network off", `{"spec":{"hostNetwork":false}}`, "spec.hostNetwork"},
		{"host IPC off", `{"spec":{"hostIPC":false}}`, "spec.hostIPC"},
		{"/host volume elsewhere", `{"spec":{"volumes":[{"name":"host-root","hostPath":{"path":"/var"}}]}}`, "spec.volumes[host-root]"},
		{"/host mount read-only", `{"spec":{"containers":[{"name":"shell","volumeMounts":[{"name":"host-root","mountPath":"/host","readOnly":true}]}]}}`, "volumeMounts[/host]"},
		{"a mount over /host/etc", `{"spec":{"volumes":[{"name":"x","emptyDir":{}}],"containers":[{"name":"shell","volumeMounts":[{"name":"x","mountPath":"/host/etc"}]}]}}`, "volumeMounts[/host/etc]"},
		{"a mount over the heartbeat", `{"spec":{"volumes":[{"name":"x","emptyDir":{}}],"containers":[{"name":"shell","volumeMounts":[{"name":"x","mountPath":"/run"}]}]}}`, "volumeMounts[/run]"},
		{"a second host path", `{"spec":{"volumes":[{"name":"logs","hostPath":{"path":"/var/log"}}]}}`, "spec.volumes[logs].hostPath"},
		{"the watchdog's command", `{"spec":{"containers":[{"name":"shell","command":["sleep","infinity"]}]}}`, "spec.containers[0].command"},
		{"args for the watchdog", `{"spec":{"containers":[{"name":"shell","args":["999999"]}]}}`, "spec.containers[0].args"},
		{"env for the watchdog", `{"spec":{"containers":[{"name":"shell","env":[{"name":"PATH","value":"/tmp"}]}]}}`, "spec.containers[0].env"},
		{"a postStart hook", `{"spec":{"containers":[{"name":"shell","lifecycle":{"postStart":{"exec":{"command":["true"]}}}}]}}`, "spec.containers[0].lifecycle"},
		{"a second container", `{"spec":{"containers":[{"name":"sidecar","image":"busybox"}]}}`, "spec.containers"},
		{"an init container", `{"spec":{"initContainers":[{"name":"init","image":"busybox"}]}}`, "spec.initContainers"},
		{"an ephemeral container", `{"spec":{"ephemeralContainers":[{"name":"e","image":"busybox"}]}}`, "spec.ephemeralContainers"},
		{"the container renamed", `{"spec":{"containers":[{"$patch":"replace"},{"name":"other","image":"busybox"}]}}`, "spec.containers"},
		{"restart policy", `{"spec":{"restartPolicy":"Always"}}`, "spec.restartPolicy"},
		{"service account token", `{"spec":{"automountServiceAccountToken":true}}`, "spec.automountServiceAccountToken"},
		{"service account", `{"spec":{"serviceAccountName":"admin"}}`, "spec.serviceAccountName"},
		{"owner", `{"metadata":{"ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"x","uid":"1"}]}}`, "metadata.ownerReferences"},
		{"a finalizer", `{"metadata":{"finalizers":["example.com/keep"]}}`, "metadata.finalizers"},
		{"the namespace", `{"metadata":{"namespace":"kube-system"}}`, "metadata.namespace"},
		{"the name", `{"metadata":{"generateName":"db-"}}`, "metadata.generateName"},
		{"our managed-by label", `{"metadata":{"labels":{"app.kubernetes.io/managed-by":"helm"}}}`, "metadata.labels[app.kubernetes.io/managed-by]"},
		{"our node label removed", `{"metadata":{"labels":{"kubectl-node-shell.io/node":null}}}`, "metadata.labels[kubectl-node-shell.io/node]"},
		{"the audit user", `{"metadata":{"annotations":{"kubectl-node-shell.io/user":"bob"}}}`, "metadata.annotations[kubectl-node-shell.io/user]"},
		{"a new key in our domain", `{"metadata":{"annotations":{"kubectl-node-shell.io/reason":"forged"}}}`, "metadata.annotations[kubectl-node-shell.io/reason]"},
		{"the heartbeat", `{"metadata":{"annotations":{"kubectl-node-shell.io/heartbeat":"x"}}}`, "metadata.annotations[kubectl-node-shell.io/heartbeat]"},
		{"grace period", `{"spec":{"terminationGracePeriodSeconds":3600}}`, "spec.terminationGracePeriodSeconds"},
		{"runtime class", `{"spec":{"runtimeClassName":"gvisor"}}`, "spec.runtimeClassName"},
		{"pod security context", `{"spec":{"securityContext":{"runAsNonRoot":true}}}`, "spec.securityContext"},
		{"the whole spec replaced", `{"spec":{"$patch":"replace","containers":[{"name":"shell","image":"busybox"}]}}`, "spec"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := buildWith(t, ModeChroot, patchOf(t, tc.patch))
			if err == nil {
				t.Fatalf("%s: the override was accepted", tc.patch)
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.want) || !strings.HasPrefix(msg, "--overrides may not change ") || strings.Contains(msg, "\n") {
				t.Errorf("refusal = %q, want one line from --overrides naming %s", msg, tc.want)
			}
		})
	}
}

func TestOverridesLayered(t *testing.T) {
	file, err := ParsePatch("node-shell.yaml", []byte(`{"spec":{"containers":[{"name":"shell","resources":{"limits":{"cpu":"1"}}}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	flag, err := ParsePatch("--overrides", []byte(`{"spec":{"containers":[{"name":"shell","resources":{"limits":{"cpu":"2","memory":"1Gi"}}}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	p, err := buildWith(t, ModeChroot, Overrides{Patches: []Patch{file, flag}, Labels: map[string]string{"team": "sre"}})
	if err != nil {
		t.Fatal(err)
	}
	if l := p.Spec.Containers[0].Resources.Limits; !l.Cpu().Equal(resource.MustParse("2")) || !l.Memory().Equal(resource.MustParse("1Gi")) {
		t.Errorf("limits = %v, want the later patch's", l)
	}
	if p.Labels["team"] != "sre" {
		t.Errorf("labels = %v", p.Labels)
	}
	bad, _ := ParsePatch("node-shell.yaml context prod", []byte(`{"spec":{"hostNetwork":false}}`))
	if _, err := buildWith(t, ModeChroot, Overrides{Patches: []Patch{bad}}); err == nil || !strings.HasPrefix(err.Error(), "node-shell.yaml context prod may not change spec.hostNetwork") {
		t.Errorf("a file's patch refused as %v, want the file named", err)
	}
}

func TestParsePatch(t *testing.T) {
	tests := []struct{ data, want string }{
		{`{"spec":{"containers":[{"name":"shell","resource":{}}]}}`, `unknown field "resource"`},
		{"spec: [\n", "--overrides: not JSON or YAML"},
		{`["a"]`, "want a patch of the Pod"},
		{`sleep 1`, "want a patch of the Pod"},
		{`{"spec":{"hostPID":"yes"}}`, "cannot unmarshal"},
	}
	for _, tc := range tests {
		_, err := ParsePatch("--overrides", []byte(tc.data))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParsePatch(%q) = %v, want an error containing %q", tc.data, err, tc.want)
		}
	}
	if _, err := ParsePatch("--overrides", []byte(`{"spec":{"containers":[{"name":"shell","$patch":"merge"}]}}`)); err != nil {
		t.Errorf("a directive is no unknown field: %v", err)
	}
}

func TestLabelAndAnnotationFlags(t *testing.T) {
	tests := []struct {
		o    Overrides
		want string
	}{
		{Overrides{Labels: map[string]string{"team": "sre", "example.com/cost": "42"}}, ""},
		{Overrides{Annotations: map[string]string{"ticket": "OPS-1 with spaces: fine"}}, ""},
		{Overrides{Labels: map[string]string{"team": "s r e"}}, "--label"},
		{Overrides{Labels: map[string]string{"bad key!": "x"}}, "--label"},
		{Overrides{Labels: map[string]string{LabelManagedBy: "me"}}, "node-shell's own keys"},
		{Overrides{Annotations: map[string]string{AnnotationUser: "root"}}, "node-shell's own keys"},
		{Overrides{Annotations: map[string]string{"-x": "y"}}, "--annotation"},
	}
	for _, tc := range tests {
		p, err := buildWith(t, ModeChroot, tc.o)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%v refused: %v", tc.o, err)
		case tc.want == "":
			for k, v := range tc.o.Labels {
				if p.Labels[k] != v {
					t.Errorf("label %s = %q", k, p.Labels[k])
				}
			}
			for k, v := range tc.o.Annotations {
				if p.Annotations[k] != v {
					t.Errorf("annotation %s = %q", k, p.Annotations[k])
				}
			}
		case err == nil || !strings.Contains(err.Error(), tc.want):
			t.Errorf("%v: %v, want an error containing %q", tc.o, err, tc.want)
		}
	}
}

func TestReasonAnnotation(t *testing.T) {
	p, err := Build(Spec{Node: "n", Reason: "  INC-42: disk full\x1b[2J  "})
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Annotations[AnnotationReason]; got != `INC-42: disk full\x1b[2J` {
		t.Errorf("reason annotation = %q", got)
	}
	long := ReasonAnnotation(strings.Repeat("é", MaxReason))
	if len(long) > MaxReason || !strings.HasSuffix(long, "…") {
		t.Errorf("long reason: %d bytes, ends %q", len(long), long[len(long)-5:])
	}
	if p, _ := Build(Spec{Node: "n"}); p.Annotations[AnnotationReason] != "" {
		t.Errorf("no reason, yet annotated %q", p.Annotations[AnnotationReason])
	}
}
