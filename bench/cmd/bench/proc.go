package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// procSpec is one process the benchmark runs. Its environment is built from scratch.
type procSpec struct {
	Path string
	Args []string
	Env  []string
	// Stdin, when set, is the process's stdin (a file, so no copying goroutine sits between);
	// nil means /dev/null.
	Stdin *os.File
	// Timeout kills the process after it; zero means 5 minutes.
	Timeout time.Duration
	// MarkOut, when set, is an offset into stdout whose arrival time is kept (OutMark).
	MarkOut int64
	// Stdout, when set, is given every byte of stdout as it is read (a hash of it).
	Stdout io.Writer
}

// procResult is what one process did, as the benchmark sees it from outside.
type procResult struct {
	Start    time.Time
	FirstOut time.Time // first byte on stdout; zero if there was none
	OutEOF   time.Time // stdout closed
	OutMark  time.Time // the read that reached procSpec.MarkOut
	End      time.Time // the process was reaped
	OutBytes int64
	Stdout   string // the first keepBytes of stdout
	Stderr   string // the first keepBytes of stderr
	Status   int
	MaxRSS   int64 // KiB, from wait4's rusage (includes reaped children)
	CPU      time.Duration
	// reads records when each read of the first keepBytes of stdout returned.
	reads []readAt
}

type readAt struct {
	end int64 // offset just past the read's last byte
	at  time.Time
}

// arrival is when stdout's byte at offset was read, or zero if it never came (or came
// after the first keepBytes).
func (r procResult) arrival(offset int64) time.Time {
	for _, rd := range r.reads {
		if offset < rd.end {
			return rd.at
		}
	}
	return time.Time{}
}

const keepBytes = 64 << 10

// Wall is the whole process's wall time.
func (r procResult) Wall() time.Duration { return r.End.Sub(r.Start) }

// runProc runs spec to completion, reading stdout as fast as it comes (1 MiB reads) and
// timing its first byte. A non-zero exit is not an error; a process that could not start
// or was killed by the timeout is.
func runProc(ctx context.Context, spec procSpec) (procResult, error) {
	timeout := spec.Timeout
	if timeout == 0 {
		timeout = 5 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, spec.Path, spec.Args...)
	cmd.Env = spec.Env
	if spec.Stdin != nil {
		cmd.Stdin = spec.Stdin
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return procResult{}, err
	}
	var stderr limitedBuffer
	cmd.Stderr = &stderr

	var r procResult
	var out limitedBuffer
	readDone := make(chan error, 1)
	r.Start = time.Now()
	if err := cmd.Start(); err != nil {
		return procResult{}, fmt.Errorf("start %s: %w", spec.Path, err)
	}
	go func() {
		buf := make([]byte, 1<<20)
		for {
			n, err := stdout.Read(buf)
			if n > 0 {
				now := time.Now()
				if r.OutBytes == 0 {
					r.FirstOut = now
				}
				r.OutBytes += int64(n)
				if spec.MarkOut > 0 && r.OutMark.IsZero() && r.OutBytes >= spec.MarkOut {
					r.OutMark = now
				}
				if r.OutBytes-int64(n) < keepBytes {
					r.reads = append(r.reads, readAt{end: r.OutBytes, at: now})
				}
				out.Write(buf[:n])
				if spec.Stdout != nil {
					spec.Stdout.Write(buf[:n])
				}
			}
			if err != nil {
				r.OutEOF = time.Now()
				if errors.Is(err, io.EOF) || errors.Is(err, os.ErrClosed) {
					err = nil
				}
				readDone <- err
				return
			}
		}
	}()
	readErr := <-readDone
	waitErr := cmd.Wait()
	r.End = time.Now()
	r.Stdout, r.Stderr = out.String(), stderr.String()
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		r.MaxRSS = ru.Maxrss
		r.CPU = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	var exitErr *exec.ExitError
	switch {
	case ctx.Err() != nil:
		return r, fmt.Errorf("%s %s: killed after %v; stderr: %s", spec.Path, strings.Join(spec.Args, " "), timeout, r.Stderr)
	case waitErr == nil:
	case errors.As(waitErr, &exitErr) && exitErr.Exited():
		r.Status = exitErr.ExitCode()
	default:
		return r, fmt.Errorf("%s: %w; stderr: %s", spec.Path, waitErr, r.Stderr)
	}
	if readErr != nil {
		return r, fmt.Errorf("reading stdout of %s: %w", spec.Path, readErr)
	}
	return r, nil
}

// limitedBuffer keeps the first keepBytes written to it and drops the rest.
type limitedBuffer struct{ bytes.Buffer }

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := keepBytes - b.Len(); room > 0 {
		b.Buffer.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}
