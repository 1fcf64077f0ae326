package sshkeys

import (
	"strings"
	"testing"
	"time"
)

func TestEncodeParseRoundTrip(t *testing.T) {
	pub := newPublicKey(t, "alice@laptop")
	exp := at("2026-12-01T12:30:00Z")
	v := mustEncode(t, "alice-1", "root", exp, pub)
	k, ok, err := Parse(KeyPrefix+"alice-1", v)
	if err != nil || !ok {
		t.Fatalf("Parse = %v, %v", ok, err)
	}
	if k.ID != "alice-1" || k.User != "root" || !k.Expires.Equal(*exp) || k.PublicKey != pub || k.AddedBy != "test" {
		t.Fatalf("round trip changed the key: %+v", k)
	}
	if !strings.HasPrefix(k.Fingerprint(), "SHA256:") {
		t.Fatalf("fingerprint %q", k.Fingerprint())
	}
}

func TestParseIgnoresOtherAnnotations(t *testing.T) {
	for _, name := range []string{"node.alpha.kubernetes.io/ttl", Domain + "/enabled", "key-x", "ssh.node-shell.io.evil/key-x"} {
		if _, ok, err := Parse(name, "{}"); ok || err != nil {
			t.Errorf("Parse(%q) = %v, %v; want not a key", name, ok, err)
		}
	}
}

func TestParseRejects(t *testing.T) {
	pub := newPublicKey(t, "c")
	second := newPublicKey(t, "d")
	fields := strings.Fields(pub)
	cases := map[string]struct{ id, value, want string }{
		"not JSON":          {"a", "ssh-ed25519 AAAA", "not node-shell's key format"},
		"unknown field":     {"a", `{"user":"root","publicKey":"` + pub + `","command":"x"}`, "unknown field"},
		"trailing data":     {"a", `{"user":"root","publicKey":"` + pub + `"}{}`, "data after the key"},
		"bad id":            {"A_B", `{"user":"root","publicKey":"` + pub + `"}`, "key id"},
		"long id":           {strings.Repeat("a", 60), `{"user":"root","publicKey":"` + pub + `"}`, "key id"},
		"bad user":          {"a", `{"user":"Root;x","publicKey":"` + pub + `"}`, "not a valid login name"},
		"empty user":        {"a", `{"publicKey":"` + pub + `"}`, "not a valid login name"},
		"options":           {"a", `{"user":"root","publicKey":"command=\"/bin/sh\" ` + pub + `"}`, "not allowed"},
		"two lines":         {"a", `{"user":"root","publicKey":"` + pub + `\n` + second + `"}`, "one line"},
		"bad base64":        {"a", `{"user":"root","publicKey":"ssh-ed25519 AAAA!!!! x"}`, "not a public key"},
		"truncated key":     {"a", `{"user":"root","publicKey":"` + fields[0] + ` ` + fields[1][:20] + `"}`, "not a public key"},
		"unknown type":      {"a", `{"user":"root","publicKey":"ssh-foo ` + fields[1] + `"}`, "not a public key"},
		"empty key":         {"a", `{"user":"root","publicKey":""}`, "not a public key"},
		"bad expiry":        {"a", `{"user":"root","expires":"tomorrow","publicKey":"` + pub + `"}`, "not node-shell's key format"},
		"expiry not string": {"a", `{"user":"root","expires":12,"publicKey":"` + pub + `"}`, "not node-shell's key format"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, ok, err := Parse(KeyPrefix+c.id, c.value)
			if !ok || err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Parse = %v, %v; want an error containing %q", ok, err, c.want)
			}
		})
	}
}

func TestNewKeyValidates(t *testing.T) {
	if _, err := NewKey("a", "root", nil, "ssh-ed25519 nope", ""); err == nil {
		t.Fatal("NewKey accepted a broken key")
	}
	k, err := NewKey("a", "root", at("2026-12-01T12:30:00.75+01:00"), newPublicKey(t, "x")+"\n", "")
	if err != nil {
		t.Fatal(err)
	}
	if got := k.Expires.Format(time.RFC3339Nano); got != "2026-12-01T11:30:00Z" {
		t.Fatalf("expiry kept as %s; want UTC, whole seconds", got)
	}
}

func TestAuthorizedKeysLine(t *testing.T) {
	pub := newPublicKey(t, "evil comment with spaces")
	k, _, err := Parse(KeyPrefix+"k1", mustEncode(t, "k1", "root", at("2026-12-01T09:05:07+01:00"), pub))
	if err != nil {
		t.Fatal(err)
	}
	fields := strings.Fields(pub)
	want := `expiry-time="20261201080507Z" ` + fields[0] + " " + fields[1] + " node-shell:k1"
	if got := k.AuthorizedKeysLine(); got != want {
		t.Fatalf("line\n got %s\nwant %s", got, want)
	}
	k2, _, _ := Parse(KeyPrefix+"k2", mustEncode(t, "k2", "root", nil, pub))
	if got := k2.AuthorizedKeysLine(); got != fields[0]+" "+fields[1]+" node-shell:k2" {
		t.Fatalf("line without expiry: %s", got)
	}
}

func TestExpiredAtTheInstant(t *testing.T) {
	k := Key{Expires: at("2026-12-01T12:00:00Z")}
	if k.Expired(time.Date(2026, 12, 1, 11, 59, 59, 0, time.UTC)) {
		t.Fatal("expired a second early")
	}
	if !k.Expired(*k.Expires) {
		t.Fatal("still valid at its expiry")
	}
	if (Key{}).Expired(time.Now().Add(100 * 365 * 24 * time.Hour)) {
		t.Fatal("a key without expiry expired")
	}
}

func TestSelectPrintsOnlyTheUsersUnexpiredKeys(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	annotations := map[string]string{
		KeyPrefix + "root-live":    mustEncode(t, "root-live", "root", at("2026-12-01T12:10:00Z"), newPublicKey(t, "a")),
		KeyPrefix + "root-forever": mustEncode(t, "root-forever", "root", nil, newPublicKey(t, "b")),
		KeyPrefix + "root-expired": mustEncode(t, "root-expired", "root", at("2026-12-01T11:59:00Z"), newPublicKey(t, "c")),
		KeyPrefix + "bob-live":     mustEncode(t, "bob-live", "bob", at("2026-12-01T12:10:00Z"), newPublicKey(t, "d")),
		KeyPrefix + "broken":       `{"user":"root","publicKey":"ssh-ed25519 AAAA"}`,
		"unrelated":                "x",
	}
	lines, refused := Select(annotations, "root", now)
	if len(lines) != 2 || !strings.HasSuffix(lines[0], "node-shell:root-forever") || !strings.HasSuffix(lines[1], "node-shell:root-live") {
		t.Fatalf("lines = %q", lines)
	}
	joined := strings.Join(refused, "\n")
	if !strings.Contains(joined, "root-expired expired at 2026-12-01T11:59:00Z") || !strings.Contains(joined, "invalid: key broken") {
		t.Fatalf("refused = %q", refused)
	}
	if strings.Contains(joined, "bob") {
		t.Fatalf("another user's key shows in root's decision: %q", refused)
	}
	if lines, _ := Select(annotations, "bob", now); len(lines) != 1 || !strings.HasSuffix(lines[0], "node-shell:bob-live") {
		t.Fatalf("bob's lines = %q", lines)
	}
	if lines, _ := Select(annotations, "carol", now); len(lines) != 0 {
		t.Fatalf("carol got %q", lines)
	}
}
