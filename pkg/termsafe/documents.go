package termsafe

import (
	"bytes"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"

	yamlv3 "go.yaml.in/yaml/v3"
	"sigs.k8s.io/yaml"
)

// JSON returns the JSON document data with every rune String would escape written as a
// JSON \u escape instead, so that it decodes to the same value. encoding/json escapes C0
// controls but leaves DEL, C1 controls and bidi overrides raw. JSON's whitespace (\t, \n,
// \r) is kept: raw, it can only be between tokens. Bytes that are not UTF-8 become U+FFFD,
// as encoding/json makes them.
func JSON(data []byte) []byte { return escapeJSON(data, false) }

// YAML converts the JSON document data to YAML as kubectl's YAML printer does
// (sigs.k8s.io/yaml.JSONToYAML), with nothing String would escape left raw. data is JSON as
// encoding/json writes it, not JSON's output: the YAML parser reads no UTF-16 surrogate
// pairs, so runes beyond U+FFFF must be raw. Run on the
// printer's own input, the YAML parser refuses raw DEL and C1 controls and folds a raw NEL
// into a space; its emitter escapes C0, DEL, C1 and runes beyond U+FFFF it cannot print,
// but prints format characters (bidi overrides, zero-width spaces) raw. The rare document
// that holds one is re-emitted with every scalar that holds one double-quoted, where the
// rune is written as a \u escape: the same data, laid out by yaml.v3.
func YAML(data []byte) ([]byte, error) {
	out, err := yaml.JSONToYAML(escapeJSON(data, true))
	if err != nil || !bytes.ContainsFunc(out, unsafeInYAML) {
		return out, err
	}
	var doc yamlv3.Node
	if err := yamlv3.Unmarshal(out, &doc); err != nil {
		return nil, err
	}
	quoteUnsafeScalars(&doc)
	var buf bytes.Buffer
	enc := yamlv3.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return escapeUnsafeRunes(buf.Bytes()), nil
}

func unsafeInYAML(r rune) bool { return r != '\n' && !strconv.IsPrint(r) }

func quoteUnsafeScalars(n *yamlv3.Node) {
	if n.Kind == yamlv3.ScalarNode && containsUnsafe(n.Value) {
		n.Style = yamlv3.DoubleQuotedStyle
	}
	for _, c := range n.Content {
		quoteUnsafeScalars(c)
	}
}

func containsUnsafe(s string) bool {
	for _, r := range s {
		if !strconv.IsPrint(r) {
			return true
		}
	}
	return false
}

// escapeUnsafeRunes writes the runes a YAML emitter left raw as YAML escapes; it is only
// correct where every such rune is inside a double-quoted scalar.
func escapeUnsafeRunes(out []byte) []byte {
	b := make([]byte, 0, len(out)+32)
	for i := 0; i < len(out); {
		r, size := utf8.DecodeRune(out[i:])
		switch {
		case unsafeInYAML(r) && r > 0xffff:
			b = append(b, `\U`...)
			b = append(b, []byte(hex8(r))...)
		case unsafeInYAML(r):
			b = appendJSONEscape(b, r)
		default:
			b = append(b, out[i:i+size]...)
		}
		i += size
	}
	return b
}

func hex8(r rune) string {
	var h [8]byte
	for i := 7; i >= 0; i-- {
		h[i] = hex[r&0xf]
		r >>= 4
	}
	return string(h[:])
}

// escapeJSON is JSON; with astralRaw, runes beyond U+FFFF are left as they are.
func escapeJSON(data []byte, astralRaw bool) []byte {
	out := make([]byte, 0, len(data))
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			out = appendJSONEscape(out, utf8.RuneError)
		case r == '\t' || r == '\n' || r == '\r' || strconv.IsPrint(r) || astralRaw && r > 0xffff:
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
