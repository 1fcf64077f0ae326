package sshkeys

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Defaults of the node side.
const (
	DefaultCacheDir = "/var/cache/node-shell/authorized-keys"
	// DefaultTimeout bounds one lookup: sshd waits for the command before it tries the
	// next method, and a client waits for sshd.
	DefaultTimeout = 5 * time.Second
	// DefaultCacheMaxAge bounds how long a cached key without an expiry keeps working
	// while the apiserver cannot be reached.
	DefaultCacheMaxAge = 24 * time.Hour
)

// DefaultKubeconfigs are tried in order when no kubeconfig is given: kubeadm's, then the
// kubelet's usual path elsewhere.
var DefaultKubeconfigs = []string{"/etc/kubernetes/kubelet.conf", "/var/lib/kubelet/kubeconfig"}

// Lookup is one AuthorizedKeysCommand run.
type Lookup struct {
	Kubeconfig  string
	Cache       Cache
	User        string
	Timeout     time.Duration
	CacheMaxAge time.Duration
	Now         func() time.Time
	// NewClient builds the client from the kubeconfig (a seam for tests).
	NewClient func(*rest.Config) (kubernetes.Interface, error)
}

// Decision is what a lookup prints (Lines, for sshd) and logs (the rest).
type Decision struct {
	User    string
	Node    string
	Source  string // "apiserver", "cache" or "none"
	Lines   []string
	Refused []string
	Notes   []string // why the apiserver or the cache was not used
}

// String is the one log line of a decision.
func (d Decision) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "node-shell-authorized-keys: user=%s node=%s source=%s keys=%d", d.User, orDash(d.Node), d.Source, len(d.Lines))
	if len(d.Refused) > 0 {
		fmt.Fprintf(&b, " refused=[%s]", strings.Join(d.Refused, "; "))
	}
	if len(d.Notes) > 0 {
		fmt.Fprintf(&b, " notes=[%s]", strings.Join(d.Notes, "; "))
	}
	return b.String()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// Run reads the node's keys from the apiserver (refreshing the cache), or from the cache
// when the apiserver cannot be reached or the kubeconfig does not work. It never fails:
// the worst outcome is no key, which lets sshd go on with its other methods.
func (l Lookup) Run(ctx context.Context) Decision {
	now := l.Now()
	d := Decision{User: l.User, Source: "none"}
	if err := ValidateUser(l.User); err != nil {
		d.Notes = append(d.Notes, err.Error())
		return d
	}
	ctx, cancel := context.WithTimeout(ctx, l.Timeout)
	defer cancel()

	node, annotations, err := l.fetch(ctx, &d)
	switch {
	case err == nil:
		d.Source = "apiserver"
		if werr := l.Cache.Write(Snapshot{Node: node, Fetched: now.UTC(), Keys: annotations}); werr != nil {
			d.Notes = append(d.Notes, werr.Error())
		}
		d.Lines, d.Refused = Select(annotations, l.User, now)
		return d
	case errors.Is(err, errAuthoritative):
		d.Notes = append(d.Notes, err.Error())
		// An empty cache, so that keys of a deleted Node do not come back from it.
		if werr := l.Cache.Write(Snapshot{Node: node, Fetched: now.UTC(), Keys: map[string]string{}}); werr != nil {
			d.Notes = append(d.Notes, werr.Error())
		}
		return d
	}
	d.Notes = append(d.Notes, err.Error())
	snap, cerr := l.Cache.Read()
	if cerr != nil {
		d.Notes = append(d.Notes, cerr.Error())
		return d
	}
	if d.Node != "" && snap.Node != d.Node {
		d.Notes = append(d.Notes, fmt.Sprintf("cache is of node %q, not %q: ignored", snap.Node, d.Node))
		return d
	}
	d.Node, d.Source = snap.Node, "cache"
	keys := snap.Keys
	if age := now.Sub(snap.Fetched); age > l.CacheMaxAge || age < -time.Minute {
		// Too old (or from the future): only keys with an expiry still count.
		keys = withExpiry(keys)
		d.Notes = append(d.Notes, fmt.Sprintf("cache is %s old: keys without an expiry ignored", age.Round(time.Second)))
	}
	d.Lines, d.Refused = Select(keys, l.User, now)
	return d
}

// errAuthoritative marks an answer of the apiserver that the cache must not override.
var errAuthoritative = errors.New("authoritative")

// fetch returns the node's key annotations. It records the node name in d as soon as it
// is known.
func (l Lookup) fetch(ctx context.Context, d *Decision) (string, map[string]string, error) {
	cfg, err := l.restConfig()
	if err != nil {
		return "", nil, err
	}
	node, err := NodeName(cfg)
	if err != nil {
		return "", nil, err
	}
	d.Node = node
	cfg.Timeout = l.Timeout
	client, err := l.NewClient(cfg)
	if err != nil {
		return node, nil, fmt.Errorf("kubeconfig: %w", err)
	}
	obj, err := client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return node, nil, fmt.Errorf("%w: node %s does not exist: no keys", errAuthoritative, node)
	}
	if err != nil {
		return node, nil, fmt.Errorf("reading node %s: %v", node, err)
	}
	return node, KeyAnnotations(obj.Annotations), nil
}

func (l Lookup) restConfig() (*rest.Config, error) {
	paths := DefaultKubeconfigs
	if l.Kubeconfig != "" {
		paths = []string{l.Kubeconfig}
	}
	var errs []string
	for _, p := range paths {
		cfg, err := clientcmd.BuildConfigFromFlags("", p)
		if err == nil {
			return cfg, nil
		}
		errs = append(errs, err.Error())
	}
	return nil, fmt.Errorf("kubeconfig: %s", strings.Join(errs, "; "))
}

func withExpiry(annotations map[string]string) map[string]string {
	out := map[string]string{}
	for name, value := range annotations {
		if k, ok, err := Parse(name, value); err == nil && ok && k.Expires != nil {
			out[name] = value
		}
	}
	return out
}
