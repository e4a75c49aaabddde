package upload

import "fmt"

// S3's multipart limits.
const (
	MinPartSize   = 5 << 20  // every part but the last is at least 5 MiB
	MaxPartSize   = 5 << 30  // no part is larger than 5 GiB
	MaxParts      = 10_000   // part numbers run from 1 to 10,000
	MaxObjectSize = 5 << 40  // an object is at most 5 TiB
	growEvery     = 900      // the part size doubles after every GrowEvery parts
	DefaultPart   = 16 << 20 // the default first part size
)

// PartSize returns the size of part n (1-based) of a stream whose first part is base bytes:
//
//	PartSize(n) = min(5 GiB, base * 2^floor((n-1)/900))
//
// For base = 16 MiB: parts 1-900 are 16 MiB (14 GiB), 901-1800 32 MiB (42 GiB in all), 1801-2700
// 64 MiB (98 GiB), and so on; 5 TiB is reached at part 7,584. For the smallest base S3 allows
// (5 MiB), 5 TiB is reached at part 9,125 and the 10,000 parts hold 9.3 TiB. Doubling rather than a fixed size keeps small
// exports in small parts (little memory, early parallelism) while large ones never run out of parts.
func PartSize(n int, base int64) int64 {
	if n < 1 {
		n = 1
	}
	shift := (n - 1) / growEvery
	if shift > 30 {
		return MaxPartSize
	}
	size := base << shift
	if size > MaxPartSize || size < base {
		return MaxPartSize
	}
	return size
}

// CheckPartSize says whether base can start a schedule: S3 needs every part but the last to be
// between 5 MiB and 5 GiB.
func CheckPartSize(base int64) error {
	if base < MinPartSize || base > MaxPartSize {
		return fmt.Errorf("part size %d bytes is outside S3's limits (5 MiB to 5 GiB)", base)
	}
	return nil
}
