package e2e

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// completions splits `__complete` output into the offered words (descriptions dropped) and
// the directive line.
func completions(stdout []byte) (words []string, directive string) {
	lines := strings.Split(strings.TrimSuffix(string(stdout), "\n"), "\n")
	for _, l := range lines[:len(lines)-1] {
		word, _, _ := strings.Cut(l, "\t")
		words = append(words, word)
	}
	return words, lines[len(lines)-1]
}

// TestCompletionListsRealNodes: the NODE argument completes to the nodes the real apiserver
// lists, for the kubeconfig the user has; a user who may not list nodes gets nothing, quickly.
func TestCompletionListsRealNodes(t *testing.T) {
	e := newE2E(t)
	nodes := slices.Sorted(slices.Values(e.Nodes()))

	words, directive := completions(e.NodeShell("__complete", "127.0.0.").RunOK().Stdout)
	if !slices.Equal(words, nodes) || directive != ":4" {
		t.Errorf("completions %q, directive %s; want the nodes %q and :4 (no file completion)", words, directive, nodes)
	}

	words, _ = completions(e.NodeShell("__complete", "--mode", "nsenter", "127.0.0.2").RunOK().Stdout)
	if !slices.Equal(words, []string{"127.0.0.2"}) {
		t.Errorf("prefix 127.0.0.2 completes to %q", words)
	}

	r := e.NodeShell("__complete", nodes[1], "--", "/et").RunOK()
	if words, _ = completions(r.Stdout); len(words) != 0 {
		t.Errorf("after NODE --, completions %q; want none (the command runs on the node)", words)
	}
	r.AssertNoSession(t) // completing a command line never starts it

	kubeconfig, err := e.cluster.MintKubeconfig("completion-nobody")
	if err != nil {
		t.Fatal(err)
	}
	r = e.NodeShell("__complete", "127.0.0.").WithKubeconfig(kubeconfig).WithTimeout(30 * time.Second).RunOK()
	if words, _ := completions(r.Stdout); len(words) != 0 {
		t.Errorf("a user without access to nodes got completions %q", words)
	}
	if r.Elapsed > 5*time.Second {
		t.Errorf("a forbidden completion took %v", r.Elapsed)
	}
}
