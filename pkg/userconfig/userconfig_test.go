package userconfig

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const sample = `default:
  image: registry.corp/busybox:1.37
  labels: {team: sre, env: any}
  overrides:
    spec:
      containers:
      - name: shell
        resources: {limits: {cpu: "1"}}
contexts:
  prod:
    namespace: ops-shells
    imagePullSecrets: [regcred]
    priorityClass: system-node-critical
    labels: {env: prod}
    annotations: {cost-center: "42"}
    overrides: {"spec": {"tolerations": [{"operator": "Exists"}]}}
  dev:
    image: docker.io/library/busybox:1.36
`

func TestResolve(t *testing.T) {
	f, err := Parse("cfg.yaml", []byte(sample))
	if err != nil {
		t.Fatal(err)
	}
	prod, err := f.Resolve("cfg.yaml", "prod")
	if err != nil {
		t.Fatal(err)
	}
	want := Resolved{
		Image:            "registry.corp/busybox:1.37",
		Namespace:        "ops-shells",
		ImagePullSecrets: []string{"regcred"},
		PriorityClass:    "system-node-critical",
		Labels:           map[string]string{"team": "sre", "env": "prod"},
		Annotations:      map[string]string{"cost-center": "42"},
		Overrides: [][]byte{
			[]byte(`{"spec":{"containers":[{"name":"shell","resources":{"limits":{"cpu":"1"}}}]}}`),
			[]byte(`{"spec":{"tolerations":[{"operator":"Exists"}]}}`),
		},
		Sources: []string{"cfg.yaml (default)", "cfg.yaml (context prod)"},
	}
	if d := cmp.Diff(want, prod); d != "" {
		t.Errorf("prod (-want +got):\n%s", d)
	}
	dev, _ := f.Resolve("cfg.yaml", "dev")
	if dev.Image != "docker.io/library/busybox:1.36" || dev.Namespace != "" || len(dev.Overrides) != 1 {
		t.Errorf("dev = %+v", dev)
	}
	other, _ := f.Resolve("cfg.yaml", "unknown")
	if other.Image != "registry.corp/busybox:1.37" || other.Labels["env"] != "any" {
		t.Errorf("a context without an entry gets the default: %+v", other)
	}
}

func TestParseErrorsNameTheLine(t *testing.T) {
	tests := []struct{ data, want string }{
		{"default:\n  image: a\n   namespace: b\n", "cfg.yaml:3: "},
		{"default:\n  imag: a\n", "cfg.yaml:2: field imag not found"},
		{"contexts:\n  prod:\n    labels: [a, b]\n", "cfg.yaml:3: "},
		{"default:\n  overrides: sleep\n", "cfg.yaml:2: overrides of the default entry must be a mapping"},
		{"- a\n", "cfg.yaml:1: "},
	}
	for _, tc := range tests {
		_, err := Parse("cfg.yaml", []byte(tc.data))
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("Parse(%q) = %v, want one line starting %q", tc.data, err, tc.want)
		}
	}
	if f, err := Parse("cfg.yaml", nil); err != nil || f.Default.Image != "" {
		t.Errorf("an empty file: %v %+v", err, f)
	}
}

func TestSetUnsetSaveLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "node-shell.yaml")
	f, err := Load(path)
	if err != nil {
		t.Fatalf("a missing file is empty: %v", err)
	}
	for _, kv := range [][3]string{
		{"", "image", "registry.corp/busybox:1.37"},
		{"prod", "namespace", "ops"},
		{"prod", "imagePullSecrets", "a, b"},
		{"prod", "labels.team", "sre"},
		{"prod", "overrides", `{"spec":{"containers":[{"name":"shell","resources":{"limits":{"memory":"1Gi"}}}]}}`},
		{"dev", "image", "x:1"},
	} {
		if err := f.Set(kv[0], kv[1], kv[2]); err != nil {
			t.Fatalf("Set %v: %v", kv, err)
		}
	}
	if err := f.Set("", "imagex", "a"); err == nil || !strings.Contains(err.Error(), "unknown key") {
		t.Errorf("unknown key: %v", err)
	}
	if err := f.Set("", "overrides", "[1]"); err == nil {
		t.Error("a list accepted as overrides")
	}
	if err := f.Unset("dev", "image"); err != nil {
		t.Fatal(err)
	}
	if err := Save(path, f); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("saved file: %v, mode %v", err, st.Mode())
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("temporary files left: %v", entries)
	}
	back, err := Load(path)
	if err != nil {
		t.Fatalf("reload: %v", err)
	}
	r, err := back.Resolve(path, "prod")
	if err != nil {
		t.Fatal(err)
	}
	if r.Image != "registry.corp/busybox:1.37" || r.Namespace != "ops" || !cmp.Equal(r.ImagePullSecrets, []string{"a", "b"}) ||
		r.Labels["team"] != "sre" || len(r.Overrides) != 1 || string(r.Overrides[0]) != `{"spec":{"containers":[{"name":"shell","resources":{"limits":{"memory":"1Gi"}}}]}}` {
		t.Errorf("reloaded prod = %+v (overrides %s)", r, r.Overrides)
	}
	if _, ok := back.Contexts["dev"]; ok {
		t.Error("an emptied context entry was kept")
	}
	data, _ := os.ReadFile(path)
	if strings.Contains(string(data), "{") {
		t.Errorf("overrides kept JSON's flow style:\n%s", data)
	}
}

func TestPath(t *testing.T) {
	if p, _ := Path(func(string) string { return "/etc/ns.yaml" }); p != "/etc/ns.yaml" {
		t.Errorf("$%s ignored: %s", PathEnv, p)
	}
	t.Setenv("HOME", "/home/u")
	if p, _ := Path(func(string) string { return "" }); p != "/home/u/.kube/node-shell.yaml" {
		t.Errorf("default path %s", p)
	}
}
