// Package termsafe makes text that node-shell did not write (annotations, reasons, messages
// and warnings from the cluster) safe to print on a terminal: nothing in it can move the
// cursor, clear the screen, set the window title, or disguise the text around it.
package termsafe

import (
	"strconv"
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
