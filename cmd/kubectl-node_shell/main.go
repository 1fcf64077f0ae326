// Command kubectl-node_shell is the kubectl plugin `kubectl node-shell`.
package main

import (
	"os"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/cmd"
)

func main() {
	streams := genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}
	os.Exit(cmd.Execute(streams, os.Args[1:]))
}
