// Package userconfig reads and writes node-shell's per-user configuration file: session
// defaults per kubeconfig context, and for every context. It does no cluster I/O.
//
// The file is ~/.kube/node-shell.yaml, or $KUBECTL_NODE_SHELL_CONFIG:
//
//	default:
//	  image: registry.corp/busybox:1.37
//	contexts:
//	  prod:
//	    namespace: ops-shells
//	    imagePullSecrets: [regcred]
//	    priorityClass: system-node-critical
//	    labels: {team: sre}
//	    annotations: {cost-center: "42"}
//	    overrides:
//	      spec:
//	        containers:
//	        - name: shell
//	          resources: {limits: {cpu: 500m, memory: 256Mi}}
package userconfig

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// PathEnv names another file than DefaultPath.
const PathEnv = "KUBECTL_NODE_SHELL_CONFIG"

// File is the whole configuration.
type File struct {
	// Default applies in every context; a context's entry wins field by field.
	Default Entry `yaml:"default,omitempty"`
	// Contexts are keyed by kubeconfig context name.
	Contexts map[string]Entry `yaml:"contexts,omitempty"`
}

// Entry is the defaults of one context (or of all).
type Entry struct {
	Image            string            `yaml:"image,omitempty"`
	Namespace        string            `yaml:"namespace,omitempty"`
	ImagePullSecrets []string          `yaml:"imagePullSecrets,omitempty"`
	PriorityClass    string            `yaml:"priorityClass,omitempty"`
	Labels           map[string]string `yaml:"labels,omitempty"`
	Annotations      map[string]string `yaml:"annotations,omitempty"`
	// Overrides is a strategic merge patch of the session pod, as --overrides takes.
	Overrides yaml.Node `yaml:"overrides,omitempty"`
}

// Resolved is what the file says for one context: the context's entry over the default.
type Resolved struct {
	Image            string
	Namespace        string
	ImagePullSecrets []string
	PriorityClass    string
	Labels           map[string]string
	Annotations      map[string]string
	// Overrides are JSON patches, the default entry's first; Sources names each for messages.
	Overrides [][]byte
	Sources   []string
}

// DefaultPath is ~/.kube/node-shell.yaml, next to the kubeconfig.
func DefaultPath() (string, error) {
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no home directory to find the node-shell config in: set $%s", PathEnv)
	}
	return filepath.Join(home, ".kube", "node-shell.yaml"), nil
}

// Path is the file to use: $KUBECTL_NODE_SHELL_CONFIG when set, else DefaultPath.
func Path(getenv func(string) string) (string, error) {
	if p := getenv(PathEnv); p != "" {
		return p, nil
	}
	return DefaultPath()
}

// Load reads the file at path; a missing file is an empty configuration. Any other problem is
// one line naming the file and, for a malformed one, the line.
func Load(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &File{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("node-shell config: %v", err)
	}
	return Parse(path, data)
}

// yamlLine finds the line number yaml.v3 puts in its messages ("yaml: line 3: ...", "line 3: ...").
var yamlLine = regexp.MustCompile(`line (\d+): (.*)`)

// Parse reads a configuration; name is the file's, for messages.
func Parse(name string, data []byte) (*File, error) {
	f := &File{}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(f); err != nil && !errors.Is(err, io.EOF) {
		msg := err.Error()
		var typeErr *yaml.TypeError
		if errors.As(err, &typeErr) && len(typeErr.Errors) > 0 {
			msg = typeErr.Errors[0]
		}
		if m := yamlLine.FindStringSubmatch(msg); m != nil {
			return nil, fmt.Errorf("%s:%s: %s", name, m[1], m[2])
		}
		return nil, fmt.Errorf("%s: %s", name, strings.TrimPrefix(msg, "yaml: "))
	}
	for ctx, e := range f.allEntries() {
		if !e.Overrides.IsZero() && e.Overrides.Kind != yaml.MappingNode {
			return nil, fmt.Errorf("%s:%d: overrides of %s must be a mapping (a patch of the Pod, such as spec: {...})", name, e.Overrides.Line, ctx)
		}
	}
	return f, nil
}

func (f *File) allEntries() map[string]Entry {
	all := map[string]Entry{"the default entry": f.Default}
	for name, e := range f.Contexts {
		all["context "+name] = e
	}
	return all
}

// Resolve is the configuration for kubeconfig context ctx (the default entry alone for "").
// path names the file in the sources of its overrides.
func (f *File) Resolve(path, ctx string) (Resolved, error) {
	var r Resolved
	layers := []struct {
		source string
		e      Entry
	}{{path + " (default)", f.Default}}
	if e, ok := f.Contexts[ctx]; ok && ctx != "" {
		layers = append(layers, struct {
			source string
			e      Entry
		}{path + " (context " + ctx + ")", e})
	}
	for _, l := range layers {
		e := l.e
		r.Image = or(e.Image, r.Image)
		r.Namespace = or(e.Namespace, r.Namespace)
		r.PriorityClass = or(e.PriorityClass, r.PriorityClass)
		if e.ImagePullSecrets != nil {
			r.ImagePullSecrets = e.ImagePullSecrets
		}
		r.Labels = merged(r.Labels, e.Labels)
		r.Annotations = merged(r.Annotations, e.Annotations)
		if !e.Overrides.IsZero() {
			js, err := nodeJSON(&e.Overrides)
			if err != nil {
				return Resolved{}, fmt.Errorf("%s:%d: overrides: %v", path, e.Overrides.Line, err)
			}
			r.Overrides = append(r.Overrides, js)
			r.Sources = append(r.Sources, l.source)
		}
	}
	return r, nil
}

func nodeJSON(n *yaml.Node) ([]byte, error) {
	var v any
	if err := n.Decode(&v); err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

func merged(a, b map[string]string) map[string]string {
	if len(b) == 0 {
		return a
	}
	out := maps.Clone(a)
	if out == nil {
		out = map[string]string{}
	}
	maps.Copy(out, b)
	return out
}

func or(s, def string) string {
	if s != "" {
		return s
	}
	return def
}

// Marshal is f as the file holds it.
func (f *File) Marshal() ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(f); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Save writes f to path atomically (a temporary file in the same directory, synced, then
// renamed over it), mode 0600: the file may name registries and pull secrets.
func Save(path string, f *File) error {
	data, err := f.Marshal()
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("node-shell config: %v", err)
	}
	tmp, err := os.CreateTemp(dir, ".node-shell-*.yaml")
	if err != nil {
		return fmt.Errorf("node-shell config: %v", err)
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("node-shell config: %v", err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("node-shell config: %v", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("node-shell config: %v", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("node-shell config: %v", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("node-shell config: %v", err)
	}
	return nil
}

// Keys are what `config set` and `config unset` take; labels.KEY and annotations.KEY name
// one label or annotation.
var Keys = []string{"image", "namespace", "imagePullSecrets", "priorityClass", "overrides", "labels.KEY", "annotations.KEY"}

// Set sets key to value in the entry of ctx ("" for the default entry). imagePullSecrets
// takes a comma-separated list; overrides a JSON or YAML patch of the Pod.
func (f *File) Set(ctx, key, value string) error {
	e := f.entry(ctx)
	switch {
	case key == "image":
		e.Image = value
	case key == "namespace":
		e.Namespace = value
	case key == "priorityClass":
		e.PriorityClass = value
	case key == "imagePullSecrets":
		e.ImagePullSecrets = nil
		for _, s := range strings.Split(value, ",") {
			if s = strings.TrimSpace(s); s != "" {
				e.ImagePullSecrets = append(e.ImagePullSecrets, s)
			}
		}
	case key == "overrides":
		var n yaml.Node
		if err := yaml.Unmarshal([]byte(value), &n); err != nil {
			return fmt.Errorf("overrides: not JSON or YAML: %v", strings.TrimPrefix(err.Error(), "yaml: "))
		}
		if len(n.Content) != 1 || n.Content[0].Kind != yaml.MappingNode {
			return fmt.Errorf("overrides: want a patch of the Pod (a mapping such as {\"spec\": {...}})")
		}
		setStyle(n.Content[0], 0)
		e.Overrides = *n.Content[0]
	case strings.HasPrefix(key, "labels.") && len(key) > len("labels."):
		e.Labels = merged(e.Labels, map[string]string{strings.TrimPrefix(key, "labels."): value})
	case strings.HasPrefix(key, "annotations.") && len(key) > len("annotations."):
		e.Annotations = merged(e.Annotations, map[string]string{strings.TrimPrefix(key, "annotations."): value})
	default:
		return unknownKey(key)
	}
	f.put(ctx, e)
	return nil
}

// setStyle drops the flow style a JSON value came in, so the file reads as block YAML.
func setStyle(n *yaml.Node, style yaml.Style) {
	n.Style = style
	for _, c := range n.Content {
		setStyle(c, style)
	}
}

// Unset removes key from the entry of ctx; an entry left empty is removed.
func (f *File) Unset(ctx, key string) error {
	e := f.entry(ctx)
	switch {
	case key == "image":
		e.Image = ""
	case key == "namespace":
		e.Namespace = ""
	case key == "priorityClass":
		e.PriorityClass = ""
	case key == "imagePullSecrets":
		e.ImagePullSecrets = nil
	case key == "overrides":
		e.Overrides = yaml.Node{}
	case key == "labels":
		e.Labels = nil
	case key == "annotations":
		e.Annotations = nil
	case strings.HasPrefix(key, "labels."):
		delete(e.Labels, strings.TrimPrefix(key, "labels."))
	case strings.HasPrefix(key, "annotations."):
		delete(e.Annotations, strings.TrimPrefix(key, "annotations."))
	default:
		return unknownKey(key)
	}
	f.put(ctx, e)
	return nil
}

func unknownKey(key string) error {
	return fmt.Errorf("unknown key %q: use one of %s", key, strings.Join(Keys, ", "))
}

func (f *File) entry(ctx string) Entry {
	if ctx == "" {
		return f.Default
	}
	return f.Contexts[ctx]
}

func (f *File) put(ctx string, e Entry) {
	if len(e.Labels) == 0 {
		e.Labels = nil
	}
	if len(e.Annotations) == 0 {
		e.Annotations = nil
	}
	if ctx == "" {
		f.Default = e
		return
	}
	if f.Contexts == nil {
		f.Contexts = map[string]Entry{}
	}
	if e.isZero() {
		delete(f.Contexts, ctx)
		return
	}
	f.Contexts[ctx] = e
}

func (e Entry) isZero() bool {
	return e.Image == "" && e.Namespace == "" && e.PriorityClass == "" && e.ImagePullSecrets == nil &&
		e.Labels == nil && e.Annotations == nil && e.Overrides.IsZero()
}
