// Package dump exports many tables, and large tables in chunks, in parallel under one snapshot,
// into objects under an S3 prefix, and writes a manifest last.
//
// What it promises:
//
//   - One instant: a coordinator connection opens a REPEATABLE READ transaction and exports its
//     snapshot (pg_export_snapshot); every worker joins it (SET TRANSACTION SNAPSHOT) before each
//     COPY, and the coordinator holds it until the last COPY has finished. Every object, across
//     tables and chunks, shows the database at the same moment.
//   - Chunks: ordinary tables larger than ChunkSize are split into ctid page ranges (a TID Range Scan
//     on PostgreSQL 14+; older servers export each table as one chunk, and the run says so). Chunks
//     are scheduled largest first over Jobs connections.
//   - Splits on row boundaries: PostgreSQL sends one CopyData message per row, so a new object starts
//     between two messages when MaxObjectSize (bytes of CSV, before compression) or MaxRows is
//     reached; no CSV is parsed, a single larger row goes whole into its object, and with a header
//     every object starts with it.
//   - Memory: one budget (MemoryLimit) shared by every upload's part buffers; a worker that would go
//     over it waits, which back-pressures its COPY.
//   - All or nothing: the manifest is written last, only after every object completed, so its
//     presence means the export is whole. If anything fails, every upload of the run is aborted,
//     the objects it already completed are deleted (unless KeepPartial), and no manifest is written.
package dump

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5/pgconn"
	"golang.org/x/sync/errgroup"

	"github.com/pg2s3/pg2s3/copyout"
	"github.com/pg2s3/pg2s3/export"
	"github.com/pg2s3/pg2s3/upload"
)

// DefaultTemplate names each object under the prefix.
const DefaultTemplate = "{schema}.{table}/part-{chunk:05}-{split:03}.csv"

// Config is one multi-table export.
type Config struct {
	DSN     string
	Tables  []string // --table, repeatable
	Schemas []string // --schema: every ordinary, partitioned and foreign table and view in it
	Exclude []string // --exclude-table: globs on schema.table or table

	To          string // s3://bucket/prefix/
	Template    string // object key template under the prefix (DefaultTemplate)
	Manifest    string // s3://bucket/key of the manifest (default: prefix + manifest.json)
	KeepPartial bool   // on failure, keep (and list) the objects already completed
	Snapshot    string // join this exported snapshot (pg2s3 snapshot) instead of exporting one
	// TableManifests also writes, per table, prefix/{schema}.{table}.manifest.json listing only that
	// table's objects (Redshift's COPY ... MANIFEST loads every entry of a manifest into one table).
	TableManifests bool
	Shard          Shard // export only this shard's chunks (with Snapshot)

	Jobs          int   // worker connections
	ChunkSize     int64 // heap bytes per ctid chunk (0: no chunks)
	MaxObjectSize int64 // bytes of CSV per object (0: no limit)
	MaxRows       int64 // rows per object (0: no limit)
	MemoryLimit   int64 // shared by every part buffer

	CSV      copyout.Options
	Session  copyout.Session
	Compress export.Compression

	S3          upload.ClientConfig
	S3Client    *s3.Client
	PartSize    int64
	Concurrency int
	Checksum    upload.Checksum
	Object      upload.ObjectOptions
	PartTimeout time.Duration

	Logger   *slog.Logger
	Progress *copyout.Progress // counts rows and bytes over every worker, when set

	noSharedSnapshot bool // tests: each COPY takes its own snapshot, to show what the shared one prevents
}

// Validate checks the config without the network.
func (c *Config) Validate() error {
	if len(c.Tables) == 0 && len(c.Schemas) == 0 {
		return errors.New("give --table (one or more) or --schema")
	}
	if _, _, err := parsePrefix(c.To); err != nil {
		return err
	}
	if c.Jobs < 1 {
		return fmt.Errorf("--jobs must be at least 1 (got %d)", c.Jobs)
	}
	if c.MaxObjectSize < 0 || c.MaxRows < 0 {
		return errors.New("--max-object-size and --max-rows must not be negative")
	}
	if need := int64(c.Jobs) * 2 * c.PartSize; c.MemoryLimit < need {
		return fmt.Errorf("--memory-limit %d bytes is too small: %d workers need at least 2 parts of %d bytes each (%d bytes)",
			c.MemoryLimit, c.Jobs, c.PartSize, need)
	}
	if c.Manifest != "" {
		if _, _, err := upload.ParseURL(c.Manifest); err != nil {
			return fmt.Errorf("--manifest: %w", err)
		}
	}
	if err := c.CSV.Validate(); err != nil {
		return err
	}
	return c.Compress.Validate()
}

func parsePrefix(to string) (bucket, prefix string, err error) {
	rest, ok := strings.CutPrefix(to, "s3://")
	bucket, prefix, _ = strings.Cut(rest, "/")
	if !ok || bucket == "" || (prefix != "" && !strings.HasSuffix(prefix, "/")) {
		return "", "", fmt.Errorf("--to %q: for several tables, give a prefix: s3://bucket/prefix/ (ending in /)", to)
	}
	return bucket, prefix, nil
}

var placeholder = regexp.MustCompile(`\{(schema|table|chunk|split)(?::(0\d+))?\}`)

// TableManifestURL is where TableManifests puts a table's own manifest.
func TableManifestURL(bucket, prefix, schema, table string) string {
	return "s3://" + bucket + "/" + prefix + schema + "." + table + ".manifest.json"
}

// TableFolder returns the URL of the folder holding one table's objects, when the key template
// gives every table a folder of its own (as the default does); ok is false otherwise.
func TableFolder(to, template, schema, table string) (url string, ok bool) {
	if template == "" {
		template = DefaultTemplate
	}
	i := strings.LastIndexByte(template, '/')
	if i < 0 {
		return "", false
	}
	dir := template[:i+1]
	if !strings.Contains(dir, "{table}") || strings.Contains(dir, "{chunk") || strings.Contains(dir, "{split") {
		return "", false
	}
	t := &Table{Table: copyout.Table{Schema: schema, Name: table}}
	return to + objectKey(dir, t, 0, 0), true
}

// objectKey expands the template.
func objectKey(template string, t *Table, chunk, split int) string {
	return placeholder.ReplaceAllStringFunc(template, func(m string) string {
		sub := placeholder.FindStringSubmatch(m)
		switch sub[1] {
		case "schema":
			return t.Schema
		case "table":
			return t.Name
		}
		n := chunk
		if sub[1] == "split" {
			n = split
		}
		if sub[2] != "" {
			width, _ := strconv.Atoi(sub[2])
			return fmt.Sprintf("%0*d", width, n)
		}
		return strconv.Itoa(n)
	})
}

// Object is one completed object of the run.
type Object struct {
	URL      string `json:"url"`
	Table    string `json:"table"`
	Chunk    int    `json:"chunk"`
	Split    int    `json:"split"`
	Rows     int64  `json:"rows"`
	Bytes    int64  `json:"bytes"`     // stored
	CSVBytes int64  `json:"csv_bytes"` // before compression
	Checksum string `json:"checksum,omitempty"`
}

// Run performs the export and returns its manifest.
// prepared is a run planned inside its snapshot, with the coordinator holding it.
type prepared struct {
	cfg            Config
	bucket, prefix string
	manifestURL    string
	client         *s3.Client
	connect        func(context.Context) (*pgconn.PgConn, error)
	coord          *pgconn.PgConn
	snap           Snapshot
	tables         []*Table
	plan           []Chunk
}

// prepare connects the coordinator, opens (or joins) the snapshot and plans the chunks inside it.
// The caller closes p.coord.
func prepare(ctx context.Context, cfg Config) (*prepared, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Template == "" {
		cfg.Template = DefaultTemplate
	}
	p := &prepared{cfg: cfg}
	var err error
	if p.bucket, p.prefix, err = parsePrefix(cfg.To); err != nil {
		return nil, err
	}
	p.manifestURL = cfg.Manifest
	if p.manifestURL == "" {
		name := "manifest.json"
		if cfg.Shard.enabled() {
			name = fmt.Sprintf("manifest-shard-%d-of-%d.json", cfg.Shard.Index, cfg.Shard.Count)
		}
		p.manifestURL = "s3://" + p.bucket + "/" + p.prefix + name
	}
	p.client = cfg.S3Client
	if p.client == nil {
		if p.client, err = upload.NewClient(ctx, cfg.S3); err != nil {
			return nil, err
		}
	}
	if cfg.Compress.Enabled() && p.cfg.Object.ContentEncoding == "" {
		p.cfg.Object.ContentEncoding = cfg.Compress.ContentEncoding()
	}
	pgcfg, err := copyout.ParseConfig(cfg.DSN, cfg.Session)
	if err != nil {
		return nil, err
	}
	p.connect = func(ctx context.Context) (*pgconn.PgConn, error) { return copyout.Connect(ctx, pgcfg) }
	if p.coord, err = p.connect(ctx); err != nil {
		return nil, err
	}
	fail := func(err error) (*prepared, error) {
		p.coord.Close(context.WithoutCancel(ctx))
		return nil, err
	}
	if p.snap, err = openSnapshot(ctx, p.coord, cfg.Snapshot); err != nil {
		return fail(err)
	}
	if p.tables, err = listTables(ctx, p.coord, cfg.Tables, cfg.Schemas, cfg.Exclude); err != nil {
		return fail(err)
	}
	if len(p.tables) == 0 {
		return fail(errors.New("no table is left to export after --exclude-table"))
	}
	tidRange := p.snap.ServerVersionNum >= 140000
	if !tidRange && cfg.ChunkSize > 0 {
		cfg.Logger.Warn("PostgreSQL before 14 has no TID Range Scan: every table is exported as one chunk", "server_version", p.snap.ServerVersion)
	}
	p.plan = chunks(p.tables, cfg.ChunkSize, p.snap.BlockSize, tidRange, cfg.Shard)
	cfg.Logger.Debug("plan", "snapshot", p.snap.ID, "tables", len(p.tables), "chunks", len(p.plan), "jobs", cfg.Jobs)
	return p, nil
}

// Run performs the export and returns its manifest.
func Run(ctx context.Context, cfg Config) (*Manifest, error) {
	start := time.Now()
	p, err := prepare(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer p.coord.Close(context.WithoutCancel(ctx))
	cfg = p.cfg
	for _, t := range p.tables {
		if !t.Select {
			return nil, fmt.Errorf("no SELECT privilege on %s", t)
		}
	}
	budget := upload.NewBudget(cfg.MemoryLimit)
	var (
		mu        sync.Mutex
		completed []Object
	)
	queue := make(chan Chunk, len(p.plan))
	for _, c := range p.plan {
		queue <- c
	}
	close(queue)
	g, gctx := errgroup.WithContext(ctx)
	for w := 0; w < min(cfg.Jobs, len(p.plan)); w++ {
		g.Go(func() error {
			conn, err := p.connect(gctx)
			if err != nil {
				return err
			}
			defer conn.Close(context.WithoutCancel(gctx))
			for c := range queue {
				snapshot := p.snap.ID
				if cfg.noSharedSnapshot {
					snapshot = ""
				}
				wait, err := runChunk(gctx, cfg, conn, snapshot, c, p.client, p.bucket, p.prefix, budget, cfg.Progress)
				if err != nil {
					objs, _ := wait()
					mu.Lock()
					completed = append(completed, objs...)
					mu.Unlock()
					return fmt.Errorf("%s, chunk %d (%s): %w", c.Table, c.Index, c.Range(), err)
				}
				g.Go(func() error {
					objs, err := wait()
					mu.Lock()
					completed = append(completed, objs...)
					mu.Unlock()
					if err != nil {
						return fmt.Errorf("%s, chunk %d (%s): %w", c.Table, c.Index, c.Range(), err)
					}
					return nil
				})
			}
			return nil
		})
	}
	runErr := g.Wait()
	if runErr == nil {
		if _, err := p.coord.Exec(ctx, "COMMIT").ReadAll(); err != nil {
			runErr = fmt.Errorf("releasing the snapshot: %w", err)
		}
	}
	if runErr != nil {
		return nil, failRun(ctx, cfg, p.client, p.bucket, completed, runErr)
	}
	m := newManifest(p.snap, p.tables, completed, cfg, time.Since(start))
	if cfg.TableManifests {
		for _, t := range p.tables {
			tm := *m
			tm.Entries, tm.Objects = nil, nil
			for _, o := range m.Objects {
				if o.Table == t.String() {
					tm.Objects = append(tm.Objects, o)
					tm.Entries = append(tm.Entries, Entry{URL: o.URL, Mandatory: true, Meta: EntryMeta{ContentLength: o.Bytes}})
				}
			}
			tm.Tables = []ManifestTable{}
			for _, mt := range m.Tables {
				if mt.Name == t.String() {
					tm.Tables = append(tm.Tables, mt)
				}
			}
			if err := tm.write(ctx, p.client, TableManifestURL(p.bucket, p.prefix, t.Schema, t.Name), cfg.PartTimeout); err != nil {
				return nil, failRun(ctx, cfg, p.client, p.bucket, completed, err)
			}
		}
	}
	if err := m.write(ctx, p.client, p.manifestURL, cfg.PartTimeout); err != nil {
		return nil, failRun(ctx, cfg, p.client, p.bucket, completed, err)
	}
	m.URL = p.manifestURL
	return m, nil
}

// failRun deletes the objects the failed run completed (unless KeepPartial) and returns cause,
// completed with what was left behind.
func failRun(ctx context.Context, cfg Config, client *s3.Client, bucket string, completed []Object, cause error) error {
	if len(completed) == 0 {
		return fmt.Errorf("%w; no manifest was written, and no object was completed", cause)
	}
	if cfg.KeepPartial {
		var urls []string
		for _, o := range completed {
			urls = append(urls, o.URL)
		}
		return fmt.Errorf("%w; no manifest was written, and the %d objects already completed were kept (--keep-partial): %s",
			cause, len(completed), strings.Join(urls, " "))
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	var left []string
	for _, o := range completed {
		_, key, _ := upload.ParseURL(o.URL)
		if _, err := client.DeleteObject(dctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}); err != nil {
			left = append(left, o.URL)
		}
	}
	if len(left) > 0 {
		return fmt.Errorf("%w; no manifest was written, and deleting the objects already completed failed for: %s", cause, strings.Join(left, " "))
	}
	return fmt.Errorf("%w; no manifest was written, and the %d objects already completed were deleted", cause, len(completed))
}

// runChunk exports one chunk through a splitter into one or more objects.
//
// It returns once the COPY is done, with a function that waits for the chunk's uploads (on failure,
// the function returns the objects of the chunk that did complete, so that they can be deleted).
func runChunk(ctx context.Context, cfg Config, conn *pgconn.PgConn, snapshot string, c Chunk, client *s3.Client,
	bucket, prefix string, budget *upload.Budget, prog *copyout.Progress) (wait func() ([]Object, error), err error) {
	sp := &splitter{
		cfg: cfg, ctx: ctx, chunk: c, header: cfg.CSV.Header,
		open: func(ctx context.Context, split int) *upload.Uploader {
			key := prefix + objectKey(cfg.Template, c.Table, c.Index, split) + cfg.Compress.Extension()
			return &upload.Uploader{
				Client: client, Bucket: bucket, Key: key, PartSize: cfg.PartSize, Concurrency: cfg.Concurrency,
				Checksum: cfg.Checksum, Object: cfg.Object, PartTimeout: cfg.PartTimeout, Logger: cfg.Logger, Budget: budget,
			}
		},
	}
	_, err = copyout.RunRows(ctx, conn, snapshot, c.Statement(cfg.CSV), sp, prog)
	if err != nil {
		objs, _ := sp.finish(err) // the objects of this chunk that did complete, to be deleted
		return func() ([]Object, error) { return objs, err }, err
	}
	// The COPY is done: the connection can take the next chunk while these uploads finish.
	if err := sp.closeAll(nil); err != nil {
		objs, _ := sp.wait()
		return func() ([]Object, error) { return objs, err }, err
	}
	return sp.wait, nil
}

// openSnapshot starts the coordinator's transaction and exports its snapshot, or, given the ID of a
// snapshot another process holds, joins that one.
func openSnapshot(ctx context.Context, conn *pgconn.PgConn, join string) (Snapshot, error) {
	if _, err := conn.Exec(ctx, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").ReadAll(); err != nil {
		return Snapshot{}, fmt.Errorf("starting the snapshot transaction: %w", err)
	}
	id := "pg_export_snapshot()"
	if join != "" {
		if _, err := conn.Exec(ctx, "SET TRANSACTION SNAPSHOT "+copyout.QuoteLiteral(join)).ReadAll(); err != nil {
			return Snapshot{}, fmt.Errorf("joining snapshot %s (is the process holding it, pg2s3 snapshot, still running?): %w", join, err)
		}
		id = copyout.QuoteLiteral(join)
	}
	res := conn.ExecParams(ctx, `SELECT `+id+`, to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
		current_setting('server_version'), current_setting('server_version_num')::int, current_setting('block_size')::bigint`, nil, nil, nil, nil).Read()
	if res.Err != nil {
		return Snapshot{}, fmt.Errorf("exporting the snapshot: %w", res.Err)
	}
	r := res.Rows[0]
	s := Snapshot{ID: string(r[0]), Time: string(r[1]), ServerVersion: string(r[2])}
	s.ServerVersionNum, _ = strconv.Atoi(string(r[3]))
	s.BlockSize, _ = strconv.ParseInt(string(r[4]), 10, 64)
	return s, nil
}

// splitter is the RowWriter of one chunk: it starts a new object whenever the current one reached
// MaxObjectSize or MaxRows, between two rows, and repeats the header at the top of each object.
type splitter struct {
	cfg    Config
	ctx    context.Context
	chunk  Chunk
	header bool
	open   func(ctx context.Context, split int) *upload.Uploader

	hdr       []byte
	cur       *objectWriter
	done      []*objectWriter
	split     int
	gotHeader bool
}

// objectWriter streams one object: buffer -> compressor -> pipe -> uploader (in its goroutine).
type objectWriter struct {
	url      string
	bw       *bufio.Writer
	enc      io.WriteCloser
	pw       *io.PipeWriter
	counter  *countWriter
	rows     int64
	csvBytes int64
	result   chan uploadResult
}

type uploadResult struct {
	res upload.Result
	err error
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += int64(n)
	return n, err
}

func (s *splitter) start() error {
	up := s.open(s.ctx, s.split)
	pr, pw := io.Pipe()
	o := &objectWriter{url: "s3://" + up.Bucket + "/" + up.Key, pw: pw, result: make(chan uploadResult, 1)}
	go func() {
		res, err := up.Upload(s.ctx, pr)
		pr.CloseWithError(err)
		o.result <- uploadResult{res, err}
	}()
	enc, err := s.cfg.Compress.Writer(pw)
	if err != nil {
		pw.CloseWithError(err)
		return err
	}
	o.enc = enc
	o.counter = &countWriter{w: enc}
	o.bw = bufio.NewWriterSize(o.counter, copyout.BufferSize)
	s.cur = o
	s.split++
	if s.hdr != nil {
		if _, err := o.bw.Write(s.hdr); err != nil {
			return err
		}
		o.csvBytes += int64(len(s.hdr))
	}
	return nil
}

// closeCurrent ends the current object's stream; its upload completes in the background.
func (s *splitter) closeCurrent() error {
	o := s.cur
	s.cur = nil
	s.done = append(s.done, o)
	err := o.bw.Flush()
	if err == nil {
		err = o.enc.Close()
	}
	o.pw.CloseWithError(err)
	return err
}

func (s *splitter) WriteRow(row []byte) error {
	if s.header && !s.gotHeader {
		s.gotHeader = true
		s.hdr = append([]byte(nil), row...)
		if s.cur == nil {
			return s.start()
		}
		return nil
	}
	if s.cur != nil && s.cur.rows > 0 &&
		((s.cfg.MaxObjectSize > 0 && s.cur.csvBytes+int64(len(row)) > s.cfg.MaxObjectSize) ||
			(s.cfg.MaxRows > 0 && s.cur.rows >= s.cfg.MaxRows)) {
		if err := s.closeCurrent(); err != nil {
			return err
		}
	}
	if s.cur == nil {
		if err := s.start(); err != nil {
			return err
		}
	}
	if _, err := s.cur.bw.Write(row); err != nil {
		return err
	}
	s.cur.rows++
	s.cur.csvBytes += int64(len(row))
	return nil
}

// finish ends the chunk: on success the last object is closed (a chunk without rows still gets one,
// empty or header-only, object) and every upload is awaited; on failure every open stream is closed
// with the error, which aborts its upload. It returns the objects that completed.
func (s *splitter) finish(copyErr error) ([]Object, error) {
	err := s.closeAll(copyErr)
	objs, werr := s.wait()
	if err == nil {
		err = werr
	}
	return objs, err
}

// closeAll ends the chunk's streams (see finish) without waiting for the uploads.
func (s *splitter) closeAll(copyErr error) error {
	err := copyErr
	if err == nil && s.cur == nil && len(s.done) == 0 && s.chunk.Index == 0 {
		err = s.start() // an empty table is one empty object
	}
	if s.cur != nil {
		if err == nil {
			err = s.closeCurrent()
		} else {
			s.cur.pw.CloseWithError(err)
			s.cur.enc.Close()
			s.done = append(s.done, s.cur)
			s.cur = nil
		}
	}
	return err
}

// wait waits for the chunk's uploads and returns the objects that completed.
func (s *splitter) wait() ([]Object, error) {
	var err error
	var objs []Object
	for i, o := range s.done {
		r := <-o.result
		if r.err != nil {
			if err == nil {
				err = r.err
			}
			continue
		}
		objs = append(objs, Object{URL: o.url, Table: s.chunk.Table.String(), Chunk: s.chunk.Index, Split: i,
			Rows: o.rows, Bytes: r.res.Bytes, CSVBytes: o.csvBytes, Checksum: r.res.Checksum})
	}
	return objs, err
}

// Snapshot is the instant every object shows.
type Snapshot struct {
	ID               string `json:"id"`
	Time             string `json:"time"`
	ServerVersion    string `json:"server_version"`
	ServerVersionNum int    `json:"-"`
	BlockSize        int64  `json:"-"`
}
