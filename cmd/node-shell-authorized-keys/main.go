// Command node-shell-authorized-keys is sshd's AuthorizedKeysCommand for nodes that take
// SSH keys from their Node object (docs/ssh.md):
//
//	AuthorizedKeysCommand /usr/local/libexec/node-shell-authorized-keys --kubeconfig /etc/kubernetes/kubelet.conf %u
//	AuthorizedKeysCommandUser root
//
// It prints the unexpired keys of the user, logs its decision on stderr (and --log-file),
// and exits 0 whatever happens, within --timeout.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/sshkeys"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("node-shell-authorized-keys", flag.ContinueOnError)
	fs.SetOutput(stderr)
	kubeconfig := fs.String("kubeconfig", "", "the kubelet's kubeconfig (default: the first of "+strings.Join(sshkeys.DefaultKubeconfigs, ", ")+" that loads)")
	cacheDir := fs.String("cache-dir", sshkeys.DefaultCacheDir, "root-only directory of the cache used when the apiserver cannot be reached")
	timeout := fs.Duration("timeout", sshkeys.DefaultTimeout, "longest run, apiserver included")
	cacheMaxAge := fs.Duration("cache-max-age", sshkeys.DefaultCacheMaxAge, "how long a cached key without an expiry keeps working")
	logFile := fs.String("log-file", "", "also append each decision to this file")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: node-shell-authorized-keys [flags] USER   (sshd: AuthorizedKeysCommand ... %u)")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	lookup := sshkeys.Lookup{
		Kubeconfig:  *kubeconfig,
		Cache:       sshkeys.Cache{Dir: *cacheDir},
		User:        fs.Arg(0),
		Timeout:     *timeout,
		CacheMaxAge: *cacheMaxAge,
		Now:         time.Now,
		NewClient:   func(c *rest.Config) (kubernetes.Interface, error) { return kubernetes.NewForConfig(c) },
	}
	started := time.Now()
	// A watchdog in case something ignores the context: no key rather than a hung sshd.
	done := make(chan sshkeys.Decision, 1)
	go func() { done <- lookup.Run(context.Background()) }()
	var d sshkeys.Decision
	select {
	case d = <-done:
	case <-time.After(*timeout + time.Second):
		d = sshkeys.Decision{User: lookup.User, Source: "none", Notes: []string{"timed out"}}
	}
	// All lines at once, at the end: sshd never reads a half-decided answer.
	if len(d.Lines) > 0 {
		fmt.Fprint(stdout, strings.Join(d.Lines, "\n")+"\n")
	}
	line := fmt.Sprintf("%s took=%dms", d, time.Since(started).Milliseconds())
	fmt.Fprintln(stderr, line)
	if *logFile != "" {
		if f, err := os.OpenFile(*logFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600); err == nil {
			fmt.Fprintf(f, "%s %s\n", time.Now().UTC().Format(time.RFC3339), line)
			f.Close()
		}
	}
	return 0
}
