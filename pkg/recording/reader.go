package recording

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Event is one line after the header: seconds since the start, a code ("o"
// output, "r" resize "COLSxROWS", "i" input, "m" marker) and its data.
type Event struct {
	Time float64
	Code string
	Data string
}

// Cast is a parsed recording.
type Cast struct {
	Header Header
	Events []Event
	// Truncated reports that the last line, cut mid-write (a session killed
	// while recording), did not parse and was dropped.
	Truncated bool
}

// Read parses an asciicast v2 file; a broken line is an error naming its
// number, except an unterminated last line, which is dropped (Cast.Truncated).
func Read(r io.Reader) (Cast, error) {
	br := bufio.NewReader(r)
	line, err := br.ReadBytes('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return Cast{}, fmt.Errorf("recording: reading the header: %w", err)
	}
	if len(bytes.TrimSpace(line)) == 0 {
		return Cast{}, errors.New("recording: the input is empty; expected an asciicast v2 file")
	}
	var c Cast
	if err := json.Unmarshal(line, &c.Header); err != nil {
		return Cast{}, fmt.Errorf("recording: line 1 is not an asciicast header (%v); expected an asciicast v2 file", err)
	}
	if c.Header.Version != Version {
		return Cast{}, fmt.Errorf("recording: asciicast version %d is not supported; only version %d can be read", c.Header.Version, Version)
	}
	if c.Header.Width <= 0 || c.Header.Height <= 0 {
		return Cast{}, fmt.Errorf("recording: header size %dx%d is not positive; the cast's header is damaged", c.Header.Width, c.Header.Height)
	}
	for n := 2; ; n++ {
		line, err := br.ReadBytes('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return Cast{}, fmt.Errorf("recording: reading line %d: %w", n, err)
		}
		terminated := err == nil
		if len(bytes.TrimSpace(line)) > 0 {
			ev, perr := parseEvent(line)
			switch {
			case perr == nil:
				c.Events = append(c.Events, ev)
			case !terminated:
				c.Truncated = true
			default:
				return Cast{}, fmt.Errorf("recording: line %d: %v", n, perr)
			}
		}
		if !terminated {
			return c, nil
		}
	}
}

// parseEvent decodes one [time, code, data] line.
func parseEvent(line []byte) (Event, error) {
	var fields []json.RawMessage
	if err := json.Unmarshal(line, &fields); err != nil {
		return Event{}, fmt.Errorf("event is not a JSON array: %v", err)
	}
	if len(fields) != 3 {
		return Event{}, fmt.Errorf("event has %d fields, want [time, code, data]", len(fields))
	}
	var ev Event
	if err := json.Unmarshal(fields[0], &ev.Time); err != nil || ev.Time < 0 {
		return Event{}, fmt.Errorf("event time %s is not a non-negative number", fields[0])
	}
	if err := json.Unmarshal(fields[1], &ev.Code); err != nil {
		return Event{}, fmt.Errorf("event code %s is not a string", fields[1])
	}
	if err := json.Unmarshal(fields[2], &ev.Data); err != nil {
		return Event{}, fmt.Errorf("event data %s is not a string", fields[2])
	}
	return ev, nil
}
