package cmd

import (
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/kubectl/pkg/util/templates"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/session"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/transfer"
)

var (
	cpLong = templates.LongDesc(`
		Copy files and directories between this machine and a node, like scp.

		One of SRC and DEST is NODE:PATH, with an absolute PATH on the node. Directories are
		copied recursively; modes, mtimes and symlinks (as symlinks) are kept. A copy into an
		existing directory lands inside it, otherwise under the name given.

		The tar on the node's side is the session image's (busybox), run in container mode
		with the node's / at /host: the node needs no tools of its own. Every transfer is
		verified: the node counts and hashes (sha256) the exact stream it sent or received,
		and node-shell exits 0 only when that matches what arrived. A name coming from the
		node that would land outside the destination ("..", an absolute name, a path through
		a symlink) is refused and fails the copy.

		With -l SELECTOR or --all, the copy runs on every selected node, --parallel at a
		time, and the node side is written :PATH, without a node name. From the nodes, DEST
		is a directory (made if missing) and each node's copy lands in DEST/NODE/; to the
		nodes, SRC goes to PATH on each. Every node's transfer is verified on its own, one
		failing node never stops the others, and a summary follows on stderr: the exit
		status is 0 only when every node's copy was verified, else 255.`)

	cpExample = templates.Examples(`
		# A node's log into the current directory
		%[1]s cp NODE:/var/log/syslog ./

		# A fixed binary onto the node
		%[1]s cp ./kubelet NODE:/usr/local/bin/

		# A directory, recursively, under another name
		%[1]s cp NODE:/etc/kubernetes ./node-kubernetes

		# Every GPU node's syslog, as ./logs/NODE/syslog
		%[1]s cp -l pool=gpu :/var/log/syslog ./logs/

		# A tool onto every node
		%[1]s cp --all ./tool :/usr/local/bin/`)
)

// CpOptions are the flags and resolved state of `kubectl node-shell cp SRC DEST`.
type CpOptions struct {
	*NodeShellOptions
	Src, Dest string

	// Derived in Complete: which side is the node's, and the paths on each side.
	upload    bool
	nodePath  string
	localPath string
}

// NewCmdCp returns `kubectl node-shell cp`.
func NewCmdCp(streams genericiooptions.IOStreams) *cobra.Command {
	o := &CpOptions{NodeShellOptions: NewNodeShellOptions(streams)}
	cmd := &cobra.Command{
		Use:                   "cp [flags] SRC DEST | (-l SELECTOR | --all) SRC DEST",
		DisableFlagsInUseLine: true,
		Short:                 "Copy files and directories to and from a node",
		Long:                  cpLong,
		Example:               templatesName(cpExample),
		SilenceUsage:          true,
		SilenceErrors:         true,
		RunE:                  completeValidateRun(o),
	}
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError(c, "%v", err) })
	o.addPodFlags(cmd)
	o.addCpFleetFlags(cmd)
	return cmd
}

// splitRemote splits "NODE:PATH"; a colon after a slash is part of a local path, so
// ./a:b is local, as with scp.
func splitRemote(arg string) (node, p string, ok bool) {
	i := strings.IndexByte(arg, ':')
	if i <= 0 || strings.ContainsRune(arg[:i], '/') {
		return "", "", false
	}
	return arg[:i], arg[i+1:], true
}

// Complete works out which side is the node's and resolves the session's clients.
func (o *CpOptions) Complete(cmd *cobra.Command, args []string) error {
	if len(args) != 2 {
		return usageError(cmd, "cp takes SRC and DEST, one of them NODE:PATH: kubectl node-shell cp NODE:/var/log/syslog ./")
	}
	o.Src, o.Dest = args[0], args[1]
	if o.Selector != "" || o.All {
		return o.completeFleet(cmd)
	}
	srcNode, srcPath, srcRemote := splitRemote(o.Src)
	destNode, destPath, destRemote := splitRemote(o.Dest)
	switch {
	case srcRemote && destRemote:
		return usageError(cmd, "both %s and %s are on nodes: copy to this machine first", o.Src, o.Dest)
	case !srcRemote && !destRemote && (isFleetSide(o.Src) || isFleetSide(o.Dest)):
		return usageError(cmd, ":PATH names no node: write NODE:PATH, or select the nodes with -l SELECTOR or --all")
	case !srcRemote && !destRemote:
		return usageError(cmd, "neither %s nor %s names a node: write one of them as NODE:PATH", o.Src, o.Dest)
	case srcRemote:
		o.Node, o.nodePath, o.localPath = srcNode, srcPath, o.Dest
	default:
		o.upload = true
		o.Node, o.nodePath, o.localPath = destNode, destPath, o.Src
	}
	return o.completeContainerSession(cmd, o.Node)
}

// Validate judges the paths and the pod's flags; nothing is created on a bad one.
func (o *CpOptions) Validate() error {
	if err := o.NodeShellOptions.Validate(); err != nil {
		return err
	}
	if !path.IsAbs(o.nodePath) {
		return usageError(nil, "%s:%s: the path on the node must be absolute, like %s:/var/log/syslog", o.Node, o.nodePath, o.Node)
	}
	if o.localPath == "" {
		return usageError(nil, "the local path is empty: use . for the current directory")
	}
	if o.upload {
		if _, err := os.Lstat(o.localPath); err != nil {
			return fmt.Errorf("%s: %w", o.localPath, unwrapPathError(err))
		}
		return nil
	}
	if path.Clean(o.nodePath) == "/" {
		return usageError(nil, "%s:/ is the node's whole filesystem: name a file or directory in it", o.Node)
	}
	if o.fleet {
		return o.validateGatherDir()
	}
	if _, _, err := transfer.LocalTarget(o.localPath); err != nil {
		return err
	}
	return nil
}

// Run starts the session, copies, and deletes the pod.
func (o *CpOptions) Run(ctx context.Context) error {
	if o.fleet {
		return o.runFleet(ctx)
	}
	// A panic in a goroutine of the session's ends the session through ctx, so cleanup runs.
	ctx, endSession := context.WithCancelCause(ctx)
	defer endSession(nil)
	reporter := newReporter(o.ErrOut, o.Quiet, o.Verbosity, endSession)
	defer reporter.Done()
	h, err := o.startContainerSession(ctx, reporter, []string{"cp", o.Src, o.Dest}, session.ExecRequest{})
	if err != nil {
		return reporter.Explain(err)
	}
	defer h.Close()
	exec := func(ctx context.Context, argv []string, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
		return h.Exec(ctx, session.ExecRequest{Command: argv, Terminal: session.Streams{In: stdin, Out: stdout, ErrOut: stderr}.Terminal()})
	}
	opts := transfer.Options{ErrOut: o.ErrOut, Warn: reporter.Warning}
	if reporter.progress {
		opts.Progress = o.ErrOut
	}
	if o.upload {
		_, err = transfer.Upload(ctx, exec, o.localPath, o.nodePath, opts)
	} else {
		_, err = transfer.Download(ctx, exec, o.nodePath, o.localPath, opts)
	}
	if err != nil {
		if cause := context.Cause(ctx); cause != nil {
			return cause
		}
		return reporter.Explain(fmt.Errorf("cp %s %s: %w", o.Src, o.Dest, err))
	}
	return nil
}

// unwrapPathError drops the "lstat PATH:" of an *fs.PathError, the path being said already.
func unwrapPathError(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}
