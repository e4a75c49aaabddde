package command

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/pg2s3/pg2s3/engine"
)

// startProgress redraws one status line on w every half second until the returned stop is called,
// which erases it. estRows < 0 means no estimate (no ETA).
// The estimate comes from the engine's planner (p.EstRows); with a header, each object's first
// message is not a row.
func startProgress(w io.Writer, p *engine.Progress, header bool, start time.Time) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				fmt.Fprint(w, "\r\033[K")
				return
			case <-t.C:
				rows, estRows := p.Messages.Load(), p.EstRows.Load()
				if header && rows > 0 {
					rows--
				}
				fmt.Fprint(w, "\r\033[K"+progressLine(rows, p.Bytes.Load(), estRows, time.Since(start)))
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(done); wg.Wait() }) }
}

func progressLine(rows, bytes, estRows int64, elapsed time.Duration) string {
	secs := elapsed.Seconds()
	line := fmt.Sprintf("%d rows  %s  %.1f MB/s  %s", rows, humanBytes(bytes), float64(bytes)/1e6/max(secs, 1e-9), elapsed.Truncate(time.Second))
	if estRows > 0 && rows > 0 {
		pct := float64(rows) / float64(estRows)
		if pct < 1 {
			eta := time.Duration(secs/pct*(1-pct)) * time.Second
			line += fmt.Sprintf("  %.0f%% of ~%d rows, ETA %s", pct*100, estRows, eta.Truncate(time.Second))
		} else {
			line += fmt.Sprintf("  (estimate was ~%d rows)", estRows)
		}
	}
	return line
}

// humanBytes renders n in binary units: 512 B, 1.5 KiB, 23.4 MiB, 2.0 GiB.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
