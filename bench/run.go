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
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/pg2s3/pg2s3/columnar"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pg2s3/pg2s3/copyout"
	"github.com/pg2s3/pg2s3/engine"
	"github.com/pg2s3/pg2s3/sink"
	"github.com/pg2s3/pg2s3/upload"
)

// Spec is what to benchmark; the parent hands it to each worker process as JSON on stdin (so the
// DSN, which may carry a password, never appears in a process listing).
type Spec struct {
	Conn   copyout.Conn        `json:"conn"`
	Query  string              `json:"query,omitempty"`
	Table  string              `json:"table,omitempty"`
	To     string              `json:"to"` // "null", or s3://bucket/prefix/ (each approach writes prefix + approach + ".csv")
	Batch  int                 `json:"batch"`
	S3     upload.ClientConfig `json:"s3"`
	Upload upload.Options      `json:"upload"`
}

// Validate checks a spec before anything runs; its errors are *engine.ConfigError.
func (s Spec) Validate() error {
	switch {
	case s.Query == "" && s.Table == "":
		return &engine.ConfigError{Name: "Query", Reason: "nothing to export: give a query or tables"}
	case s.Query != "" && s.Table != "":
		return &engine.ConfigError{Name: "Query", Reason: "give a query or tables, not both"}
	case s.Batch < 1:
		return &engine.ConfigError{Name: "Batch", Value: fmt.Sprint(s.Batch), Reason: "must be at least 1"}
	}
	if s.Query != "" {
		if _, err := copyout.CheckQuery(s.Query); err != nil {
			return &engine.ConfigError{Name: "Query", Reason: err.Error()}
		}
	}
	if s.To != "null" {
		if _, err := upload.ParsePrefix(s.To); err != nil {
			return &engine.ConfigError{Name: "To", Value: s.To, Reason: "want null or s3://bucket/prefix/ (ending in /; each approach writes prefix + approach + .csv)"}
		}
	}
	return nil
}

func (s Spec) object(approach string) upload.URL {
	prefix, _ := upload.ParsePrefix(s.To)
	if approach == Parquet {
		return prefix.Join(approach + ".parquet")
	}
	return prefix.Join(approach + ".csv")
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

// Work runs one approach in this process (the hidden bench-worker command) and returns its result.
func Work(ctx context.Context, spec Spec, approach string) Result {
	res := Result{Approach: approach}
	start := time.Now()
	h := sha256.New()
	var err error
	res.Rows, res.Bytes, err = work(ctx, spec, approach, h)
	res.Seconds = time.Since(start).Seconds()
	res.PeakRSS = engine.PeakRSS() // the worker's own; the parent's rusage would include its own peak (vfork)
	res.SHA256 = hex.EncodeToString(h.Sum(nil))
	if approach == Parquet && spec.To != "null" {
		res.SHA256 = "" // the file is hashed by the store (its checksum), not on the way
	}
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

// workEngine runs approach Copy or Parquet through the engine, as pg2s3 export does, hashing
// what it writes to out.
func workEngine(ctx context.Context, spec Spec, approach string, out *countingHash, client *s3.Client) (rows, bytes_ int64, err error) {
	cfg := engine.Config{
		Conn: spec.Conn, Query: spec.Query, To: engine.Destination{Raw: "-", Stdout: true}, Stdout: out,
		Upload: spec.Upload, S3: spec.S3, S3Client: client,
	}
	if approach == Parquet {
		cfg.Parquet = &columnar.Options{}
	}
	if spec.Table != "" {
		cfg.Tables = []string{spec.Table}
	}
	if spec.To != "null" {
		if cfg.To, err = engine.ParseDestination(spec.object(approach).String()); err != nil {
			return 0, 0, err
		}
		if approach == Copy { // the CSV, hashed as it goes (Parquet's file is made after the stages)
			cfg.Stages = []engine.Stage{engine.Tee{W: out}}
		}
	}
	m, err := engine.Run(ctx, cfg)
	if err != nil {
		return 0, out.n, err
	}
	if approach == Parquet && spec.To != "null" {
		return m.Rows(), m.Objects[0].Bytes, nil
	}
	return m.Rows(), out.n, nil
}

// work runs approach once (in its worker process), hashing what it produces to h, and returns
// the rows and the bytes produced (stored, for Parquet to S3).
func work(ctx context.Context, spec Spec, approach string, h io.Writer) (rows, bytes_ int64, err error) {
	out := &countingHash{h: h}
	var client *s3.Client
	if spec.To != "null" {
		if client, err = upload.NewClient(ctx, spec.S3); err != nil {
			return 0, 0, err
		}
	}
	if approach == Copy || approach == Parquet { // exactly what pg2s3 export runs
		return workEngine(ctx, spec, approach, out, client)
	}
	conn, err := spec.Conn.Connect(ctx)
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
			rows, err = cursorCSV(ctx, conn, query, spec.Batch, out)
			return rows, out.n, err
		}
		// The same sink as the copy approach: only the producer differs.
		obj := sink.Open(ctx, sink.S3{Uploader: upload.New(client, spec.object(approach), spec.Upload)})
		rows, err = cursorCSV(ctx, conn, query, spec.Batch, io.MultiWriter(obj, out))
		obj.End(err)
		_, werr := obj.Wait()
		return rows, out.n, errors.Join(err, werr)
	case Memory:
		csv, rows, err := memoryCSV(ctx, conn, query)
		if err != nil {
			return rows, 0, err
		}
		out.Write(csv)
		if spec.To != "null" {
			u := spec.object(approach)
			_, err = client.PutObject(ctx, &s3.PutObjectInput{
				Bucket: &u.Bucket, Key: &u.Key, Body: bytes.NewReader(csv), ContentLength: aws.Int64(int64(len(csv))),
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
	var a, b *pgconn.PgConn
	var err error
	if a, err = spec.Conn.Connect(ctx); err == nil {
		defer a.Close(ctx)
		if b, err = spec.Conn.Connect(ctx); err == nil {
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
	// Both streams go through sinks whose consumers hand their readers over and wait until the
	// comparison is done; the producers then stop at their next write (or on the cancellation),
	// and are waited for before their connections close.
	ctx, cancel := context.WithCancel(ctx)
	readers := [2]chan io.Reader{make(chan io.Reader, 1), make(chan io.Reader, 1)}
	done := make(chan struct{})
	open := func(i int, name string) *sink.Object {
		return sink.Open(ctx, sink.Func{Name: name, F: func(_ context.Context, r io.Reader) error {
			readers[i] <- r
			<-done
			return nil
		}})
	}
	oa, ob := open(0, Copy), open(1, Cursor)
	var wg sync.WaitGroup
	wg.Go(func() { _, err := copyout.Run(ctx, a, stmt, oa, nil); oa.End(err) })
	wg.Go(func() { _, err := cursorCSV(ctx, b, query, spec.Batch, ob); ob.End(err) })
	diff := firstDifference(bufio.NewReader(<-readers[0]), bufio.NewReader(<-readers[1]), Copy, Cursor)
	close(done)
	cancel()
	wg.Wait()
	return diff
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
