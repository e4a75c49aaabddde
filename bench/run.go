package bench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/jackc/pgx/v5/pgconn"
	"golang.org/x/sync/errgroup"

	"github.com/pg2s3/pg2s3/copyout"
	"github.com/pg2s3/pg2s3/export"
	"github.com/pg2s3/pg2s3/upload"
)

// Spec is what to benchmark; the parent hands it to each worker process as JSON on stdin (so the
// DSN, which may carry a password, never appears in a process listing).
type Spec struct {
	DSN         string              `json:"dsn"`
	Query       string              `json:"query,omitempty"`
	Table       string              `json:"table,omitempty"`
	To          string              `json:"to"` // "null", or s3://bucket/prefix/ (each approach writes prefix + approach + ".csv")
	Batch       int                 `json:"batch"`
	S3          upload.ClientConfig `json:"s3"`
	PartSize    int64               `json:"part_size"`
	Concurrency int                 `json:"concurrency"`
}

// Validate checks a spec before anything runs.
func (s Spec) Validate() error {
	switch {
	case s.Query == "" && s.Table == "":
		return errors.New("give --query or --table")
	case s.Query != "" && s.Table != "":
		return errors.New("give --query or --table, not both")
	case s.Batch < 1:
		return fmt.Errorf("--batch must be at least 1 (got %d)", s.Batch)
	}
	if s.Query != "" {
		if _, err := copyout.CheckQuery(s.Query); err != nil {
			return err
		}
	}
	if s.To != "null" {
		rest, ok := strings.CutPrefix(s.To, "s3://")
		bucket, prefix, _ := strings.Cut(rest, "/")
		if !ok || bucket == "" || (prefix != "" && !strings.HasSuffix(prefix, "/")) {
			return fmt.Errorf("--to %q: want null or s3://bucket/prefix/ (ending in /; each approach writes prefix + approach + .csv)", s.To)
		}
	}
	return nil
}

func (s Spec) key(approach string) (bucket, key string) {
	rest := strings.TrimPrefix(s.To, "s3://")
	bucket, prefix, _ := strings.Cut(rest, "/")
	return bucket, prefix + approach + ".csv"
}

// Result is one run of one approach.
type Result struct {
	Approach string  `json:"approach"`
	Rows     int64   `json:"rows"`
	Bytes    int64   `json:"bytes"`
	SHA256   string  `json:"sha256"`
	Seconds  float64 `json:"seconds"` // wall time of the approach, measured in the worker
	Error    string  `json:"error,omitempty"`
	// From the operating system's accounting of the worker process (rusage; the peak RSS from /proc).
	UserSeconds float64 `json:"user_seconds"`
	SysSeconds  float64 `json:"sys_seconds"`
	PeakRSS     int64   `json:"peak_rss_bytes"` // VmHWM reported by the worker itself (rusage's ru_maxrss as a fallback)
}

// FailEnv names an approach that the worker fails on purpose: the tests use it to check that a
// failed approach is reported, not dropped.
const FailEnv = "PG2S3_BENCH_FAIL"

// Work runs one approach in this process (the hidden bench-worker command) and returns its result.
func Work(ctx context.Context, spec Spec, approach string) Result {
	res := Result{Approach: approach}
	start := time.Now()
	h := sha256.New()
	var err error
	if os.Getenv(FailEnv) == approach {
		err = fmt.Errorf("failed on purpose (%s=%s)", FailEnv, approach)
	} else {
		res.Rows, res.Bytes, err = work(ctx, spec, approach, h)
	}
	res.Seconds = time.Since(start).Seconds()
	res.PeakRSS = export.PeakRSS() // the worker's own; the parent's rusage would include its own peak (vfork)
	res.SHA256 = hex.EncodeToString(h.Sum(nil))
	if err != nil {
		res.Error = err.Error()
	}
	return res
}

// countingHash counts and hashes what the approach produced.
type countingHash struct {
	h io.Writer
	n int64
}

func (c *countingHash) Write(b []byte) (int, error) {
	c.n += int64(len(b))
	return c.h.Write(b)
}

func work(ctx context.Context, spec Spec, approach string, h io.Writer) (rows, bytes_ int64, err error) {
	out := &countingHash{h: h}
	var client *s3.Client
	if spec.To != "null" {
		if client, err = upload.NewClient(ctx, spec.S3); err != nil {
			return 0, 0, err
		}
	}
	if approach == Copy {
		cfg := export.Config{
			DSN: spec.DSN, Query: spec.Query, Table: spec.Table, To: "-", Stdout: out,
			PartSize: spec.PartSize, Concurrency: spec.Concurrency, Checksum: upload.CRC32C, S3: spec.S3,
		}
		if spec.To != "null" {
			bucket, key := spec.key(approach)
			cfg.To, cfg.Stdout, cfg.Tee, cfg.S3Client = "s3://"+bucket+"/"+key, io.Discard, out, client
		}
		sum, err := export.Run(ctx, cfg)
		return sum.Rows, out.n, err
	}

	pgcfg, err := copyout.ParseConfig(spec.DSN, copyout.Session{})
	if err != nil {
		return 0, 0, err
	}
	conn, err := copyout.Connect(ctx, pgcfg)
	if err != nil {
		return 0, 0, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	query := spec.Query
	if spec.Table != "" {
		t, err := copyout.ResolveTable(ctx, conn, spec.Table)
		if err != nil {
			return 0, 0, err
		}
		query = "SELECT * FROM " + t.String()
	} else if query, err = copyout.CheckQuery(query); err != nil {
		return 0, 0, err
	}

	switch approach {
	case Cursor:
		if spec.To == "null" {
			rows, err = CursorCSV(ctx, conn, query, spec.Batch, out)
			return rows, out.n, err
		}
		bucket, key := spec.key(approach)
		up := &upload.Uploader{Client: client, Bucket: bucket, Key: key, PartSize: spec.PartSize, Concurrency: spec.Concurrency}
		pr, pw := io.Pipe()
		g, gctx := errgroup.WithContext(ctx)
		g.Go(func() error {
			var err error
			rows, err = CursorCSV(gctx, conn, query, spec.Batch, io.MultiWriter(pw, out))
			pw.CloseWithError(err)
			return err
		})
		g.Go(func() error {
			_, err := up.Upload(gctx, pr)
			pr.CloseWithError(err)
			return err
		})
		return rows, out.n, g.Wait()
	case Memory:
		csv, rows, err := MemoryCSV(ctx, conn, query)
		if err != nil {
			return rows, 0, err
		}
		out.Write(csv)
		if spec.To != "null" {
			bucket, key := spec.key(approach)
			_, err = client.PutObject(ctx, &s3.PutObjectInput{
				Bucket: &bucket, Key: &key, Body: bytes.NewReader(csv), ContentLength: aws.Int64(int64(len(csv))),
				ContentType: aws.String("text/csv"), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32c,
			})
		}
		return rows, out.n, err
	}
	return 0, 0, fmt.Errorf("unknown approach %q", approach)
}

// Run benchmarks the approaches, runs times each, alternating between them, each run in its own
// worker process started as `exe bench-worker APPROACH`. progress, if not nil, is told of each run.
func Run(ctx context.Context, spec Spec, approaches []string, runs int, exe string, progress func(Result)) (*Report, error) {
	specJSON, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	all := map[string][]Result{}
	for run := 0; run < runs; run++ {
		for _, a := range approaches {
			r := runWorker(ctx, exe, a, specJSON)
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			all[a] = append(all[a], r)
			if progress != nil {
				progress(r)
			}
		}
	}
	rep := newReport(spec, approaches, runs, all)
	if !rep.SHA256Agree && rep.SHA256Note == "" {
		rep.SHA256Note = explainMismatch(ctx, spec, rep)
	}
	return rep, nil
}

func runWorker(ctx context.Context, exe, approach string, spec []byte) Result {
	cmd := exec.CommandContext(ctx, exe, "bench-worker", approach)
	cmd.Stdin = bytes.NewReader(spec)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var r Result
	if jerr := json.Unmarshal(stdout.Bytes(), &r); jerr != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" && err != nil {
			msg = err.Error()
		}
		r = Result{Approach: approach, Error: "the worker process failed: " + msg}
	}
	if ps := cmd.ProcessState; ps != nil {
		if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
			r.UserSeconds = time.Duration(ru.Utime.Nano()).Seconds()
			r.SysSeconds = time.Duration(ru.Stime.Nano()).Seconds()
			if r.PeakRSS == 0 { // the worker could not read /proc/self/status
				r.PeakRSS = ru.Maxrss * 1024
			}
		}
		if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() && r.Error == "" {
			r.Error = "the worker process was killed by " + ws.Signal().String()
		}
	}
	return r
}

// explainMismatch finds where the outputs differ: it streams COPY's output and the client encoder's
// output side by side and reports the first difference.
func explainMismatch(ctx context.Context, spec Spec, rep *Report) string {
	var other string
	for _, s := range rep.Approaches {
		if s.Approach != Copy && !s.Failed && s.SHA256 != rep.copySHA() {
			other = s.Approach
		}
	}
	if other == "" || rep.copySHA() == "" {
		return "the outputs differ"
	}
	pgcfg, err := copyout.ParseConfig(spec.DSN, copyout.Session{})
	if err != nil {
		return "the outputs differ (" + err.Error() + ")"
	}
	var a, b *pgconn.PgConn
	if a, err = copyout.Connect(ctx, pgcfg); err == nil {
		defer a.Close(ctx)
		if b, err = copyout.Connect(ctx, pgcfg); err == nil {
			defer b.Close(ctx)
		}
	}
	if err != nil {
		return "the outputs differ (" + err.Error() + ")"
	}
	query, stmt := spec.Query, copyout.Statement{}
	if spec.Table != "" {
		t, err := copyout.ResolveTable(ctx, a, spec.Table)
		if err != nil {
			return "the outputs differ (" + err.Error() + ")"
		}
		query, stmt = "SELECT * FROM "+t.String(), copyout.TableStatement(t, copyout.Options{})
	} else {
		query, _ = copyout.CheckQuery(query)
		stmt, _ = copyout.QueryStatement(query, copyout.Options{})
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pa, wa := io.Pipe()
	pb, wb := io.Pipe()
	go func() { _, err := copyout.Run(ctx, a, stmt, wa, nil); wa.CloseWithError(err) }()
	go func() { _, err := CursorCSV(ctx, b, query, spec.Batch, wb); wb.CloseWithError(err) }()
	return firstDifference(bufio.NewReader(pa), bufio.NewReader(pb), Copy, Cursor)
}

// firstDifference compares two CSV streams line by line and describes the first line that differs.
func firstDifference(a, b *bufio.Reader, nameA, nameB string) string {
	for line := 1; ; line++ {
		la, ea := a.ReadBytes('\n')
		lb, eb := b.ReadBytes('\n')
		if !bytes.Equal(la, lb) {
			return fmt.Sprintf("line %d differs: %s wrote %.200q, %s wrote %.200q", line, nameA, la, nameB, lb)
		}
		if ea != nil || eb != nil {
			if ea != eb {
				return fmt.Sprintf("after line %d: %s ended with %v, %s with %v", line, nameA, ea, nameB, eb)
			}
			return "the outputs are equal now: the data changed between runs"
		}
	}
}
