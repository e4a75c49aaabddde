package engine

import (
	"bufio"
	"os"
	"strconv"
	"strings"
)

// PeakRSS returns this process's peak resident set size in bytes (VmHWM in /proc/self/status), or 0
// where that is not available.
//
// Not getrusage's ru_maxrss: Go starts child processes with vfork, and Linux carries the parent's
// peak at the exec into the child's ru_maxrss, so a child of a large parent (a test binary with
// the race detector: over 100 MiB) would report the parent's memory as its own.
func PeakRSS() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				return 0
			}
			return kb * 1024
		}
	}
	return 0
}
