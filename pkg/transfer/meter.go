package transfer

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// meterEvery is how often the progress line is redrawn.
const meterEvery = 200 * time.Millisecond

// Meter counts the bytes of a transfer and, when it has an output (a terminal stderr),
// redraws one line with bytes done, rate and time left until Stop.
type Meter struct {
	out   io.Writer // nil: count only
	label string
	total int64 // 0: unknown, no percentage or ETA
	done  atomic.Int64
	start time.Time
	stop  chan struct{}
	wg    sync.WaitGroup
}

// NewMeter starts a meter; out nil means no line is drawn.
func NewMeter(out io.Writer, label string, total int64) *Meter {
	m := &Meter{out: out, label: label, total: total, start: time.Now(), stop: make(chan struct{})}
	if out != nil {
		m.wg.Add(1)
		go m.run()
	}
	return m
}

func (m *Meter) Write(p []byte) (int, error) {
	m.done.Add(int64(len(p)))
	return len(p), nil
}

func (m *Meter) run() {
	defer m.wg.Done()
	t := time.NewTicker(meterEvery)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			fmt.Fprint(m.out, "\r\033[K")
			return
		case <-t.C:
			fmt.Fprint(m.out, "\r\033[K"+m.line(time.Since(m.start)))
		}
	}
}

// Stop clears the line.
func (m *Meter) Stop() {
	select {
	case <-m.stop:
	default:
		close(m.stop)
	}
	m.wg.Wait()
}

// line is "LABEL  12.0 MiB / 40.0 MiB (30%)  5.1 MiB/s  ETA 6s".
func (m *Meter) line(elapsed time.Duration) string {
	done := m.done.Load()
	rate := float64(done) / elapsed.Seconds()
	s := fmt.Sprintf("%s  %s", m.label, humanBytes(float64(done)))
	if m.total > 0 {
		s += fmt.Sprintf(" / %s (%d%%)", humanBytes(float64(m.total)), min(100, done*100/m.total))
	}
	s += fmt.Sprintf("  %s/s", humanBytes(rate))
	if m.total > done && rate > 0 {
		s += fmt.Sprintf("  ETA %s", time.Duration(float64(m.total-done)/rate*float64(time.Second)).Round(time.Second))
	}
	return s
}

func humanBytes(n float64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	i := 0
	for n >= 1024 && i < len(units)-1 {
		n /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%.0f B", n)
	}
	return fmt.Sprintf("%.1f %s", n, units[i])
}
