package termsafe

import (
	"encoding/json"
	"strconv"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"
)

func TestString(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"empty", "", ""},
		{"ascii", `journalctl -u kubelet --since '1 hour ago' | grep -E "a\b"`, `journalctl -u kubelet --since '1 hour ago' | grep -E "a\b"`},
		{"letters of any script", "Grüße 日本語 Ελληνικά עברית 🙂", "Grüße 日本語 Ελληνικά עברית 🙂"},
		{"title and clear screen", "\x1b]0;pwned\x07\x1b[2J", `\x1b]0;pwned\a\x1b[2J`},
		{"cursor moves and overwrites", "ok\r\x1b[1Aroot\b\b", `ok\r\x1b[1Aroot\b\b`},
		{"NUL and other C0", "\x00\x01\x1f", `\x00\x01\x1f`},
		{"tab and newline", "a\tb\nc", `a\tb\nc`},
		{"DEL", "\x7f", `\x7f`},
		{"C1 controls as UTF-8", "\u0085\u009b2J\u0090", `\u0085\u009b2J\u0090`},
		{"C1 control as a bare byte", "\x9b2J", `\x9b2J`},
		{"bidi overrides and isolates", "user\u202etxt.exe\u202c \u2066x\u2069 \u200f", `user\u202etxt.exe\u202c \u2066x\u2069 \u200f`},
		{"invisible format characters", "ro\u200bot\ufeff\u00ad", `ro\u200bot\ufeff\u00ad`},
		{"line and paragraph separators", "a\u2028b\u2029", `a\u2028b\u2029`},
		{"tag characters", "x\U000e0041\U000e007f", `x\U000e0041\U000e007f`},
		{"invalid UTF-8", "a\xffb\xc3", `a\xffb\xc3`},
		{"truncated sequence", "\xe6\x97", `\xe6\x97`},
		{"UTF-16 surrogate encoded", "\xed\xa0\x80", `\xed\xa0\x80`},
		{"U+FFFD itself is printable", "\ufffd", "\ufffd"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := String(tc.in); got != tc.want {
				t.Errorf("String(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestEscapeKeeps(t *testing.T) {
	in := "col1\tcol2\nline 2\r\x1b[2J"
	for _, tc := range []struct {
		keep Keep
		want string
	}{
		{0, `col1\tcol2\nline 2\r\x1b[2J`},
		{Tab, "col1\tcol2\\nline 2\\r\\x1b[2J"},
		{Newline, "col1\\tcol2\nline 2\\r\\x1b[2J"},
		{Tab | Newline, "col1\tcol2\nline 2\\r\\x1b[2J"},
	} {
		if got := Escape(in, tc.keep); got != tc.want {
			t.Errorf("Escape(%q, %b) = %q, want %q", in, tc.keep, got, tc.want)
		}
	}
}

func TestJSON(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"printable and whitespace pass", "{\n\t\"a\": \"日本 ü\",\r\n \"b\": \"\\u001b\"}", "{\n\t\"a\": \"日本 ü\",\r\n \"b\": \"\\u001b\"}"},
		{"DEL, C1, bidi", "\"\x7f\u009b\u202e\"", `"\u007f\u009b\u202e"`},
		{"beyond the BMP as a surrogate pair", "\"\U000e0041\"", `"\udb40\udc41"`},
		{"not UTF-8", "\"\xff\"", `"\ufffd"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(JSON([]byte(tc.in))); got != tc.want {
				t.Errorf("JSON(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// hostile are values a tenant could put in an annotation, and how each reaches a terminal.
var hostile = []string{
	"\x1b]0;pwned\x07\x1b[2J", "\x7f", "\u0085", "\u009b2J", "user\u202etxt", "ro\u200bot", "\ufeff",
	"tag\U000e0041", "a\u2028b", "tab\tcr\rlf\n", "Grüße 日本 🙂", "plain",
}

func TestYAML(t *testing.T) {
	doc := map[string]any{"metadata": map[string]any{"name": "x", "annotations": map[string]string{}}, "spec": map[string]any{"n": 3, "list": []string{"a"}}}
	for i, v := range hostile {
		doc["metadata"].(map[string]any)["annotations"].(map[string]string)["k"+strconv.Itoa(i)] = v
	}
	data, err := json.MarshalIndent(doc, "", "    ")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := yaml.JSONToYAML(data); err == nil {
		t.Errorf("kubectl's way (sigs.k8s.io/yaml.JSONToYAML) now reads raw DEL and C1: YAML's escaping of its input may go")
	}
	out, err := YAML(data)
	if err != nil {
		t.Fatalf("YAML: %v", err)
	}
	t.Logf("%s", out)
	checkSafe(t, string(data), string(out), Newline)
	var back any
	if err := yaml.Unmarshal(out, &back); err != nil {
		t.Fatalf("output does not parse: %v\n%s", err, out)
	}
	var want any
	if err := json.Unmarshal(data, &want); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, back); diff != "" {
		t.Errorf("YAML changed the data (-want +got):\n%s\n%s", diff, out)
	}
}

// TestYAMLAsKubectlPrintsIt: a document with nothing to escape comes out exactly as
// kubectl's YAML printer makes it.
func TestYAMLAsKubectlPrintsIt(t *testing.T) {
	data := []byte(`{"kind":"List","items":[{"metadata":{"name":"a","annotations":{"u":"Grüße 日本","c":"sh -c 'x\\y'"}},"n":1}]}`)
	want, err := yaml.JSONToYAML(data)
	if err != nil {
		t.Fatal(err)
	}
	got, err := YAML(data)
	if err != nil || string(got) != string(want) {
		t.Errorf("YAML = %q, %v; want %q", got, err, want)
	}
}

// checkSafe fails unless out holds only printable runes, plus the whitespace in keep.
func checkSafe(t *testing.T, in, out string, keep Keep) {
	t.Helper()
	if !utf8.ValidString(out) {
		t.Fatalf("escape of %q is not UTF-8: %q", in, out)
	}
	for i := 0; i < len(out); i++ {
		b := out[i]
		if (b < 0x20 || b == 0x7f) && !(b == '\t' && keep&Tab != 0) && !(b == '\n' && keep&Newline != 0) {
			t.Fatalf("escape of %q has byte %#x at %d: %q", in, b, i, out)
		}
	}
	for _, r := range out {
		if !strconv.IsPrint(r) && !(r == '\t' && keep&Tab != 0) && !(r == '\n' && keep&Newline != 0) {
			t.Fatalf("escape of %q has rune %U: %q", in, r, out)
		}
	}
}

func FuzzString(f *testing.F) {
	for _, s := range []string{"", "plain", "日本 ü", "\x1b]0;x\x07", "\u009b\u202e\x7f", "\xff\xfe", "\t\n\r", "\U000e0041"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := String(s)
		checkSafe(t, s, out, 0)
		if String(out) != out {
			t.Fatalf("String is not idempotent on %q: %q then %q", s, out, String(out))
		}
		allPrintable := utf8.ValidString(s)
		for _, r := range s {
			allPrintable = allPrintable && strconv.IsPrint(r)
		}
		if allPrintable && out != s {
			t.Fatalf("printable %q changed to %q", s, out)
		}
		checkSafe(t, s, Escape(s, Tab|Newline), Tab|Newline)
	})
}

func FuzzJSON(f *testing.F) {
	for _, s := range []string{"", "plain", "日本 ü", "\x1b]0;x\x07", "\u009b\u202e\x7f", "\xff", "\U000e0041"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		data, err := json.MarshalIndent(map[string]string{"k": s}, "", "\t")
		if err != nil {
			t.Fatal(err)
		}
		out := JSON(data)
		checkSafe(t, string(data), string(out), Tab|Newline)
		var before, after map[string]string
		if err := json.Unmarshal(data, &before); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(out, &after); err != nil {
			t.Fatalf("JSON(%q) = %q does not parse: %v", data, out, err)
		}
		if before["k"] != after["k"] {
			t.Fatalf("JSON changed the value: %q, then %q", before["k"], after["k"])
		}
	})
}

func FuzzYAML(f *testing.F) {
	for _, s := range hostile {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		data, err := json.Marshal(map[string]string{"k": s, s: "v"})
		if err != nil {
			t.Fatal(err)
		}
		out, err := YAML(data)
		if err != nil {
			t.Fatalf("YAML of %q: %v", data, err)
		}
		checkSafe(t, string(data), string(out), Newline)
		var before, after map[string]string
		if err := json.Unmarshal(data, &before); err != nil {
			t.Fatal(err)
		}
		if err := yaml.Unmarshal(out, &after); err != nil {
			t.Fatalf("YAML of %q = %q does not parse: %v", data, out, err)
		}
		if diff := cmp.Diff(before, after); diff != "" {
			t.Fatalf("YAML of %q = %q changed the data (-want +got):\n%s", data, out, diff)
		}
	})
}
