package cmd

import (
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// optionsCompare compares what the user asked for; clients, streams and seams are not.
var optionsCompare = []cmp.Option{
	cmp.AllowUnexported(NodeShellOptions{}),
	cmpopts.IgnoreFields(NodeShellOptions{}, "configFlags", "IOStreams", "restConfig", "client", "serverClock", "Executor", "Getenv", "policyOptions"),
}
