// Package export runs one export: a COPY out of PostgreSQL (package copyout) piped into a destination
// (an S3 object through package upload, a local file, or stdout).
//
// The COPY and the destination run as two goroutines of one errgroup joined by an io.Pipe: the
// producer closes its end with CloseWithError(err) (nil only when COPY succeeded and committed), the
// consumer closes its end with the error it failed with, so a failure on either side stops the other
// and the group's context cancels the query. The destination publishes its result (completes the
// multipart upload, renames the temporary file) only after reading io.EOF, that is, only after COPY
// returned nil.
//
// Memory: copyout.BufferSize (256 KiB) in front of the pipe, plus the destination's buffers: for S3
// about (Concurrency+1) x part size (see package upload), for a file or stdout 1 MiB.
package export

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"golang.org/x/sync/errgroup"

	"github.com/pg2s3/pg2s3/copyout"
	"github.com/pg2s3/pg2s3/upload"
)

// Config is one export, validated by Validate.
type Config struct {
	DSN      string // connection string; empty: PG* environment variables
	Query    string // --query
	Table    string // --table
	CSV      copyout.Options
	Session  copyout.Session
	Compress Compression
	To       string // s3://bucket/key, "-" for stdout, or a local path (the compression's extension is added when missing)

	S3          upload.ClientConfig
	Object      upload.ObjectOptions
	PartTimeout time.Duration
	PartSize    int64
	Concurrency int
	Checksum    upload.Checksum

	ConnectTimeout time.Duration // default 30s

	Progress bool      // draw a live progress line on Stderr
	Stdout   io.Writer // where --to - writes; default os.Stdout
	Stderr   io.Writer // where progress goes; default os.Stderr
	Logger   *slog.Logger

	// S3Client, when set, is used instead of one built from S3 (tests and bench use it).
	S3Client upload.API

	// Tee, when set, also receives every byte of the COPY (bench hashes the output with it).
	Tee io.Writer

	onPart func(part int, size int64) // tests: called after each uploaded part
}

// Validate checks the config without touching the network. Its errors are usage errors.
func (c *Config) Validate() error {
	switch {
	case c.Query == "" && c.Table == "":
		return errors.New("give --query or --table")
	case c.Query != "" && c.Table != "":
		return errors.New("give --query or --table, not both")
	case c.To == "":
		return errors.New("--to is required (s3://bucket/key, - for stdout, or a file path)")
	}
	if c.Query != "" {
		if _, err := copyout.QueryStatement(c.Query, copyout.Options{}); err != nil {
			return err
		}
	}
	if err := c.CSV.Validate(); err != nil {
		return err
	}
	if err := c.Compress.Validate(); err != nil {
		return err
	}
	if c.Concurrency < 1 {
		return fmt.Errorf("--concurrency must be at least 1 (got %d)", c.Concurrency)
	}
	if err := upload.CheckPartSize(c.PartSize); err != nil {
		return fmt.Errorf("--part-size: %w", err)
	}
	if err := c.Object.Validate(); err != nil {
		return err
	}
	_, err := parseDestination(c.To)
	return err
}

// Summary describes a finished export.
type Summary struct {
	Destination string  `json:"destination"`
	Rows        int64   `json:"rows"`
	Bytes       int64   `json:"bytes"`     // stored (compressed when --compress)
	CSVBytes    int64   `json:"csv_bytes"` // produced by COPY
	Compression string  `json:"compression,omitempty"`
	Ratio       float64 `json:"compression_ratio,omitempty"` // csv_bytes / bytes
	Parts       int     `json:"parts"`
	Seconds     float64 `json:"seconds"`
	MBPerSec    float64 `json:"mb_per_s"`
	Checksum    string  `json:"checksum,omitempty"`
	ETag        string  `json:"etag,omitempty"`
	LoadSQL     string  `json:"load_sql,omitempty"`       // with --preset: the statement that loads the export
	PeakRSS     int64   `json:"peak_rss_bytes,omitempty"` // this process's peak memory (VmHWM)
}

// String is the one summary line printed at the end of an export.
func (s Summary) String() string {
	parts := ""
	if s.Parts > 0 {
		parts = fmt.Sprintf(", %d part%s", s.Parts, plural(s.Parts))
	}
	size := fmt.Sprintf("%s (%d bytes)", HumanBytes(s.Bytes), s.Bytes)
	if s.Compression != "" {
		size = fmt.Sprintf("%s of CSV as %s %s (%d bytes, %.1fx)", HumanBytes(s.CSVBytes), HumanBytes(s.Bytes), s.Compression, s.Bytes, s.Ratio)
	}
	return fmt.Sprintf("pg2s3: exported %d row%s, %s%s, %.2fs, %.1f MB/s -> %s",
		s.Rows, plural(int(s.Rows)), size, parts, s.Seconds, s.MBPerSec, s.Destination)
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// Run performs the export described by cfg (which must have passed Validate).
func Run(ctx context.Context, cfg Config) (Summary, error) {
	start := time.Now()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Stdout == nil {
		cfg.Stdout = os.Stdout
	}
	if cfg.Stderr == nil {
		cfg.Stderr = os.Stderr
	}
	dest, err := parseDestination(WithExtension(cfg.To, cfg.Compress))
	if err != nil {
		return Summary{}, err
	}
	if cfg.Compress.Enabled() && cfg.Object.ContentEncoding == "" {
		cfg.Object.ContentEncoding = cfg.Compress.ContentEncoding()
	}
	if s3d, ok := dest.(*s3Destination); ok {
		client := cfg.S3Client
		if client == nil {
			c, err := upload.NewClient(ctx, cfg.S3)
			if err != nil {
				return Summary{}, err
			}
			client = c
		}
		s3d.up = &upload.Uploader{
			Client: client, Bucket: s3d.bucket, Key: s3d.key,
			PartSize: cfg.PartSize, Concurrency: cfg.Concurrency, Checksum: cfg.Checksum, Logger: cfg.Logger,
			Object: cfg.Object, PartTimeout: cfg.PartTimeout, OnPart: cfg.onPart,
		}
	}
	if fd, ok := dest.(*fileDestination); ok {
		if err := fd.check(); err != nil {
			return Summary{}, err
		}
	}
	if sd, ok := dest.(*stdoutDestination); ok {
		sd.w = cfg.Stdout
	}

	pgcfg, err := copyout.ParseConfig(cfg.DSN, cfg.Session)
	if err != nil {
		return Summary{}, err
	}
	if pgcfg.ConnectTimeout == 0 {
		pgcfg.ConnectTimeout = cfg.ConnectTimeout
		if pgcfg.ConnectTimeout == 0 {
			pgcfg.ConnectTimeout = 30 * time.Second
		}
	}
	// On cancellation, ask the server to cancel the query, and close the socket if it does not stop.
	pgcfg.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.CancelRequestContextWatcherHandler{Conn: c, DeadlineDelay: 3 * time.Second}
	}
	conn, err := copyout.Connect(ctx, pgcfg)
	if err != nil {
		return Summary{}, err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		conn.Close(cctx)
	}()

	var stmt copyout.Statement
	var table copyout.Table
	opts := cfg.CSV
	if cfg.Table != "" {
		table, err = copyout.ResolveTable(ctx, conn, cfg.Table)
		if err != nil {
			return Summary{}, err
		}
		stmt = copyout.TableStatement(table, opts)
	} else {
		stmt, err = copyout.QueryStatement(cfg.Query, opts)
		if err != nil {
			return Summary{}, err
		}
	}

	cfg.Logger.Debug("running COPY", "host", pgcfg.Host, "port", pgcfg.Port, "database", pgcfg.Database,
		"user", pgcfg.User, "sql", stmt.SQL, "destination", dest.String())
	var prog copyout.Progress
	if cfg.Progress {
		est := int64(-1)
		if cfg.Table != "" {
			est = table.EstRows
		}
		stop := StartProgress(cfg.Stderr, &prog, est, cfg.CSV.Header, start)
		defer stop()
	}

	var rows int64
	var res destResult
	pr, pw := io.Pipe()
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		enc, err := cfg.Compress.Writer(pw)
		if err != nil {
			pw.CloseWithError(err)
			return err
		}
		var w io.Writer = enc
		if cfg.Tee != nil {
			w = io.MultiWriter(enc, cfg.Tee)
		}
		n, err := copyout.Run(gctx, conn, stmt, w, &prog)
		if err == nil {
			err = enc.Close() // the compressor's last blocks and trailer
		}
		pw.CloseWithError(err) // nil: the reader sees io.EOF, the only signal to publish
		if err != nil {
			enc.Close() // stops the compressor's goroutines; its writes fail on the closed pipe
		}
		rows = n
		return err
	})
	g.Go(func() error {
		var err error
		res, err = dest.consume(gctx, pr)
		pr.CloseWithError(err) // a producer still writing stops at once
		return err
	})
	if err := g.Wait(); err != nil {
		if ctx.Err() != nil {
			return Summary{}, fmt.Errorf("export to %s interrupted: %w", dest, cancelCause(ctx, err))
		}
		return Summary{}, err
	}
	secs := time.Since(start).Seconds()
	sum := Summary{
		Destination: dest.String(), Rows: rows, Bytes: res.bytes, Parts: res.parts, CSVBytes: prog.Bytes.Load(),
		Seconds: secs, Checksum: res.checksum, ETag: res.etag,
	}
	sum.MBPerSec = float64(sum.CSVBytes) / 1e6 / secs
	sum.PeakRSS = PeakRSS()
	if cfg.Compress.Enabled() {
		sum.Compression = cfg.Compress.Algorithm
		if sum.Bytes > 0 {
			sum.Ratio = float64(sum.CSVBytes) / float64(sum.Bytes)
		}
	}
	return sum, nil
}

// WithExtension adds the compression's extension (.gz, .zst) to a key or file name that lacks it.
func WithExtension(to string, c Compression) string {
	ext := c.Extension()
	if ext == "" || to == "-" || strings.HasSuffix(to, ext) {
		return to
	}
	return to + ext
}

// cancelCause keeps the most useful error of an interrupted run: an abort that failed (which names
// the upload to clean up) beats the bare context error.
func cancelCause(ctx context.Context, err error) error {
	var ae *upload.AbortError
	if errors.As(err, &ae) {
		return err
	}
	return context.Cause(ctx)
}

type destResult struct {
	bytes    int64
	parts    int
	checksum string
	etag     string
}

// destination consumes the stream; it publishes only after reading io.EOF.
type destination interface {
	consume(ctx context.Context, r io.Reader) (destResult, error)
	String() string
}

func parseDestination(to string) (destination, error) {
	switch {
	case to == "-":
		return &stdoutDestination{}, nil
	case len(to) >= 5 && to[:5] == "s3://":
		bucket, key, err := upload.ParseURL(to)
		if err != nil {
			return nil, err
		}
		return &s3Destination{bucket: bucket, key: key}, nil
	case filepath.IsAbs(to) || !containsScheme(to):
		return &fileDestination{path: to}, nil
	}
	return nil, fmt.Errorf("--to %q: want s3://bucket/key, - for stdout, or a file path", to)
}

func containsScheme(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == ':' {
			return i > 0 && i+2 < len(s) && s[i+1] == '/' && s[i+2] == '/'
		}
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.') {
			return false
		}
	}
	return false
}

type s3Destination struct {
	bucket, key string
	up          *upload.Uploader
}

func (d *s3Destination) String() string { return "s3://" + d.bucket + "/" + d.key }

func (d *s3Destination) consume(ctx context.Context, r io.Reader) (destResult, error) {
	res, err := d.up.Upload(ctx, r)
	return destResult{bytes: res.Bytes, parts: res.Parts, checksum: res.Checksum, etag: res.ETag}, err
}

type stdoutDestination struct{ w io.Writer }

func (d *stdoutDestination) String() string { return "stdout" }

func (d *stdoutDestination) consume(ctx context.Context, r io.Reader) (destResult, error) {
	n, err := io.CopyBuffer(d.w, r, make([]byte, 1<<20))
	if err != nil {
		return destResult{bytes: n}, fmt.Errorf("writing to stdout: %w", err)
	}
	return destResult{bytes: n}, nil
}

type fileDestination struct{ path string }

func (d *fileDestination) String() string { return d.path }

// check fails early when the file cannot be written, before anything runs on the server.
func (d *fileDestination) check() error {
	if fi, err := os.Stat(d.path); err == nil && fi.IsDir() {
		return fmt.Errorf("--to %s is a directory; give a file name", d.path)
	}
	dir := filepath.Dir(d.path)
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("--to %s: folder %s: %w", d.path, dir, errors.Unwrap(err))
	}
	if !fi.IsDir() {
		return fmt.Errorf("--to %s: %s is not a folder", d.path, dir)
	}
	return nil
}

// consume writes to a temporary file beside the target and renames it into place only on success.
func (d *fileDestination) consume(ctx context.Context, r io.Reader) (res destResult, err error) {
	dir, base := filepath.Split(d.path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".pg2s3-*.tmp")
	if err != nil {
		return res, fmt.Errorf("creating a temporary file for %s: %w", d.path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	res.bytes, err = io.CopyBuffer(tmp, r, make([]byte, 1<<20))
	if err != nil {
		return res, fmt.Errorf("writing %s: %w", d.path, err)
	}
	if err = tmp.Chmod(0o644); err != nil {
		return res, fmt.Errorf("writing %s: %w", d.path, err)
	}
	if err = tmp.Sync(); err != nil {
		return res, fmt.Errorf("writing %s: %w", d.path, err)
	}
	if err = tmp.Close(); err != nil {
		return res, fmt.Errorf("writing %s: %w", d.path, err)
	}
	if err = os.Rename(tmp.Name(), d.path); err != nil {
		return res, fmt.Errorf("moving the finished file into place at %s: %w", d.path, err)
	}
	return res, nil
}

// Check that *s3.Client satisfies upload.API.
var _ upload.API = (*s3.Client)(nil)
