package cmd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"time"

	dockerterm "github.com/moby/term"
	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/kubectl/pkg/util/templates"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/diagnose"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/recording"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/sessionlog"
	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/termsafe"
)

var (
	replayLong = templates.LongDesc(`
		Play a recorded TTY session on your terminal, as it was shown, at its own pace.

		Sessions are recorded on their node when its agent records them (kubectl node-shell
		agent install --record), as asciicast v2 files in ` + sessionlog.Dir + `; kubectl
		node-shell sessions lists them. SESSION is the session's ID or a unique prefix of it
		(4 characters at least); NODE, when given, is where to look (else every node with a
		ready agent). The recording is read through the node's agent.

		What the recording would do to your own terminal beyond showing the session is
		removed on the way: clipboard writes, title changes, and the queries whose answers
		a terminal types back (-o cast prints the file exactly as it is on the node).`)

	replayExample = templates.Examples(`
		# Play a session found with kubectl node-shell sessions
		%[1]s replay node-1 0123abcd

		# Twice as fast, with no pause longer than 2 s
		%[1]s replay 0123abcd --speed 2 --idle-time-limit 2s

		# Print everything it showed at once, or save the asciicast file (asciinema play FILE)
		%[1]s replay 0123abcd -o text
		%[1]s replay 0123abcd -o cast > session.cast`)
)

// maxRecordingBytes bounds what replay reads of one recording.
const maxRecordingBytes = 512 << 20

var sessionPrefix = regexp.MustCompile(`^[0-9a-f]{4,32}$`)

// ReplayOptions are the flags of `kubectl node-shell replay`.
type ReplayOptions struct {
	scope *podScope
	genericiooptions.IOStreams
	Node          string
	Session       string
	Speed         float64
	IdleTimeLimit time.Duration
	Output        string
}

// NewCmdReplay returns `kubectl node-shell replay`.
func NewCmdReplay(streams genericiooptions.IOStreams) *cobra.Command {
	o := &ReplayOptions{scope: newPodScope(), IOStreams: streams, Speed: 1}
	o.scope.configFlags.Namespace = nil
	cmd := &cobra.Command{
		Use:                   "replay [NODE] SESSION [--speed N] [--idle-time-limit D] [-o text|cast]",
		DisableFlagsInUseLine: true,
		Short:                 "Play a recorded TTY session",
		Long:                  replayLong,
		Example:               templatesName(replayExample),
		ValidArgsFunction:     completeNodeNames(o.scope),
		SilenceUsage:          true,
		SilenceErrors:         true,
		RunE: func(c *cobra.Command, args []string) error {
			if err := o.Complete(args); err != nil {
				return usageError(c, "%v", err)
			}
			if err := o.Validate(); err != nil {
				return usageError(c, "%v", err)
			}
			if err := o.scope.complete(c); err != nil {
				return err
			}
			return o.Run(c.Context())
		},
	}
	f := cmd.Flags()
	f.Float64Var(&o.Speed, "speed", o.Speed, "Play this many times faster (0.5 is half speed)")
	f.DurationVar(&o.IdleTimeLimit, "idle-time-limit", o.IdleTimeLimit, "Shorten every pause to at most this long (0: as recorded)")
	f.StringVarP(&o.Output, "output", "o", o.Output, "text: print everything it showed at once; cast: the asciicast v2 file as it is on the node (default: play it)")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"text", "cast"}, cobra.ShellCompDirectiveNoFileComp))
	o.scope.configFlags.AddFlags(f)
	return cmd
}

// Complete takes [NODE] SESSION.
func (o *ReplayOptions) Complete(args []string) error {
	switch len(args) {
	case 1:
		o.Session = args[0]
	case 2:
		o.Node, o.Session = args[0], args[1]
	default:
		return errors.New("name the session: kubectl node-shell replay [NODE] SESSION (kubectl node-shell sessions lists them)")
	}
	return nil
}

// Validate judges the flags and names before any request.
func (o *ReplayOptions) Validate() error {
	if !sessionPrefix.MatchString(o.Session) {
		return fmt.Errorf("%q is not a session ID: give 4 to 32 hex digits of one (kubectl node-shell sessions lists them)", termsafe.String(o.Session))
	}
	if o.Node != "" {
		if err := validNodeNames([]string{o.Node}); err != nil {
			return err
		}
	}
	if !(o.Speed > 0) || o.Speed > 1000 {
		return fmt.Errorf("--speed must be above 0 and at most 1000, not %v", o.Speed)
	}
	if o.IdleTimeLimit < 0 {
		return fmt.Errorf("--idle-time-limit must not be negative, not %s", o.IdleTimeLimit)
	}
	switch o.Output {
	case "", "text", "cast":
	default:
		return fmt.Errorf("--output must be 'text' or 'cast', not %q", o.Output)
	}
	return nil
}

// Run finds the session, reads its recording through its node's agent and plays it.
func (o *ReplayOptions) Run(ctx context.Context) error {
	agents, err := readyAgents(ctx, o.scope)
	if err != nil {
		return err
	}
	var nodes []string
	if o.Node != "" {
		if agents[o.Node] == nil {
			return noAgentProblem(o.Node)
		}
		nodes = []string{o.Node}
	} else if len(agents) == 0 {
		return noAgentProblem("")
	}
	r, err := findRecord(ctx, o.scope, agents, nodes, o.Session)
	if err != nil {
		return err
	}
	e := r.entry
	if !e.Recorded() {
		why := "it had no terminal"
		if e.Record.TTY {
			why = "its node's agent did not record TTY sessions then, or its recording failed"
		}
		return &diagnose.Problem{
			Cause: fmt.Sprintf("session %s on node %s was not recorded: %s", e.ID, r.node, why),
			Fix:   "a cluster admin records TTY sessions with kubectl node-shell agent install --record; kubectl node-shell sessions shows which sessions have a recording",
		}
	}
	var cast bytes.Buffer
	if _, err := nodeExec(ctx, o.scope.executor, agents[r.node], sessionlog.CastArgv(e.ID), &limitedBuffer{buf: &cast, max: maxRecordingBytes}, nodeReadTimeout); err != nil {
		return nodeExecProblem(r.node, "read the recording of session "+e.ID+" on", err)
	}
	if o.Output == "cast" {
		_, err := o.Out.Write(cast.Bytes())
		return err
	}
	c, err := recording.Read(bytes.NewReader(cast.Bytes()))
	if err != nil {
		return &diagnose.Problem{
			Cause: fmt.Sprintf("the recording of session %s on node %s cannot be read: %v", e.ID, r.node, err),
			Fix:   "save it with -o cast and look at it; it may have been written by another version",
		}
	}
	user := orDefault(termsafe.String(e.Record.User), "<unknown>")
	fmt.Fprintf(o.ErrOut, "Session %s by %s on node %s, started %s, recorded at %dx%d.\n",
		sessionlog.ShortID(e.ID), user, termsafe.String(r.node), e.Start.UTC().Format(time.RFC3339), c.Header.Width, c.Header.Height)
	out := recording.NewSafeWriter(o.Out)
	if o.Output == "text" {
		err = recording.Text(out, c.Events)
	} else {
		err = recording.Play(ctx, out, c.Events, recording.PlayOptions{Speed: o.Speed, IdleTimeLimit: o.IdleTimeLimit})
	}
	if isTerminal(o.Out) {
		// Modes a recording may leave on (mouse and focus reports, bracketed paste, the
		// alternate screen, a hidden cursor, colours) would outlive the replay in your terminal.
		fmt.Fprint(o.Out, "\x1b[?1000l\x1b[?1002l\x1b[?1003l\x1b[?1006l\x1b[?1004l\x1b[?2004l\x1b[?1049l\x1b[0m\x1b[?25h")
	}
	if err != nil {
		return err
	}
	if c.Truncated {
		fmt.Fprintln(o.ErrOut, "\nThe recording ends early: its session was cut off mid-write.")
	}
	return nil
}

func isTerminal(w io.Writer) bool {
	_, ok := dockerterm.GetFdInfo(w)
	return ok
}

// limitedBuffer takes at most max bytes.
type limitedBuffer struct {
	buf *bytes.Buffer
	max int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if l.buf.Len()+len(p) > l.max {
		return 0, fmt.Errorf("the recording is over %d MiB", l.max>>20)
	}
	return l.buf.Write(p)
}
