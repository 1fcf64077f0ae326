package sshkeys

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
	k8stesting "k8s.io/client-go/testing"
)

var lookupNow = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

type lookupFixture struct {
	client *fake.Clientset
	lookup Lookup
	gets   []string
}

// newFixture serves nodes node-a and node-b, each with keys for root and bob; the
// kubeconfig is node-a's.
func newFixture(t *testing.T) *lookupFixture {
	t.Helper()
	node := func(name string) *corev1.Node {
		return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{
			KeyPrefix + name + "-root": mustEncode(t, name+"-root", "root", at("2026-12-01T12:10:00Z"), newPublicKey(t, "x")),
			KeyPrefix + name + "-old":  mustEncode(t, name+"-old", "root", at("2026-12-01T11:00:00Z"), newPublicKey(t, "x")),
			KeyPrefix + name + "-bob":  mustEncode(t, name+"-bob", "bob", at("2026-12-01T12:10:00Z"), newPublicKey(t, "x")),
			"other":                    "x",
		}}}
	}
	f := &lookupFixture{client: fake.NewClientset(node("node-a"), node("node-b"))}
	f.client.PrependReactor("get", "nodes", func(a k8stesting.Action) (bool, runtime.Object, error) {
		f.gets = append(f.gets, a.(k8stesting.GetAction).GetName())
		return false, nil, nil
	})
	f.lookup = Lookup{
		Kubeconfig:  writeKubeconfig(t, "system:node:node-a", "https://127.0.0.1:1"),
		Cache:       Cache{Dir: filepath.Join(t.TempDir(), "cache")},
		User:        "root",
		Timeout:     2 * time.Second,
		CacheMaxAge: time.Hour,
		Now:         func() time.Time { return lookupNow },
		NewClient:   func(*rest.Config) (kubernetes.Interface, error) { return f.client, nil },
	}
	return f
}

func (f *lookupFixture) failAPIServer(err error) {
	f.client.PrependReactor("get", "nodes", func(k8stesting.Action) (bool, runtime.Object, error) { return true, nil, err })
}

func ids(lines []string) string {
	var out []string
	for _, l := range lines {
		out = append(out, l[strings.LastIndex(l, "node-shell:")+len("node-shell:"):])
	}
	return strings.Join(out, ",")
}

func TestLookupReadsOnlyItsOwnNodeAndUser(t *testing.T) {
	f := newFixture(t)
	d := f.lookup.Run(context.Background())
	if d.Source != "apiserver" || d.Node != "node-a" || ids(d.Lines) != "node-a-root" {
		t.Fatalf("decision %s; lines %q", d, d.Lines)
	}
	if strings.Join(f.gets, ",") != "node-a" {
		t.Fatalf("nodes read: %v; want only node-a", f.gets)
	}
	if !strings.Contains(d.String(), "node-a-old expired") || strings.Contains(d.String(), "bob") {
		t.Fatalf("log line %q", d.String())
	}
	snap, err := f.lookup.Cache.Read()
	if err != nil || snap.Node != "node-a" || len(snap.Keys) != 3 || !snap.Fetched.Equal(lookupNow) {
		t.Fatalf("cache after a good read: %+v, %v", snap, err)
	}
	// A login name that is a path or option is refused before anything is read.
	f.gets = nil
	f.lookup.User = "../node-b"
	if d := f.lookup.Run(context.Background()); len(d.Lines) != 0 || len(f.gets) != 0 {
		t.Fatalf("user ../node-b: %s, gets %v", d, f.gets)
	}
}

func TestLookupFallsBackToTheCache(t *testing.T) {
	f := newFixture(t)
	f.lookup.Run(context.Background()) // fills the cache
	f.failAPIServer(errors.New("dial tcp 127.0.0.1:6443: connect: connection refused"))
	d := f.lookup.Run(context.Background())
	if d.Source != "cache" || ids(d.Lines) != "node-a-root" || !strings.Contains(d.String(), "connection refused") {
		t.Fatalf("decision %s", d)
	}
	// Past the key's expiry the cache has nothing to give, whatever sshd would do.
	f.lookup.Now = func() time.Time { return lookupNow.Add(10 * time.Minute) }
	if d := f.lookup.Run(context.Background()); d.Source != "cache" || len(d.Lines) != 0 || !strings.Contains(d.String(), "node-a-root expired") {
		t.Fatalf("decision past expiry %s", d)
	}
}

func TestLookupFallsBackWhenTheKubeconfigIsBroken(t *testing.T) {
	f := newFixture(t)
	f.lookup.Run(context.Background())
	os.WriteFile(f.lookup.Kubeconfig, []byte("not: [yaml"), 0o600)
	d := f.lookup.Run(context.Background())
	if d.Source != "cache" || d.Node != "node-a" || ids(d.Lines) != "node-a-root" || !strings.Contains(d.String(), "kubeconfig") {
		t.Fatalf("decision %s", d)
	}
	// Unauthorized (an expired kubelet certificate) falls back the same way.
	f2 := newFixture(t)
	f2.lookup.Run(context.Background())
	f2.failAPIServer(errors.New("Unauthorized"))
	if d := f2.lookup.Run(context.Background()); d.Source != "cache" || ids(d.Lines) != "node-a-root" {
		t.Fatalf("decision on Unauthorized %s", d)
	}
}

func TestLookupIgnoresAnotherNodesCache(t *testing.T) {
	f := newFixture(t)
	f.lookup.Cache.Write(Snapshot{Node: "node-b", Fetched: lookupNow, Keys: map[string]string{
		KeyPrefix + "b": mustEncode(t, "b", "root", at("2026-12-01T13:00:00Z"), newPublicKey(t, "x")),
	}})
	f.failAPIServer(errors.New("connection refused"))
	if d := f.lookup.Run(context.Background()); len(d.Lines) != 0 || !strings.Contains(d.String(), `cache is of node "node-b"`) {
		t.Fatalf("decision %s", d)
	}
}

func TestLookupDropsKeysWithoutExpiryFromAnOldCache(t *testing.T) {
	f := newFixture(t)
	f.lookup.Cache.Write(Snapshot{Node: "node-a", Fetched: lookupNow.Add(-2 * time.Hour), Keys: map[string]string{
		KeyPrefix + "forever": mustEncode(t, "forever", "root", nil, newPublicKey(t, "x")),
		KeyPrefix + "dated":   mustEncode(t, "dated", "root", at("2026-12-01T13:00:00Z"), newPublicKey(t, "x")),
	}})
	f.failAPIServer(errors.New("connection refused"))
	if d := f.lookup.Run(context.Background()); ids(d.Lines) != "dated" {
		t.Fatalf("decision %s", d)
	}
	f.lookup.CacheMaxAge = 3 * time.Hour
	if d := f.lookup.Run(context.Background()); ids(d.Lines) != "dated,forever" {
		t.Fatalf("decision with a young cache %s", d)
	}
}

func TestLookupOfADeletedNodeClearsTheCache(t *testing.T) {
	f := newFixture(t)
	f.lookup.Run(context.Background())
	f.client.CoreV1().Nodes().Delete(context.Background(), "node-a", metav1.DeleteOptions{})
	if d := f.lookup.Run(context.Background()); len(d.Lines) != 0 || d.Source != "none" {
		t.Fatalf("decision %s", d)
	}
	f.failAPIServer(errors.New("connection refused"))
	if d := f.lookup.Run(context.Background()); len(d.Lines) != 0 {
		t.Fatalf("keys of a deleted node came back from the cache: %s", d)
	}
}

func TestLookupWithoutAnythingGivesNoKey(t *testing.T) {
	f := newFixture(t)
	f.lookup.Kubeconfig = filepath.Join(t.TempDir(), "missing")
	if d := f.lookup.Run(context.Background()); len(d.Lines) != 0 || d.Source != "none" || !strings.Contains(d.String(), "no cache yet") {
		t.Fatalf("decision %s", d)
	}
}

func TestLookupIsBoundedInTime(t *testing.T) {
	f := newFixture(t)
	f.lookup.Run(context.Background()) // fills the cache
	// An apiserver that accepts connections and never answers.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	f.lookup.Kubeconfig = writeKubeconfig(t, "system:node:node-a", "https://"+ln.Addr().String())
	f.lookup.NewClient = func(c *rest.Config) (kubernetes.Interface, error) { return kubernetes.NewForConfig(c) }
	f.lookup.Timeout = 300 * time.Millisecond
	start := time.Now()
	d := f.lookup.Run(context.Background())
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("lookup took %s with a 300ms timeout", took)
	}
	if d.Source != "cache" || ids(d.Lines) != "node-a-root" {
		t.Fatalf("decision %s", d)
	}
}

func TestNodeNameComesFromTheCertificate(t *testing.T) {
	cert, key := certPEM(t, "system:node:worker-7")
	if n, err := NodeName(&rest.Config{TLSClientConfig: rest.TLSClientConfig{CertData: cert}}); err != nil || n != "worker-7" {
		t.Fatalf("NodeName = %q, %v", n, err)
	}
	// kubeadm's kubelet-client-current.pem: key and certificate in one file.
	file := filepath.Join(t.TempDir(), "kubelet-client-current.pem")
	os.WriteFile(file, append(key, cert...), 0o600)
	if n, err := NodeName(&rest.Config{TLSClientConfig: rest.TLSClientConfig{CertFile: file}}); err != nil || n != "worker-7" {
		t.Fatalf("NodeName from a file = %q, %v", n, err)
	}
	admin, _ := certPEM(t, "kubernetes-admin")
	for name, cfg := range map[string]*rest.Config{
		"admin certificate": {TLSClientConfig: rest.TLSClientConfig{CertData: admin}},
		"empty node name":   {TLSClientConfig: rest.TLSClientConfig{CertData: func() []byte { c, _ := certPEM(t, "system:node:"); return c }()}},
		"token":             {BearerToken: "x"},
		"key only":          {TLSClientConfig: rest.TLSClientConfig{CertData: key}},
	} {
		if n, err := NodeName(cfg); err == nil {
			t.Errorf("%s: NodeName = %q; want an error", name, n)
		}
	}
}
