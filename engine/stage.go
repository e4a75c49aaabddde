package engine

import (
	"fmt"
	"io"
	"runtime"

	"github.com/klauspost/compress/zstd"
	"github.com/klauspost/pgzip"
)

// Stage transforms one object's byte stream between the COPY and the sink. It is the boundary
// where the compressors and the Parquet encoder sit: Wrap returns the writer the stage's input goes
// to, writing its output to w; Close flushes what the stage still holds into w (and does not close
// w). A stage sees whole objects: the splitter starts a new one on a row boundary.
//
// (The row boundary before it is copyout.RowWriter: the splitter receives one CopyData message at
// a time there, and so will a partition router or an encoder that needs rows.)
type Stage interface {
	Wrap(w io.Writer) (io.WriteCloser, error)
}

// Tee is a stage that also copies the stream to W, unchanged (bench hashes the CSV with it).
type Tee struct{ W io.Writer }

// Wrap writes to both w and t.W.
func (t Tee) Wrap(w io.Writer) (io.WriteCloser, error) { return nopCloser{io.MultiWriter(w, t.W)}, nil }

// Compression is the compressor stage: gzip or zstd, streaming, on every core.
type Compression struct {
	Algorithm string // "", "none", "gzip" or "zstd"
	Level     int    // 0: the default (gzip 6, zstd 1); gzip 1-9, zstd 1-22
}

// Enabled says whether the output is compressed.
func (c Compression) Enabled() bool { return c.Algorithm != "" && c.Algorithm != "none" }

// Validate checks the algorithm and level; its errors are *ConfigError (fields Compress and
// CompressLevel).
func (c Compression) Validate() error {
	level := func(reason string) error {
		return &ConfigError{Name: "CompressLevel", Value: fmt.Sprint(c.Level), Reason: reason}
	}
	switch c.Algorithm {
	case "", "none":
		if c.Level != 0 {
			return level("a level needs gzip or zstd compression")
		}
	case "gzip":
		if c.Level < 0 || c.Level > 9 {
			return level("gzip levels are 1 to 9")
		}
	case "zstd":
		if c.Level < 0 || c.Level > 22 {
			return level("zstd levels are 1 to 22")
		}
	default:
		return &ConfigError{Name: "Compress", Value: c.Algorithm, Reason: "want none, gzip or zstd"}
	}
	return nil
}

// Extension is the file extension the algorithm's output carries: .gz, .zst or "".
func (c Compression) Extension() string {
	switch c.Algorithm {
	case "gzip":
		return ".gz"
	case "zstd":
		return ".zst"
	}
	return ""
}

// ContentEncoding is the HTTP Content-Encoding of the stored object ("" when not compressed).
func (c Compression) ContentEncoding() string {
	switch c.Algorithm {
	case "gzip":
		return "gzip"
	case "zstd":
		return "zstd"
	}
	return ""
}

// Memory of the compressors: pgzip keeps up to 2 x GOMAXPROCS blocks of 1 MiB in flight; zstd's
// concurrent encoder keeps one block (up to its window, 8 MiB at the default level) per goroutine.
const (
	gzipBlockSize = 1 << 20
)

// Wrap returns a streaming compressor writing to w, using every core beside the COPY, or w
// itself when there is no compression. Close flushes the compressor's trailer into w.
func (c Compression) Wrap(w io.Writer) (io.WriteCloser, error) {
	procs := runtime.GOMAXPROCS(0)
	switch c.Algorithm {
	case "gzip":
		level := c.Level
		if level == 0 {
			level = 6
		}
		gz, err := pgzip.NewWriterLevel(w, level)
		if err != nil {
			return nil, err
		}
		if err := gz.SetConcurrency(gzipBlockSize, 2*procs); err != nil {
			return nil, err
		}
		return gz, nil
	case "zstd":
		// Level 1 by default: sharing the cores with the COPY, level 3 costs much more throughput for
		// little more ratio on CSV (docs/reference.md, Compression; BenchmarkCompression measures it).
		level := zstd.SpeedFastest
		if c.Level != 0 {
			level = zstd.EncoderLevelFromZstd(c.Level)
		}
		return zstd.NewWriter(w, zstd.WithEncoderLevel(level), zstd.WithEncoderConcurrency(procs))
	}
	return nopCloser{w}, nil
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }
