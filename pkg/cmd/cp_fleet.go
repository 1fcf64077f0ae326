package cmd

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/fleet"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/podspec"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/session"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/transfer"
)

// addCpFleetFlags puts the fleet's node selection on cp (node names are not among them:
// each side names at most one node).
func (o *CpOptions) addCpFleetFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVarP(&o.Selector, "selector", "l", o.Selector, "Copy from or to every node this label selector matches: write the node side as :PATH; from the nodes, each node's copy lands in DEST/NODE/")
	f.BoolVar(&o.All, "all", o.All, "Copy from or to every node of the cluster (the node side as :PATH)")
	f.IntVar(&o.Parallel, "parallel", o.Parallel, "How many nodes copy at once with -l or --all")
}

// isFleetSide reports whether arg is a fleet's node side, ":PATH": a node's path with
// the node left to -l or --all. A local name starting with a colon is written ./:name.
func isFleetSide(arg string) bool { return strings.HasPrefix(arg, ":") }

// completeFleet is Complete for -l/--all: exactly one side is :PATH, and no side names a node.
func (o *CpOptions) completeFleet(cmd *cobra.Command) error {
	for _, arg := range []string{o.Src, o.Dest} {
		if node, _, ok := splitRemote(arg); ok {
			return usageError(cmd, "%s names node %s, but -l/--all choose the nodes: write the node side as :PATH, like cp -l pool=gpu :/var/log/syslog ./logs/", arg, node)
		}
	}
	switch src, dest := isFleetSide(o.Src), isFleetSide(o.Dest); {
	case src && dest:
		return usageError(cmd, "both %s and %s are on the nodes: one side must be on this machine", o.Src, o.Dest)
	case !src && !dest:
		return usageError(cmd, "neither %s nor %s is on the nodes: with -l/--all write the node side as :PATH, like cp -l pool=gpu :/var/log/syslog ./logs/", o.Src, o.Dest)
	case src:
		o.nodePath, o.localPath = o.Src[1:], o.Dest
	default:
		o.upload = true
		o.nodePath, o.localPath = o.Dest[1:], o.Src
	}
	if err := o.NodeShellOptions.Complete(cmd, nil); err != nil {
		return err
	}
	o.Mode = string(podspec.ModeContainer)
	// What the pods record as their command, and what makes the fleet's check for a command pass.
	o.Command = []string{"cp", o.Src, o.Dest}
	o.Stdin = false // the transfers bring their own stdin; node-shell's is not read
	o.fleetAction = o.copyOnNode
	return nil
}

// validateGatherDir judges DEST of a download from the nodes: a directory, or a new one
// whose parent exists (it is made at the first node's copy).
func (o *CpOptions) validateGatherDir() error {
	fi, err := os.Stat(o.localPath)
	switch {
	case err == nil && !fi.IsDir():
		return usageError(nil, "%s is not a directory: copies from several nodes go to DEST/NODE/, so DEST must be a directory", o.localPath)
	case err == nil:
		return nil
	case !os.IsNotExist(err):
		return fmt.Errorf("%s: %w", o.localPath, unwrapPathError(err))
	}
	parent := filepath.Dir(filepath.Clean(o.localPath))
	if pfi, err := os.Stat(parent); err != nil || !pfi.IsDir() {
		return fmt.Errorf("%s: no such directory", parent)
	}
	return nil
}

// copyOnNode is one node's verified transfer, on the session the fleet started there: a
// download lands in DEST/NODE/, an upload goes to the node's PATH as the single cp's does.
func (o *CpOptions) copyOnNode(ctx context.Context, node string, h fleet.Handle, st session.Streams, r session.Reporter) (int, error) {
	exec := func(ctx context.Context, argv []string, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
		return h.Exec(ctx, session.ExecRequest{Command: argv, Terminal: session.Streams{In: stdin, Out: stdout, ErrOut: stderr}.Terminal()})
	}
	// No progress bar per node: the fleet's count is the progress.
	opts := transfer.Options{ErrOut: st.ErrOut, Warn: r.Warning}
	if o.upload {
		_, err := transfer.Upload(ctx, exec, o.localPath, o.nodePath, opts)
		return 0, err
	}
	// Node names are DNS subdomains, so DEST/NODE stays in DEST; one that is not is refused.
	if errs := validation.IsDNS1123Subdomain(node); len(errs) > 0 {
		return 0, fmt.Errorf("node name %q cannot be a directory name: %s", node, strings.Join(errs, "; "))
	}
	dir := filepath.Join(o.localPath, node)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, err
	}
	if _, err := transfer.Download(ctx, exec, o.nodePath, dir, opts); err != nil {
		_ = os.Remove(dir) // only if empty: a partial copy stays for the user to see
		return 0, err
	}
	return 0, nil
}
