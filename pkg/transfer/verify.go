package transfer

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"strconv"
	"strings"
	"sync"
)

// Digest counts and hashes the bytes written to it: this side's view of a stream.
type Digest struct {
	h hash.Hash
	n int64
}

// NewDigest returns an empty digest.
func NewDigest() *Digest { return &Digest{h: sha256.New()} }

func (d *Digest) Write(p []byte) (int, error) {
	d.h.Write(p)
	d.n += int64(len(p))
	return len(p), nil
}

// Trailer is what the far side counted: the stream's size (-1: not whole tar blocks) and
// sha256 (hex).
type Trailer struct {
	Size   int64
	SHA256 string
}

// Verify compares the far side's trailer with what this side counted. A missing trailer
// means the stream ended before the far side finished: never success.
func (d *Digest) Verify(t *Trailer) error {
	sum := hex.EncodeToString(d.h.Sum(nil))
	switch {
	case t == nil:
		return fmt.Errorf("the stream ended without the node's checksum after %d bytes: the transfer was cut short", d.n)
	case t.Size < 0:
		return fmt.Errorf("the node's side of the stream ended inside a tar block (%d bytes on this side): the transfer was cut short", d.n)
	case t.Size != d.n:
		return fmt.Errorf("the node sent %d bytes but %d arrived: the transfer was cut short", t.Size, d.n)
	case t.SHA256 != sum:
		return fmt.Errorf("checksum mismatch: the node's sha256 is %s, the %d bytes that arrived hash to %s", t.SHA256, d.n, sum)
	}
	return nil
}

// parseTrailer reads "node-shell-transfer SIZE SHA256"; ok is false for any other line.
func parseTrailer(line string) (*Trailer, bool) {
	rest, ok := strings.CutPrefix(line, trailerPrefix)
	if !ok {
		return nil, false
	}
	f := strings.Fields(rest)
	if len(f) != 2 || len(f[1]) != sha256.Size*2 {
		return nil, false
	}
	size, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return nil, false
	}
	return &Trailer{Size: size, SHA256: f[1]}, true
}

// TrailerWriter takes the far side's output stream that carries the trailer: the trailer
// line is kept, every other line goes on to Pass (tar's own messages), so the user sees
// why the node's tar failed.
type TrailerWriter struct {
	Pass    io.Writer
	mu      sync.Mutex
	partial []byte
	trailer *Trailer
}

func (w *TrailerWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.partial = append(w.partial, p...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			break
		}
		w.line(string(w.partial[:i+1]))
		w.partial = w.partial[i+1:]
	}
	return len(p), nil
}

func (w *TrailerWriter) line(l string) {
	if t, ok := parseTrailer(strings.TrimSuffix(l, "\n")); ok {
		w.trailer = t
		return
	}
	if w.Pass != nil {
		_, _ = io.WriteString(w.Pass, l)
	}
}

// Trailer returns the trailer, or nil when none arrived. Call it after the stream ended.
func (w *TrailerWriter) Trailer() *Trailer {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.partial) > 0 { // a last line without newline: the far side was cut mid-line
		w.line(string(w.partial))
		w.partial = nil
	}
	return w.trailer
}
