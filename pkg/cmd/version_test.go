package cmd

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/version"
)

func TestVersionRun(t *testing.T) {
	info := version.Info{Version: "v0.1.0", Commit: "0123abc", Date: "2026-01-02T03:04:05Z", GoVersion: "go1.26.8", Platform: "linux/amd64"}
	tests := []struct {
		output string
		want   string
	}{
		{"", "Version:   v0.1.0\nCommit:    0123abc\nDate:      2026-01-02T03:04:05Z\nGo:        go1.26.8\nPlatform:  linux/amd64\n"},
		{"json", `{
  "version": "v0.1.0",
  "commit": "0123abc",
  "date": "2026-01-02T03:04:05Z",
  "goVersion": "go1.26.8",
  "platform": "linux/amd64"
}
`},
		{"yaml", "commit: 0123abc\ndate: \"2026-01-02T03:04:05Z\"\ngoVersion: go1.26.8\nplatform: linux/amd64\nversion: v0.1.0\n"},
	}
	for _, tc := range tests {
		t.Run("output="+tc.output, func(t *testing.T) {
			streams, _, out, _ := genericiooptions.NewTestIOStreams()
			o := NewVersionOptions(streams)
			o.Output, o.Info = tc.output, info
			o.Complete()
			if err := o.Validate(); err != nil {
				t.Fatal(err)
			}
			if err := o.Run(); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, out.String()); diff != "" {
				t.Errorf("output (-want +got):\n%s", diff)
			}
		})
	}
}

func TestVersionCommand(t *testing.T) {
	tests := []struct {
		args       []string
		wantStatus int
		wantOut    string
		wantErr    string
	}{
		{args: []string{"--version"}, wantOut: version.Get().String() + "\n"},
		{args: []string{"version", "-o", "json"}, wantOut: `"version": "` + version.Get().Version + `"`},
		{args: []string{"version", "-o", "wide"}, wantStatus: ExitFailure, wantErr: "--output must be 'json' or 'yaml', not \"wide\"\nSee 'kubectl node-shell version --help' for usage."},
		{args: []string{"version", "extra"}, wantStatus: ExitFailure, wantErr: `unknown command "extra"`},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			streams, _, out, errOut := genericiooptions.NewTestIOStreams()
			if status := Execute(streams, tc.args); status != tc.wantStatus {
				t.Errorf("status = %d, want %d; stderr %q", status, tc.wantStatus, errOut)
			}
			if !strings.Contains(out.String(), tc.wantOut) {
				t.Errorf("stdout = %q, want it to contain %q", out, tc.wantOut)
			}
			if !strings.Contains(errOut.String(), tc.wantErr) {
				t.Errorf("stderr = %q, want it to contain %q", errOut, tc.wantErr)
			}
		})
	}
}

func TestInvokedName(t *testing.T) {
	for argv0, want := range map[string]string{
		"/usr/local/bin/kubectl-node_shell":   "kubectl node-shell",
		"/home/a/.krew/bin/kubectl-nodeshell": "kubectl nodeshell",
		`C:\krew\bin\kubectl-node_shell.exe`:  "kubectl node-shell",
		"/tmp/go-build1/cmd.test":             "kubectl node-shell",
		"kubectl-":                            "kubectl node-shell",
	} {
		if got := invokedName(argv0); got != want {
			t.Errorf("invokedName(%q) = %q, want %q", argv0, got, want)
		}
	}
}
