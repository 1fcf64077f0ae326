package cmd

import "testing"

func TestSplitRemote(t *testing.T) {
	for arg, want := range map[string]struct {
		node, path string
		ok         bool
	}{
		"node-1:/var/log/syslog":       {"node-1", "/var/log/syslog", true},
		"ip-10-0-1-23.ec2.internal:/x": {"ip-10-0-1-23.ec2.internal", "/x", true},
		"node:":                        {"node", "", true},
		"./a:b":                        {"", "", false},
		"/abs/a:b":                     {"", "", false},
		":/x":                          {"", "", false},
		"plain":                        {"", "", false},
	} {
		node, path, ok := splitRemote(arg)
		if node != want.node || path != want.path || ok != want.ok {
			t.Errorf("splitRemote(%q) = %q, %q, %v; want %+v", arg, node, path, ok, want)
		}
	}
}
