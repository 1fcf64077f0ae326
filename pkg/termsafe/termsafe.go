// Package termsafe makes text that node-shell did not write (annotations, reasons, messages
// and warnings from the cluster) safe to print on a terminal: nothing in it can move the
// cursor, clear the screen, set the window title, or disguise the text around it.
package termsafe

import (
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// Keep names the whitespace controls a caller lets through unescaped.
type Keep uint8

const (
	// Tab keeps \t, for text that is not laid out in columns.
	Tab Keep = 1 << iota
	// Newline keeps \n, for messages of several lines.
	Newline
)

// String returns s with everything but printable text escaped as Go writes it in a quoted
// string, without the quotes: C0 controls (\x1b, \a, \n, \t...), DEL, C1 controls (\u009b),
// format characters such as bidi overrides and zero-width spaces (\u202e, \u200b), other
// runes strconv.IsPrint rejects, and bytes that are not UTF-8 (\xff). Printable text, in any
// script, passes unchanged; so does the backslash, so the result is for reading, not parsing.
func String(s string) string { return Escape(s, 0) }

// Escape is String, but lets the controls in keep through.
func Escape(s string, keep Keep) string {
	i := 0
	for i < len(s) && s[i] >= 0x20 && s[i] < 0x7f {
		i++
	}
	if i == len(s) {
		return s // plain ASCII, the common case
	}
	b := make([]byte, 0, len(s)+16)
	b = append(b, s[:i]...)
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, `\x`...)
			b = append(b, hex[s[i]>>4], hex[s[i]&0xf])
		case printable(r, keep):
			b = append(b, s[i:i+size]...)
		default:
			q := strconv.QuoteRune(r)
			b = append(b, q[1:len(q)-1]...)
		}
		i += size
	}
	return string(b)
}

func printable(r rune, keep Keep) bool {
	switch r {
	case '\t':
		return keep&Tab != 0
	case '\n':
		return keep&Newline != 0
	}
	return strconv.IsPrint(r)
}

const hex = "0123456789abcdef"

// JSON returns the JSON document data with every rune String would escape written as a
// JSON \u escape instead, so that it decodes to the same value. encoding/json escapes C0
// controls but leaves DEL, C1 controls and bidi overrides raw. JSON's whitespace (\t, \n,
// \r) is kept: raw, it can only be between tokens. Bytes that are not UTF-8 become U+FFFD,
// as encoding/json makes them.
func JSON(data []byte) []byte {
	out := make([]byte, 0, len(data))
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			out = appendJSONEscape(out, utf8.RuneError)
		case r == '\t' || r == '\n' || r == '\r' || strconv.IsPrint(r):
			out = append(out, data[i:i+size]...)
		default:
			out = appendJSONEscape(out, r)
		}
		i += size
	}
	return out
}

func appendJSONEscape(b []byte, r rune) []byte {
	if r > 0xffff {
		hi, lo := utf16.EncodeRune(r)
		return appendJSONEscape(appendJSONEscape(b, hi), lo)
	}
	return append(b, '\\', 'u', hex[r>>12&0xf], hex[r>>8&0xf], hex[r>>4&0xf], hex[r&0xf])
}
