package cmd

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/cobra"
	rbacv1 "k8s.io/api/rbac/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	discoveryfake "k8s.io/client-go/discovery/fake"
	"k8s.io/client-go/dynamic"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/clustersetup"
)

func TestSetupBadArgumentsSendNoRequest(t *testing.T) {
	kubeconfig, requests := countingServer(t)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no node admins", nil, "name the node admins, who may open sessions: --group GROUP or --user USER (repeatable)"},
		{"empty group", []string{"--group", ""}, "--group and --user need a name"},
		{"unknown dry run", []string{"--group", "g", "--dry-run", "yes"}, `--dry-run must be "none", "client" or "server", not "yes"`},
		{"unknown output", []string{"--group", "g", "-o", "wide"}, "--output must be 'yaml' or 'json', not \"wide\""},
		{"an argument", []string{"--group", "g", "node-1"}, `setup takes no arguments, got "node-1": name the node admins with --group or --user`},
		{"no -n: the namespace is setup's", []string{"--group", "g", "-n", "ops"}, "unknown shorthand flag: 'n' in -n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			streams, _, out, errOut := genericiooptions.NewTestIOStreams()
			status := Execute(streams, append([]string{"setup", "--kubeconfig", kubeconfig}, tc.args...))
			if status != ExitFailure {
				t.Errorf("status %d, want %d", status, ExitFailure)
			}
			if !strings.Contains(errOut.String(), tc.want) || !strings.Contains(errOut.String(), "See 'kubectl node-shell setup --help' for usage.") {
				t.Errorf("stderr %q, want %q and the usage pointer", errOut, tc.want)
			}
			if out.Len() != 0 {
				t.Errorf("stdout %q, want nothing", out)
			}
		})
	}
	if n := requests.Load(); n != 0 {
		t.Errorf("%d requests reached the apiserver, want none", n)
	}
}

// TestSetupClientDryRunNeedsNoCluster: --dry-run=client -o yaml prints the manifest the docs
// hold, with no kubeconfig at all.
func TestSetupClientDryRunNeedsNoCluster(t *testing.T) {
	t.Setenv("KUBECONFIG", t.TempDir()+"/missing")
	want, err := clustersetup.Manifest(clustersetup.Objects(clustersetup.Options{Groups: []string{"node-shell-users"}, AdmissionPolicy: true}))
	if err != nil {
		t.Fatal(err)
	}
	streams, _, out, errOut := genericiooptions.NewTestIOStreams()
	if status := Execute(streams, []string{"setup", "--group", "node-shell-users", "--dry-run=client", "-o", "yaml"}); status != 0 {
		t.Fatalf("status %d; stderr %q", status, errOut)
	}
	if diff := cmp.Diff(string(want), out.String()); diff != "" {
		t.Errorf("-o yaml (-manifest +printed):\n%s", diff)
	}

	streams, _, out, _ = genericiooptions.NewTestIOStreams()
	if status := Execute(streams, []string{"setup", "--user", "alice", "--dry-run=client"}); status != 0 {
		t.Fatalf("status %d", status)
	}
	if lines := strings.Split(strings.TrimSpace(out.String()), "\n"); len(lines) != 9 || lines[2] != "namespace/node-shell (dry run)" {
		t.Errorf("stdout %q, want one line per object, the namespace third", out)
	}
}

func TestSetupAppliesIdempotently(t *testing.T) {
	api := newFakeApplyServer(true)
	run := func(args ...string) (string, string) {
		t.Helper()
		out, errOut, err := api.run(t, args...)
		if err != nil {
			t.Fatalf("setup %v: %v", args, err)
		}
		return out, errOut
	}
	out, errOut := run("--group", "node-admins")
	want := `validatingadmissionpolicy.admissionregistration.k8s.io/kubectl-node-shell created
validatingadmissionpolicybinding.admissionregistration.k8s.io/kubectl-node-shell created
namespace/node-shell created
role.rbac.authorization.k8s.io/kubectl-node-shell created
rolebinding.rbac.authorization.k8s.io/kubectl-node-shell created
clusterrole.rbac.authorization.k8s.io/kubectl-node-shell created
clusterrolebinding.rbac.authorization.k8s.io/kubectl-node-shell created
role.rbac.authorization.k8s.io/kubectl-node-shell-leases created
rolebinding.rbac.authorization.k8s.io/kubectl-node-shell-leases created
`
	if diff := cmp.Diff(want, out); diff != "" || errOut != "" {
		t.Errorf("first run (-want +got):\n%s\nstderr %q", diff, errOut)
	}
	for _, p := range api.patches {
		if p.fieldManager != clustersetup.FieldManager || !p.force {
			t.Errorf("apply of %s with field manager %q, force %v; want %q, forced", p.name, p.fieldManager, p.force, clustersetup.FieldManager)
		}
	}

	sent := len(api.patches)
	out, _ = run("--group", "node-admins")
	if want := strings.ReplaceAll(want, " created", " unchanged"); out != want {
		t.Errorf("second run:\n%s\nwant every object unchanged", out)
	}
	for _, p := range api.patches[sent:] {
		if !p.dryRun {
			t.Errorf("second run applied %s for real; want only the dry run that finds nothing to change", p.name)
		}
	}

	out, _ = run("--group", "node-admins", "--user", "alice")
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		changed := strings.Contains(line, "binding.rbac.authorization.k8s.io/")
		if strings.HasSuffix(line, " configured") != changed || (!changed && !strings.HasSuffix(line, " unchanged")) {
			t.Errorf("with another subject: %q; want only the three bindings configured", line)
		}
	}
}

func TestSetupServerDryRunChangesNothing(t *testing.T) {
	api := newFakeApplyServer(true)
	out, _, err := api.run(t, "--group", "node-admins", "--dry-run=server")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	// kube-node-lease exists: the server judges the lease Role and binding there.
	if len(lines) != 9 || lines[2] != "namespace/node-shell created (server dry run)" ||
		lines[3] != "role.rbac.authorization.k8s.io/kubectl-node-shell created (server dry run; not checked, as namespace node-shell does not exist yet)" ||
		lines[7] != "role.rbac.authorization.k8s.io/kubectl-node-shell-leases created (server dry run)" ||
		lines[8] != "rolebinding.rbac.authorization.k8s.io/kubectl-node-shell-leases created (server dry run)" {
		t.Errorf("stdout:\n%s", out)
	}
	for _, p := range api.patches {
		if !p.dryRun {
			t.Errorf("apply of %s without dryRun=All", p.name)
		}
	}
	if len(api.objects) != 0 {
		t.Errorf("a server dry run stored %d objects", len(api.objects))
	}
}

func TestSetupWithoutAdmissionPolicyWarns(t *testing.T) {
	api := newFakeApplyServer(false)
	out, errOut, err := api.run(t, "--group", "node-admins")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, "validatingadmissionpolic") || strings.Count(out, "\n") != 7 {
		t.Errorf("stdout:\n%s\nwant the namespace and RBAC only", out)
	}
	if !strings.HasPrefix(errOut, "warning: this cluster does not serve ValidatingAdmissionPolicy") || strings.Count(errOut, "\n") != 1 {
		t.Errorf("stderr %q, want one warning line", errOut)
	}
}

func TestSetupRefusedSaysWhichPermissionInOneLine(t *testing.T) {
	tests := []struct {
		name     string
		resource string
		err      error
		want     string
	}{
		{
			name: "no rights at all", resource: "validatingadmissionpolicies",
			err: apierrors.NewForbidden(schema.GroupResource{Group: "admissionregistration.k8s.io", Resource: "validatingadmissionpolicies"}, "kubectl-node-shell",
				errors.New(`User "bob" cannot get resource "validatingadmissionpolicies" in API group "admissionregistration.k8s.io" at the cluster scope`)),
			want: "error: you are not allowed to get validatingadmissionpolicies.admissionregistration.k8s.io (cluster-wide); a cluster admin must run kubectl node-shell setup: it makes a namespace, RBAC and an admission policy",
		},
		{
			name: "may write roles but not hold their rules", resource: "roles",
			err: apierrors.NewForbidden(schema.GroupResource{Group: "rbac.authorization.k8s.io", Resource: "roles"}, "kubectl-node-shell",
				errors.New(`user "bob" (groups=["system:authenticated"]) is attempting to grant RBAC permissions not currently held:
{APIGroups:[""], Resources:["pods"], Verbs:["create"]}`)),
			want: "error: RBAC refuses you to grant what role.rbac.authorization.k8s.io/kubectl-node-shell grants, as you do not hold it all yourself; a cluster admin must run kubectl node-shell setup: it makes a namespace, RBAC and an admission policy",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			api := newFakeApplyServer(true)
			api.refuse = map[string]error{tc.resource: tc.err}
			_, _, err := api.run(t, "--group", "node-admins")
			if got := Message(err); got != tc.want {
				t.Errorf("message:\n%s\nwant:\n%s", got, tc.want)
			}
			if ExitStatus(err) != ExitFailure {
				t.Errorf("status %d", ExitStatus(err))
			}
		})
	}
}

func TestSetupWarnsOfRoleBindingsItDidNotMake(t *testing.T) {
	api := newFakeApplyServer(true)
	api.roleBindings = []string{"kubectl-node-shell", "team-a-edit", "ci-deployer"}
	_, errOut, err := api.run(t, "--group", "node-admins")
	if err != nil {
		t.Fatal(err)
	}
	want := "warning: namespace node-shell also has RoleBindings setup did not make (ci-deployer, team-a-edit): check whom they let exec into, attach to or patch pods there, since they can take over sessions\n"
	if errOut != want {
		t.Errorf("stderr %q, want %q", errOut, want)
	}
}

// fakeApplyServer stands in for the apiserver's server-side apply: it stores what is
// applied, and bumps an object's resourceVersion only when its content changes.
type fakeApplyServer struct {
	mu           sync.Mutex
	policy       bool
	objects      map[string]*unstructured.Unstructured
	version      int
	patches      []fakePatch
	refuse       map[string]error // by resource, on any request
	roleBindings []string
}

type fakePatch struct {
	name         string
	fieldManager string
	force        bool
	dryRun       bool
}

func newFakeApplyServer(policy bool) *fakeApplyServer {
	return &fakeApplyServer{policy: policy, objects: map[string]*unstructured.Unstructured{}}
}

// run runs `setup ARGS` against the fake and returns stdout, stderr and the error.
func (f *fakeApplyServer) run(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	streams, _, out, errOut := genericiooptions.NewTestIOStreams()
	o := NewSetupOptions(streams)
	client := fake.NewClientset()
	client.PrependReactor("list", "rolebindings", func(k8stesting.Action) (bool, runtime.Object, error) {
		list := &rbacv1.RoleBindingList{}
		for _, n := range f.roleBindings {
			list.Items = append(list.Items, rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: n, Namespace: clustersetup.Namespace}})
		}
		return true, list, nil
	})
	disco := client.Discovery().(*discoveryfake.FakeDiscovery)
	if f.policy {
		disco.Resources = []*metav1.APIResourceList{{GroupVersion: "admissionregistration.k8s.io/v1", APIResources: []metav1.APIResource{
			{Name: "validatingadmissionpolicies"}, {Name: "validatingadmissionpolicybindings"}, {Name: "validatingwebhookconfigurations"},
		}}}
	}
	dyn := dynamicfake.NewSimpleDynamicClient(runtime.NewScheme())
	dyn.PrependReactor("get", "*", f.get)
	dyn.PrependReactor("patch", "*", f.patch)
	o.client, o.dynamic, o.discovery = client, &recordingDynamic{Interface: dyn, f: f}, disco

	cmd := &cobra.Command{}
	o.AddFlags(cmd)
	if err := cmd.ParseFlags(args); err != nil {
		t.Fatal(err)
	}
	if err := o.Complete(); err != nil {
		t.Fatal(err)
	}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	err := o.Run(context.Background())
	return out.String(), errOut.String(), err
}

func fakeKey(a k8stesting.Action, name string) string {
	return a.GetResource().Resource + "/" + a.GetNamespace() + "/" + name
}

func (f *fakeApplyServer) get(a k8stesting.Action) (bool, runtime.Object, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.refuse[a.GetResource().Resource]; err != nil {
		return true, nil, err
	}
	name := a.(k8stesting.GetAction).GetName()
	if o, ok := f.objects[fakeKey(a, name)]; ok {
		return true, o.DeepCopy(), nil
	}
	return true, nil, apierrors.NewNotFound(a.GetResource().GroupResource(), name)
}

func (f *fakeApplyServer) patch(a k8stesting.Action) (bool, runtime.Object, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.refuse[a.GetResource().Resource]; err != nil {
		return true, nil, err
	}
	p := a.(k8stesting.PatchActionImpl)
	if p.PatchType != types.ApplyPatchType {
		return true, nil, apierrors.NewBadRequest("want a server-side apply, got a " + string(p.PatchType))
	}
	dryRun := f.patches[len(f.patches)-1].dryRun
	var obj map[string]any
	if err := json.Unmarshal(p.Patch, &obj); err != nil {
		return true, nil, err
	}
	applied := &unstructured.Unstructured{Object: obj}
	key := fakeKey(a, p.Name)
	old, ok := f.objects[key]
	if ok && apiequality.Semantic.DeepEqual(stripVersion(old), applied.Object) {
		return true, old.DeepCopy(), nil
	}
	f.version++
	applied.SetResourceVersion(strconv.Itoa(f.version))
	if !dryRun {
		f.objects[key] = applied.DeepCopy()
	}
	return true, applied, nil
}

func stripVersion(u *unstructured.Unstructured) map[string]any {
	c := u.DeepCopy()
	unstructured.RemoveNestedField(c.Object, "metadata", "resourceVersion")
	return c.Object
}

// recordingDynamic records the options of each apply, which the fake dynamic client drops.
type recordingDynamic struct {
	dynamic.Interface
	f *fakeApplyServer
}

func (d *recordingDynamic) Resource(r schema.GroupVersionResource) dynamic.NamespaceableResourceInterface {
	return &recordingResource{NamespaceableResourceInterface: d.Interface.Resource(r), f: d.f}
}

type recordingResource struct {
	dynamic.NamespaceableResourceInterface
	f         *fakeApplyServer
	namespace string
}

func (r *recordingResource) Namespace(ns string) dynamic.ResourceInterface {
	return &recordingResource{NamespaceableResourceInterface: r.NamespaceableResourceInterface, f: r.f, namespace: ns}
}

func (r *recordingResource) inner() dynamic.ResourceInterface {
	return r.NamespaceableResourceInterface.Namespace(r.namespace)
}

func (r *recordingResource) Get(ctx context.Context, name string, opts metav1.GetOptions, sub ...string) (*unstructured.Unstructured, error) {
	return r.inner().Get(ctx, name, opts, sub...)
}

func (r *recordingResource) Apply(ctx context.Context, name string, obj *unstructured.Unstructured, opts metav1.ApplyOptions, sub ...string) (*unstructured.Unstructured, error) {
	r.f.mu.Lock()
	r.f.patches = append(r.f.patches, fakePatch{name: name, fieldManager: opts.FieldManager, force: opts.Force, dryRun: len(opts.DryRun) > 0})
	r.f.mu.Unlock()
	return r.inner().Apply(ctx, name, obj, opts, sub...)
}
