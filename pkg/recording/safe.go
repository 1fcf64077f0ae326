package recording

import (
	"io"
	"strings"
	"unicode/utf8"
)

// Bounds on what the safe writer holds between Writes, so that a hostile
// recording cannot make a replay buffer without limit.
const (
	// maxStringLen ends an unterminated OSC/DCS/APC/PM/SOS string, which
	// would otherwise swallow the rest of the replay.
	maxStringLen = 4096
	// maxCSILen is far beyond any real CSI; a longer one is dropped whole.
	maxCSILen = 256
	// maxEscLen bounds ESC followed by intermediate bytes, e.g. ESC ( B.
	maxEscLen = 16
)

type safeState uint8

const (
	stGround    safeState = iota
	stEscape              // after ESC
	stEscInter            // ESC then intermediate bytes 0x20-0x2F
	stCSI                 // ESC [ or the C1 CSI, up to the final byte
	stString              // the body of an OSC, DCS, APC, PM or SOS string
	stStringEsc           // ESC inside such a string: ESC \ ends it
)

// safeWriter is the state machine behind NewSafeWriter.
type safeWriter struct {
	w  io.Writer
	st safeState
	// seq holds the escape or CSI sequence being read; it reaches w only
	// once its final byte shows it is safe.
	seq []byte
	// drop discards the sequence being read whatever its final byte.
	drop bool
	// pending holds the start of a UTF-8 character cut by the end of a Write.
	pending []byte
	// strLen, strCont and strPrev follow a dropped string's body: its
	// length, the continuation bytes its current character still expects,
	// and its previous byte (0xC2 0x9C is U+009C, the C1 string terminator).
	strLen  int
	strCont int
	strPrev byte
	out     []byte
}

// NewSafeWriter returns a writer that passes to w the text and the
// sequences that draw a terminal session (colours, cursor movement,
// clearing, modes such as the alternate screen, charset selection) and drops
// what can attack the terminal of whoever watches a replay:
//   - every OSC, DCS, APC, PM and SOS string (clipboard writes with OSC 52,
//     title sets, colour and capability queries, graphics);
//   - C1 controls, whether raw bytes outside valid UTF-8 or the runes
//     U+0080..U+009F, together with the sequence a C1 CSI/OSC/DCS/... starts;
//   - requests the terminal answers by typing into the viewer's shell:
//     every CSI ending in n (status reports), c (device attributes) or t
//     (window operations and reports), DECRQM (CSI … $ p), DECREQTPARM
//     (CSI x), XTVERSION (CSI > q), the kitty keyboard query (CSI ? u),
//     XTQMODKEYS (CSI ? m), DECRQCRA (CSI … * y), DECRQTSR/DECRQUPSS/
//     DECRQPSR, XTREPORTSGR, DECRQLP, DECELR, DECRQDE, XTSMGRAPHICS,
//     ESC Z (DECID) and ENQ (answerback).
//
// Sequences may be split across Writes; the writer holds at most a few
// hundred bytes between them. Invalid UTF-8 bytes become U+FFFD. Write
// returns len(p) once w accepted the filtered bytes. The writer is not safe
// for concurrent use.
func NewSafeWriter(w io.Writer) io.Writer {
	return &safeWriter{w: w}
}

// SafeString is s filtered as NewSafeWriter filters a stream.
func SafeString(s string) string {
	var b strings.Builder
	sw := safeWriter{w: &b}
	_, _ = io.WriteString(&sw, s) // a strings.Builder never fails
	return b.String()
}

func (f *safeWriter) Write(p []byte) (int, error) {
	f.out = f.out[:0]
	for _, b := range p {
		f.feed(b)
	}
	if len(f.out) > 0 {
		n, err := f.w.Write(f.out)
		if err == nil && n < len(f.out) {
			err = io.ErrShortWrite
		}
		if err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

func (f *safeWriter) feed(b byte) {
	switch f.st {
	case stGround:
		f.ground(b)
	case stEscape:
		f.escape(b)
	case stEscInter:
		f.escInter(b)
	case stCSI:
		f.csi(b)
	case stString:
		f.stringBody(b)
	case stStringEsc:
		f.stringEsc(b)
	}
}

// ground handles text: ASCII at once, other characters once whole.
func (f *safeWriter) ground(b byte) {
	if len(f.pending) == 0 && b < utf8.RuneSelf {
		if b == 0x1b {
			f.st = stEscape
			return
		}
		f.execute(b)
		return
	}
	f.pending = append(f.pending, b)
	if !utf8.FullRune(f.pending) {
		return
	}
	r, size := utf8.DecodeRune(f.pending)
	var held [utf8.UTFMax]byte
	n := copy(held[:], f.pending)
	f.pending = f.pending[:0]
	switch {
	case r == utf8.RuneError && size == 1:
		if held[0] >= 0x80 && held[0] <= 0x9f {
			f.c1(held[0])
		} else {
			f.out = append(f.out, string(utf8.RuneError)...)
		}
	case r >= 0x80 && r <= 0x9f:
		f.c1(byte(r))
	default:
		f.out = append(f.out, held[:size]...)
	}
	// Bytes after an invalid one start afresh, possibly in a new state.
	for _, c := range held[size:n] {
		f.feed(c)
	}
}

// execute passes a C0 control, which terminals also execute in the middle of
// a sequence, except ENQ, which asks the terminal for its answerback message.
func (f *safeWriter) execute(b byte) {
	if b != 0x05 {
		f.out = append(f.out, b)
	}
}

// c1 starts what a C1 control starts, all of it dropped.
func (f *safeWriter) c1(b byte) {
	switch b {
	case 0x9b: // CSI
		f.startCSI(true)
	case 0x90, 0x98, 0x9d, 0x9e, 0x9f: // DCS, SOS, OSC, PM, APC
		f.startString()
	}
}

func (f *safeWriter) startCSI(drop bool) {
	f.st = stCSI
	f.seq = append(f.seq[:0], 0x1b, '[')
	f.drop = drop
}

func (f *safeWriter) startString() {
	f.st = stString
	f.strLen, f.strCont, f.strPrev = 0, 0, 0
}

// cancels reports CAN and SUB, which abort any sequence.
func cancels(b byte) bool { return b == 0x18 || b == 0x1a }

func (f *safeWriter) escape(b byte) {
	switch {
	case b == '[':
		f.startCSI(false)
	case b == ']' || b == 'P' || b == 'X' || b == '^' || b == '_':
		f.startString()
	case b == 'Z': // DECID: the terminal would answer with its attributes
		f.st = stGround
	case b == 0x1b:
	case cancels(b):
		f.st = stGround
	case b < 0x20:
		f.execute(b)
	case b < 0x30:
		f.st = stEscInter
		f.seq = append(f.seq[:0], 0x1b, b)
		f.drop = false
	case b < 0x7f:
		f.out = append(f.out, 0x1b, b)
		f.st = stGround
	case b == 0x7f: // DEL is ignored inside sequences
	default:
		f.st = stGround
		f.ground(b)
	}
}

func (f *safeWriter) escInter(b byte) {
	switch {
	case b == 0x1b:
		f.st = stEscape
	case cancels(b):
		f.st = stGround
	case b < 0x20:
		f.execute(b)
	case b < 0x30:
		if len(f.seq) < maxEscLen {
			f.seq = append(f.seq, b)
		} else {
			f.drop = true
		}
	case b < 0x7f:
		if !f.drop {
			f.out = append(append(f.out, f.seq...), b)
		}
		f.st = stGround
	case b == 0x7f:
	default:
		f.st = stGround
		f.ground(b)
	}
}

func (f *safeWriter) csi(b byte) {
	switch {
	case b == 0x1b:
		f.st = stEscape
	case cancels(b):
		f.st = stGround
	case b < 0x20:
		f.execute(b)
	case b < 0x40:
		if len(f.seq) < maxCSILen {
			f.seq = append(f.seq, b)
		} else {
			f.drop = true
		}
	case b < 0x7f:
		if !f.drop && !requestsReport(f.seq[2:], b) {
			f.out = append(append(f.out, f.seq...), b)
		}
		f.st = stGround
	case b == 0x7f:
	default:
		f.st = stGround
		f.ground(b)
	}
}

// requestsReport tells whether the CSI with parameter and intermediate bytes
// body and final byte final makes the terminal answer on its input, or
// resize and move the viewer's window.
func requestsReport(body []byte, final byte) bool {
	switch final {
	case 'n', 'c', 't':
		return true
	}
	var prefix byte
	if len(body) > 0 && body[0] >= '<' && body[0] <= '?' {
		prefix = body[0]
	}
	var buf [maxCSILen]byte
	inter := buf[:0]
	for _, b := range body {
		if b < 0x30 {
			inter = append(inter, b)
		}
	}
	switch string(inter) {
	case "":
		switch {
		case final == 'x' && prefix == 0: // DECREQTPARM
			return true
		case final == 'q' && prefix == '>': // XTVERSION
			return true
		case final == 'u' && prefix == '?': // kitty keyboard flags query
			return true
		case final == 'm' && prefix == '?': // XTQMODKEYS
			return true
		case final == 'S' && prefix == '?': // XTSMGRAPHICS
			return true
		}
	case "$":
		return final == 'p' || final == 'u' || final == 'w' // DECRQM, DECRQTSR, DECRQPSR
	case "&":
		return final == 'u' // DECRQUPSS
	case "*":
		return final == 'y' // DECRQCRA
	case "#":
		return final == '|' // XTREPORTSGR
	case "'":
		return final == '|' || final == 'z' // DECRQLP, DECELR
	case "\"":
		return final == 'v' // DECRQDE
	}
	return false
}

// stringBody drops a string's body up to its terminator: BEL, ST (ESC \,
// raw 0x9C or U+009C), or CAN/SUB; ESC followed by anything else ends the
// string and starts that sequence, as in terminals.
func (f *safeWriter) stringBody(b byte) {
	switch {
	case b == 0x07 || cancels(b):
		f.st = stGround
	case b == 0x1b:
		f.st = stStringEsc
	case b == 0x9c && (f.strCont == 0 || f.strPrev == 0xc2):
		f.st = stGround
	case f.strLen >= maxStringLen && f.strCont == 0:
		// Reset on a character boundary so the text that follows stays whole.
		f.st = stGround
		f.ground(b)
	default:
		f.strLen++
		switch {
		case b >= 0xc0 && b < 0xe0:
			f.strCont = 1
		case b >= 0xe0 && b < 0xf0:
			f.strCont = 2
		case b >= 0xf0 && b < 0xf8:
			f.strCont = 3
		case b >= 0x80 && b < 0xc0:
			if f.strCont > 0 {
				f.strCont--
			}
		default:
			f.strCont = 0
		}
		f.strPrev = b
	}
}

func (f *safeWriter) stringEsc(b byte) {
	if b == '\\' {
		f.st = stGround
		return
	}
	f.st = stEscape
	f.escape(b)
}
