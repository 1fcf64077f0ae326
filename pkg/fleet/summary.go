package fleet

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/termsafe"
)

// WriteSummary writes one line per node: its name, how it ended (the exit status, or
// "failed"/"skipped"), how long it took and, for a failure, the one-line cause.
func WriteSummary(w io.Writer, results []Result) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tSTATUS\tDURATION\tCAUSE")
	for _, r := range results {
		status := string(r.Outcome)
		if r.Outcome == Exited {
			status = strconv.Itoa(r.ExitStatus)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Node, status, r.Duration.Round(100*time.Millisecond), r.Error)
	}
	return tw.Flush()
}

// Report is the fleet's -o json document.
type Report struct {
	ExitStatus int      `json:"exitStatus"`
	Nodes      []Result `json:"nodes"`
}

// WriteJSON writes the results as one indented JSON Report. Nodes' output and causes are
// escaped as termsafe.JSON does: the document decodes to the same text, and printed raw on
// a terminal it cannot drive it.
func WriteJSON(w io.Writer, results []Result) error {
	data, err := json.MarshalIndent(Report{ExitStatus: ExitStatus(results), Nodes: results}, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(termsafe.JSON(data), '\n'))
	return err
}
