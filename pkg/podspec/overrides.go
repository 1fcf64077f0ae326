package podspec

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path"
	"reflect"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"
)

// Overrides are the user's changes to the session pod, applied after Build made it: labels
// and annotations added, then strategic merge patches in order (as kubectl run --overrides).
// What a session's guarantees rest on cannot be changed (see checkOverridden).
type Overrides struct {
	Labels      map[string]string
	Annotations map[string]string
	// Patches are strategic merge patches of the Pod, JSON or YAML, applied in order: the
	// config file's default entry, its context's entry, then --overrides.
	Patches []Patch
}

// Patch is one strategic merge patch and where it came from ("--overrides", a file), which
// every message about it names.
type Patch struct {
	Source string
	Data   []byte
}

// IsZero reports whether o changes nothing.
func (o Overrides) IsZero() bool {
	return len(o.Labels) == 0 && len(o.Annotations) == 0 && len(o.Patches) == 0
}

// reservedPrefix is node-shell's own label and annotation domain: the audit trail, the
// heartbeat and the identity live there, so no override may add or change a key in it.
const reservedPrefix = "kubectl-node-shell.io/"

// ParsePatch reads a strategic merge patch of a Pod, JSON or YAML, into JSON. It fails on
// what is not a mapping and on fields a Pod does not have, so a typo is not silently a no-op.
func ParsePatch(source string, data []byte) (Patch, error) {
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		return Patch{}, fmt.Errorf("%s: not JSON or YAML: %v", source, strings.TrimPrefix(err.Error(), "error converting YAML to JSON: "))
	}
	if !bytes.HasPrefix(bytes.TrimSpace(js), []byte("{")) {
		return Patch{}, fmt.Errorf("%s: want a patch of the Pod (a mapping such as {\"spec\": {...}}), got %s", source, firstLine(string(data)))
	}
	// Directives ($patch, $retainKeys, $setElementOrder/...) are not Pod fields; they are
	// judged by their effect, like any other change.
	dec := json.NewDecoder(bytes.NewReader(stripDirectives(js)))
	dec.DisallowUnknownFields()
	var pod corev1.Pod
	if err := dec.Decode(&pod); err != nil {
		return Patch{}, fmt.Errorf("%s: %v", source, strings.TrimPrefix(err.Error(), "json: "))
	}
	return Patch{Source: source, Data: js}, nil
}

// stripDirectives drops strategic merge patch directives from a JSON patch, for the strict
// decode that looks for misspelt fields only.
func stripDirectives(js []byte) []byte {
	var v any
	if err := json.Unmarshal(js, &v); err != nil {
		return js
	}
	var strip func(any) any
	strip = func(v any) any {
		switch t := v.(type) {
		case map[string]any:
			for k, child := range t {
				if strings.HasPrefix(k, "$") {
					delete(t, k)
					continue
				}
				t[k] = strip(child)
			}
		case []any:
			for i, child := range t {
				t[i] = strip(child)
			}
		}
		return v
	}
	out, err := json.Marshal(strip(v))
	if err != nil {
		return js
	}
	return out
}

// ValidateLabels checks labels as the apiserver will (keys qualified names, values valid
// label values) and keeps them out of node-shell's own keys.
func ValidateLabels(labels map[string]string) error {
	if err := firstError(metav1validation.ValidateLabels(labels, field.NewPath("--label"))); err != nil {
		return err
	}
	return reservedKey("--label", labels)
}

// ValidateAnnotations checks annotations as the apiserver will and keeps them out of
// node-shell's own keys.
func ValidateAnnotations(annotations map[string]string) error {
	if err := firstError(apivalidation.ValidateAnnotations(annotations, field.NewPath("--annotation"))); err != nil {
		return err
	}
	return reservedKey("--annotation", annotations)
}

func reservedKey(flag string, m map[string]string) error {
	for _, k := range sortedKeys(m) {
		if isReservedKey(k) {
			return fmt.Errorf("%s %s: node-shell's own keys (%s*, %s) cannot be set", flag, k, reservedPrefix, LabelManagedBy)
		}
	}
	return nil
}

func isReservedKey(k string) bool { return strings.HasPrefix(k, reservedPrefix) || k == LabelManagedBy }

func firstError(errs field.ErrorList) error {
	if len(errs) == 0 {
		return nil
	}
	e := errs[0]
	return fmt.Errorf("%s: %s", e.Field, e.ErrorBody())
}

// applyOverrides returns pod with o applied, or an error naming the first field o would
// change that a session depends on. pod is not modified.
func applyOverrides(pod *corev1.Pod, o Overrides) (*corev1.Pod, error) {
	if o.IsZero() {
		return pod, nil
	}
	if err := ValidateLabels(o.Labels); err != nil {
		return nil, err
	}
	if err := ValidateAnnotations(o.Annotations); err != nil {
		return nil, err
	}
	out := pod.DeepCopy()
	for k, v := range o.Labels {
		out.Labels[k] = v
	}
	for k, v := range o.Annotations {
		out.Annotations[k] = v
	}
	for _, p := range o.Patches {
		patched, err := applyPatch(out, p)
		if err != nil {
			return nil, err
		}
		if err := checkOverridden(pod, patched); err != nil {
			return nil, fmt.Errorf("%s may not change %v", p.Source, err)
		}
		out = patched
	}
	// The guard above should imply it; cleanup's own test of a session pod has the last word.
	named := out.DeepCopy()
	named.Name = named.GenerateName + "xxxxx"
	if err := Identify(named); err != nil {
		return nil, fmt.Errorf("the overrides would make the pod unrecognisable as a session (%v), so cleanup would never remove it", err)
	}
	return out, nil
}

func applyPatch(pod *corev1.Pod, p Patch) (*corev1.Pod, error) {
	original, err := json.Marshal(pod)
	if err != nil {
		return nil, err
	}
	merged, err := strategicpatch.StrategicMergePatch(original, p.Data, corev1.Pod{})
	if err != nil {
		return nil, fmt.Errorf("%s: cannot apply to the pod: %v", p.Source, err)
	}
	var out corev1.Pod
	if err := json.Unmarshal(merged, &out); err != nil {
		return nil, fmt.Errorf("%s: cannot apply to the pod: %v", p.Source, err)
	}
	if out.Labels == nil {
		out.Labels = map[string]string{}
	}
	if out.Annotations == nil {
		out.Annotations = map[string]string{}
	}
	return &out, nil
}

// checkOverridden compares patched with base, the pod Build made, and returns an error
// naming the first field that changed outside what a user may change: resources, image and
// pull policy, tolerations, pull secrets, priority class, extra (non-hostPath) volumes and
// their mounts, extra labels and annotations outside node-shell's keys. Everything else is
// compared whole, so a field Kubernetes adds later is guarded until it is listed here.
func checkOverridden(base, patched *corev1.Pod) error {
	if err := checkMetadataMap("metadata.labels", base.Labels, patched.Labels); err != nil {
		return err
	}
	if err := checkMetadataMap("metadata.annotations", base.Annotations, patched.Annotations); err != nil {
		return err
	}
	if len(patched.Spec.Containers) != 1 || patched.Spec.Containers[0].Name != ContainerName {
		return fmt.Errorf("spec.containers: the pod holds node-shell's one container %q and no other", ContainerName)
	}
	if err := checkVolumes(base.Spec.Volumes, patched.Spec.Volumes); err != nil {
		return err
	}
	if err := checkMounts(base.Spec.Containers[0].VolumeMounts, patched.Spec.Containers[0].VolumeMounts); err != nil {
		return err
	}

	// What may change is set back to base's; whatever differs after that is refused.
	judged := patched.DeepCopy()
	judged.Labels, judged.Annotations = base.Labels, base.Annotations
	judged.Spec.Tolerations = base.Spec.Tolerations
	judged.Spec.ImagePullSecrets = base.Spec.ImagePullSecrets
	judged.Spec.PriorityClassName = base.Spec.PriorityClassName
	judged.Spec.Volumes = base.Spec.Volumes
	c, bc := &judged.Spec.Containers[0], base.Spec.Containers[0]
	c.Image, c.ImagePullPolicy, c.Resources, c.VolumeMounts = bc.Image, bc.ImagePullPolicy, bc.Resources, bc.VolumeMounts
	if where := firstDifference(base, judged); where != "" {
		return fmt.Errorf("%s: node-shell's session depends on it", where)
	}
	return nil
}

// checkMetadataMap allows new keys outside node-shell's own, and no change to a key Build set.
func checkMetadataMap(path string, base, patched map[string]string) error {
	for _, k := range sortedKeys(base) {
		if v, ok := patched[k]; !ok || v != base[k] {
			return fmt.Errorf("%s[%s]: node-shell sets it and depends on it", path, k)
		}
	}
	for _, k := range sortedKeys(patched) {
		if _, ok := base[k]; !ok && isReservedKey(k) {
			return fmt.Errorf("%s[%s]: node-shell's own keys (%s*, %s) cannot be set", path, k, reservedPrefix, LabelManagedBy)
		}
	}
	return nil
}

// checkVolumes allows volumes added to Build's, unchanged, but no host path: the node's / is
// at /host already, and Identify knows a session by its one host path.
func checkVolumes(base, patched []corev1.Volume) error {
	byName := map[string]corev1.Volume{}
	for _, v := range patched {
		byName[v.Name] = v
	}
	for _, v := range base {
		if got, ok := byName[v.Name]; !ok || !reflect.DeepEqual(got, v) {
			return fmt.Errorf("spec.volumes[%s]: node-shell's session depends on it", v.Name)
		}
		delete(byName, v.Name)
	}
	for _, v := range patched {
		if _, extra := byName[v.Name]; extra && v.HostPath != nil {
			return fmt.Errorf("spec.volumes[%s].hostPath: the node's / is at %s already", v.Name, HostMount)
		}
	}
	return nil
}

// checkMounts allows mounts added to Build's, unchanged, anywhere but over or under the
// node's / and the heartbeat file the watchdog reads.
func checkMounts(base, patched []corev1.VolumeMount) error {
	byName := map[string]corev1.VolumeMount{}
	for _, m := range patched {
		byName[m.Name+"\x00"+m.MountPath] = m
	}
	for _, m := range base {
		key := m.Name + "\x00" + m.MountPath
		if got, ok := byName[key]; !ok || !reflect.DeepEqual(got, m) {
			return fmt.Errorf("spec.containers[%s].volumeMounts[%s]: node-shell's session depends on it", ContainerName, m.MountPath)
		}
		delete(byName, key)
	}
	for _, m := range patched {
		if _, extra := byName[m.Name+"\x00"+m.MountPath]; !extra {
			continue
		}
		for _, guarded := range []string{HostMount, heartbeatDir} {
			if overlaps(m.MountPath, guarded) {
				return fmt.Errorf("spec.containers[%s].volumeMounts[%s]: it would cover %s, which node-shell's session depends on", ContainerName, m.MountPath, guarded)
			}
		}
	}
	return nil
}

// overlaps reports whether a mount at p would hide guarded or anything under it.
func overlaps(p, guarded string) bool {
	p = path.Clean("/" + p)
	return p == guarded || strings.HasPrefix(guarded, p+"/") || p == "/" || strings.HasPrefix(p, guarded+"/")
}

// firstDifference is the JSON path of the first field where a and b differ, "" when none.
func firstDifference(a, b *corev1.Pod) string {
	ua, errA := runtime.DefaultUnstructuredConverter.ToUnstructured(a)
	ub, errB := runtime.DefaultUnstructuredConverter.ToUnstructured(b)
	if errA != nil || errB != nil {
		return "the pod"
	}
	return diffValues("", ua, ub)
}

func diffValues(at string, a, b any) string {
	switch av := a.(type) {
	case map[string]any:
		bv, ok := b.(map[string]any)
		if !ok {
			return orRoot(at)
		}
		keys := map[string]bool{}
		for k := range av {
			keys[k] = true
		}
		for k := range bv {
			keys[k] = true
		}
		for _, k := range sortedKeys(keys) {
			next := k
			if at != "" {
				next = at + "." + k
			}
			if d := diffValues(next, av[k], bv[k]); d != "" {
				return d
			}
		}
		return ""
	case []any:
		bv, ok := b.([]any)
		if !ok || len(av) != len(bv) {
			return orRoot(at)
		}
		for i := range av {
			if d := diffValues(fmt.Sprintf("%s[%d]", at, i), av[i], bv[i]); d != "" {
				return d
			}
		}
		return ""
	}
	if !reflect.DeepEqual(a, b) {
		return orRoot(at)
	}
	return ""
}

func orRoot(at string) string {
	if at == "" {
		return "the pod"
	}
	return at
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i] + " …"
	}
	if len(s) > 60 {
		s = s[:60] + "…"
	}
	return fmt.Sprintf("%q", s)
}
