package recording

import (
	"reflect"
	"strings"
	"testing"
)

const castHeader = `{"version":2,"width":80,"height":24,"timestamp":1700000000,"env":{"TERM":"xterm"}}`

func TestReadKeepsAllEventCodes(t *testing.T) {
	cast := castHeader + "\n" +
		`[0.1,"o","ls\r\n"]` + "\n" +
		`[0.2,"i","q"]` + "\n" +
		"\n" +
		`[0.3,"m","chapter 1"]` + "\n" +
		`[0.4,"r","90x30"]` + "\n"
	c, err := Read(strings.NewReader(cast))
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	want := []Event{{0.1, "o", "ls\r\n"}, {0.2, "i", "q"}, {0.3, "m", "chapter 1"}, {0.4, "r", "90x30"}}
	if !reflect.DeepEqual(c.Events, want) {
		t.Errorf("events = %+v, want %+v", c.Events, want)
	}
	if c.Header.Env["TERM"] != "xterm" || c.Header.Timestamp != 1700000000 {
		t.Errorf("header = %+v", c.Header)
	}
}

func TestReadDropsCutLastLine(t *testing.T) {
	last := `[2.5,"o","bye\r\n"]`
	whole := castHeader + "\n" + `[1.5,"o","hi"]` + "\n"
	for cut := 1; cut < len(last); cut++ {
		c, err := Read(strings.NewReader(whole + last[:cut]))
		if err != nil {
			t.Fatalf("cut at %d (%q): %v", cut, last[:cut], err)
		}
		if !c.Truncated {
			t.Errorf("cut at %d (%q): Truncated = false", cut, last[:cut])
		}
		if want := []Event{{1.5, "o", "hi"}}; !reflect.DeepEqual(c.Events, want) {
			t.Errorf("cut at %d: events = %+v, want %+v", cut, c.Events, want)
		}
	}
}

func TestReadKeepsUnterminatedLastLineThatParses(t *testing.T) {
	c, err := Read(strings.NewReader(castHeader + "\n" + `[1.5,"o","hi"]`))
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if c.Truncated || !reflect.DeepEqual(c.Events, []Event{{1.5, "o", "hi"}}) {
		t.Errorf("Read = %+v, want the event kept and Truncated false", c)
	}
}

func TestReadMalformedLineNamesItsNumber(t *testing.T) {
	for _, bad := range []string{
		`[1.0,"o","unterminated]`,
		`{"time":1}`,
		`[1.0,"o"]`,
		`[1.0,"o","a","b"]`,
		`["1.0","o","a"]`,
		`[-1,"o","a"]`,
		`[1.0,2,"a"]`,
		`[1.0,"o",3]`,
		`null`,
	} {
		cast := castHeader + "\n" + `[0.5,"o","a"]` + "\n" + bad + "\n" + `[2.0,"o","b"]` + "\n"
		_, err := Read(strings.NewReader(cast))
		if err == nil || !strings.HasPrefix(err.Error(), "recording: line 3: ") {
			t.Errorf("Read with line 3 = %s: error %v, want one starting %q", bad, err, "recording: line 3: ")
		}
	}
	// A malformed line that ends in a newline is damage, not a cut: it is an error even when last.
	_, err := Read(strings.NewReader(castHeader + "\n" + `[0.5,"o"` + "\n"))
	if err == nil || !strings.HasPrefix(err.Error(), "recording: line 2: ") {
		t.Errorf("terminated malformed last line: error %v, want one naming line 2", err)
	}
}

func TestReadRejectsBadHeader(t *testing.T) {
	for _, tc := range []struct{ name, cast, want string }{
		{"empty", "", "recording: the input is empty; expected an asciicast v2 file"},
		{"blank", " \n", "recording: the input is empty; expected an asciicast v2 file"},
		{"not JSON", "hello world\n", "recording: line 1 is not an asciicast header"},
		{"array", `[0.1,"o","x"]` + "\n", "recording: line 1 is not an asciicast header"},
		{"cut header", `{"version":2,"wid`, "recording: line 1 is not an asciicast header"},
		{"version 1", `{"version":1,"width":80,"height":24}` + "\n", "recording: asciicast version 1 is not supported; only version 2 can be read"},
		{"no version", `{"width":80,"height":24}` + "\n", "recording: asciicast version 0 is not supported; only version 2 can be read"},
		{"no width", `{"version":2,"height":24}` + "\n", "recording: header size 0x24 is not positive; the cast's header is damaged"},
		{"negative height", `{"version":2,"width":80,"height":-3}` + "\n", "recording: header size 80x-3 is not positive; the cast's header is damaged"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Read(strings.NewReader(tc.cast))
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("Read = %v, want an error starting %q", err, tc.want)
			}
		})
	}
}
