package command

import (
	"testing"
	"time"
)

func TestProgressLine(t *testing.T) {
	tests := []struct {
		rows, bytes, est int64
		elapsed          time.Duration
		want             string
	}{
		{1000, 2_000_000, -1, 2 * time.Second, "1000 rows  1.9 MiB  1.0 MB/s  2s"},
		{250, 1_000_000, 1000, 10 * time.Second, "250 rows  976.6 KiB  0.1 MB/s  10s  25% of ~1000 rows, ETA 30s"},
		{1200, 1_000_000, 1000, 10 * time.Second, "1200 rows  976.6 KiB  0.1 MB/s  10s  (estimate was ~1000 rows)"},
	}
	for _, tt := range tests {
		if got := progressLine(tt.rows, tt.bytes, tt.est, tt.elapsed); got != tt.want {
			t.Errorf("progressLine = %q, want %q", got, tt.want)
		}
	}
}

func TestHumanBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 5 << 20: "5.0 MiB", 3 << 39: "1.5 TiB"} {
		if got := humanBytes(n); got != want {
			t.Errorf("humanBytes(%d) = %q, want %q", n, got, want)
		}
	}
}
