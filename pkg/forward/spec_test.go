package forward

import (
	"strings"
	"testing"
)

func TestParsePort(t *testing.T) {
	for arg, want := range map[string]Spec{
		"5000":    {Local: 5000, Port: 5000},
		"8080:80": {Local: 8080, Port: 80},
		":6060":   {Local: 0, Port: 6060},
		"0:6060":  {Local: 0, Port: 6060},
		"1:65535": {Local: 1, Port: 65535},
	} {
		if got, err := ParsePort(arg); err != nil || got != want {
			t.Errorf("ParsePort(%q) = %+v, %v; want %+v", arg, got, err, want)
		}
	}
	for _, bad := range []string{"", "0", "x", "70000", "80:", "a:80", "1:2:3"} {
		if got, err := ParsePort(bad); err == nil {
			t.Errorf("ParsePort(%q) = %+v, want an error", bad, got)
		}
	}
}

func TestParseTo(t *testing.T) {
	for arg, want := range map[string]Spec{
		"10.0.0.1:443":       {Local: 443, Host: "10.0.0.1", Port: 443},
		"8443:10.0.0.1:443":  {Local: 8443, Host: "10.0.0.1", Port: 443},
		"0:db.internal:5432": {Local: 0, Host: "db.internal", Port: 5432},
		"[fd00::1]:80":       {Local: 80, Host: "fd00::1", Port: 80},
		"9000:[fd00::1]:80":  {Local: 9000, Host: "fd00::1", Port: 80},
		"127.0.0.5:8080":     {Local: 8080, Host: "127.0.0.5", Port: 8080},
	} {
		if got, err := ParseTo(arg); err != nil || got != want {
			t.Errorf("ParseTo(%q) = %+v, %v; want %+v", arg, got, err, want)
		}
	}
	for _, bad := range []string{"443", ":443", "host:", "host:0", "x:host:80", "70000:host:80", "fd00::1:80"} {
		if got, err := ParseTo(bad); err == nil || !strings.HasPrefix(err.Error(), "--to ") {
			t.Errorf("ParseTo(%q) = %+v, %v; want a --to error", bad, got, err)
		}
	}
	if s := (Spec{Host: "fd00::1", Port: 80}); s.Remote() != "[fd00::1]:80" || !s.Relayed() {
		t.Errorf("Remote = %q", s.Remote())
	}
}
