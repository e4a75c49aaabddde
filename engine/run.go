package engine

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/pg2s3/pg2s3/columnar"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pg2s3/pg2s3/copyout"
	"github.com/pg2s3/pg2s3/sink"
	"github.com/pg2s3/pg2s3/upload"
)

// TableManifestURL is where TableManifests puts a table's own manifest.
func TableManifestURL(prefix upload.URL, schema, table string) upload.URL {
	return prefix.Join(keyName(schema) + "." + keyName(table) + ".manifest.json")
}

// TableFolder returns the folder holding one table's objects under prefix, when the key template
// gives every table a folder of its own (as the default does); ok is false otherwise.
func TableFolder(prefix upload.URL, template, schema, table string) (folder upload.URL, ok bool) {
	if template == "" {
		template = DefaultTemplate
	}
	i := strings.LastIndexByte(template, '/')
	if i < 0 {
		return upload.URL{}, false
	}
	dir := template[:i+1]
	if j := strings.Index(dir, "{partition}"); j >= 0 { // the root of the table's partitions
		if dir = dir[:j]; !strings.HasSuffix(dir, "/") {
			return upload.URL{}, false
		}
	}
	if !strings.Contains(dir, "{table}") || strings.Contains(dir, "{chunk") || strings.Contains(dir, "{split") {
		return upload.URL{}, false
	}
	t := &Table{Table: copyout.Table{Schema: schema, Name: table}}
	return prefix.Join(objectKey(dir, t, 0, 0, "")), true
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
	Parts    int    `json:"parts,omitempty"`
	Checksum string `json:"checksum,omitempty"`
	ETag     string `json:"etag,omitempty"`
	// Partition is the object's partition values, one per PartitionBy level (a NULL is null).
	Partition []PartitionValue `json:"partition,omitempty"`
	// EqualityDeletes marks an Iceberg equality delete file: the keys of the table's changed rows.
	EqualityDeletes bool `json:"equality_deletes,omitempty"`
	// ColumnStats are a table format's Parquet object's columns, for its metrics: kept in the
	// journal, so that a resumed run's commit has them for the files of earlier attempts.
	ColumnStats []columnar.ColumnStats `json:"column_stats,omitempty"`
}

// Plan is a run planned inside its snapshot: the settled configuration, where the run stands (an
// incremental run's place after its base's previous run, a resume's journal), the tables with
// their estimates, the chunks, every key the run may write, and the committers that publish it.
// NewPlan makes it; nothing changes it after. Report prints it (pg2s3 plan) and Run executes
// exactly it. It holds the snapshot open, on its coordinator connection, until Run or Close.
type Plan struct {
	cfg           Config
	started       time.Time
	base          upload.URL // an incremental run's base prefix (cfg.To is its run path; Iceberg tables stay in the base)
	prev          *RunState  // the base's previous run
	horizon       horizon    // read before the snapshot, for the next incremental run
	journal       *Journal   // a resumable run's journal, when an earlier attempt wrote it
	resuming      bool       // the journal was there: this attempt resumes
	resumed       []Object   // the objects of the chunks earlier attempts finished
	resumedChunks int
	inc           *RunState // an incremental run's state, committed last
	manifestURL   upload.URL
	snap          Snapshot
	tables        []*Table
	chunks        []Chunk

	keys     map[string]string // every key the run writes, but the splits after the first (see checkKeys)
	patterns *splitPatterns    // every split's key, per chunk, when objects split
	tooMany  error             // the planner estimates more partitions than MaxPartitions (Report says it, Run refuses)
	done     *Manifest         // a resume finds the run finished: its manifest, and nothing to do

	client *s3.Client
	store  upload.SmallObjects // the run's small objects, beside the data
	coord  *pgconn.PgConn      // holds the snapshot
	ran    bool
}

// run is a Plan being executed: what its workers share.
type run struct {
	*Plan
	budget *upload.Budget

	mu         sync.Mutex
	stuck      []*upload.AbortError // uploads whose abort failed: their parts stay stored
	partitions map[string]bool      // every table and partition key seen, for MaxPartitions
	spilled    int64                // what the chunks' routers wrote to their spill files
	routeLimit int64                // the memory of each chunk's router
	segments   segments             // the routers' memory, from one chunk to the next
	// uploading bounds the objects whose uploads run at once (jobs x concurrency, and no more than
	// the memory limit gives two part buffers each): a chunk that closes objects faster than the
	// store takes them (partitions, splits) waits for it.
	uploading *semaphore.Weighted
}

// notePartition counts a partition of table t; it fails once the run has more than MaxPartitions.
func (r *run) notePartition(t *Table, key []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.partitions == nil {
		r.partitions = map[string]bool{}
	}
	r.partitions[t.String()+"\x00"+string(key)] = true
	if n := len(r.partitions); n > r.cfg.MaxPartitions {
		return &TooManyPartitionsError{Max: r.cfg.MaxPartitions, Seen: n}
	}
	return nil
}

// noteSpilled adds up what the chunks' routers spilled.
func (r *run) noteSpilled(n int64) {
	r.mu.Lock()
	r.spilled += n
	r.mu.Unlock()
}

// routes says whether chunk c's rows go through a router: the server computes their partition
// keys. Not when the chunk is unpartitioned, or its rows come grouped (leaves whose bounds fix the
// key).
func (p *Plan) routes(c Chunk) bool {
	return len(p.levelsOf(c)) > 0 && (c.parts == nil || slices.ContainsFunc(c.parts, func(p copyout.Part) bool { return p.Key == nil }))
}

// routers is how many chunks the routers' memory is shared by (routeLimit), 0 when no chunk routes.
// Every attempt of a resumable run gives its routers the same memory (so that a chunk's objects are
// the same): the chunks counted are the plan's, finished or not.
func (p *Plan) routers() int {
	if !slices.ContainsFunc(p.chunks, p.routes) {
		return 0
	}
	return len(p.chunks) + p.resumedChunks
}

// routerOf is chunk c's router, or nil (see routes).
func (r *run) routerOf(sp *splitter, c Chunk) *router {
	if !r.routes(c) {
		return nil
	}
	rt := newRouter(sp, r.routeLimit, &r.segments, upload.MinPartSize, r.cfg.SpillDir, r.cfg.Logger)
	rt.mustSpill = r.cfg.Resume
	return rt
}

// noteStuck remembers an upload that failed and could not be aborted.
func (r *run) noteStuck(err error) {
	var ae *upload.AbortError
	if errors.As(err, &ae) {
		r.mu.Lock()
		r.stuck = append(r.stuck, ae)
		r.mu.Unlock()
	}
}

// NewPlan plans the run of cfg: it settles where the run stands, connects the coordinator, opens
// (or joins) the snapshot and plans the chunks inside it. The caller runs the plan or closes it. A
// resume that finds its run finished gets a plan with nothing to do, and no connection.
func NewPlan(ctx context.Context, cfg Config) (*Plan, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.runToken = newRunToken()
	cfg.defaults()
	if cfg.S3.Logger == nil { // the client logs the retries of the requests that are not an upload's
		cfg.S3.Logger = cfg.Logger
	}
	p := &Plan{cfg: cfg, started: time.Now()}
	if err := p.openStore(ctx); err != nil {
		return nil, err
	}
	if err := p.locate(ctx); err != nil || p.done != nil {
		return p, err
	}
	coord, err := p.cfg.Conn.Connect(ctx)
	if err != nil {
		return nil, err
	}
	p.coord = coord
	if err := p.planInSnapshot(ctx); err != nil {
		closeConn(ctx, coord)
		return nil, err
	}
	p.cfg.Logger.Debug("plan", "snapshot", p.snap.ID, "tables", len(p.tables), "chunks", len(p.chunks), "jobs", p.cfg.jobs())
	return p, nil
}

// Close releases the plan's snapshot, when it was not run.
func (p *Plan) Close(ctx context.Context) {
	closeConn(ctx, p.coord)
	p.coord = nil
}

// openStore makes the S3 client, the store of the run's small objects, and the manifest's place.
func (p *Plan) openStore(ctx context.Context) error {
	cfg := &p.cfg
	if cfg.To.IsPrefix() {
		p.manifestURL = cfg.To.S3.Join("manifest.json")
		if cfg.Shard.enabled() {
			p.manifestURL = cfg.To.S3.Join(fmt.Sprintf("manifest-shard-%d-of-%d.json", cfg.Shard.Index, cfg.Shard.Count))
		}
		if cfg.Manifest != "" {
			p.manifestURL, _ = upload.ParseObject(cfg.Manifest)
		}
	}
	if cfg.To.S3 == nil {
		return nil
	}
	p.client = cfg.S3Client
	if p.client == nil {
		var err error
		if p.client, err = upload.NewClient(ctx, cfg.S3); err != nil {
			return err
		}
	}
	p.store = upload.SmallObjects{Client: p.client}
	cfg.Upload.Store = upload.StoreOf(p.client, cfg.S3)
	return nil
}

// locate finds, before any connection, where this run stands: an incremental run's folder after
// the base's previous run, a resume's journal (or its finished run), the snapshot a holder
// published, and a no-clobber object already there.
func (p *Plan) locate(ctx context.Context) error {
	cfg := &p.cfg
	if len(cfg.Incremental) > 0 { // the run path, from the base's previous run
		p.base = *cfg.To.S3
		prev, err := latestRun(ctx, p.store, p.base)
		if err != nil {
			return err
		}
		p.prev = prev
		rp := runPath(p.base, time.Now(), prev)
		if cfg.TableFormat == "" { // an Iceberg table is in the base, the run's manifest in its path
			cfg.To = Destination{Raw: rp.String(), S3: &rp}
		}
		if cfg.Manifest == "" {
			p.manifestURL = rp.Join("manifest.json")
		}
	}
	if cfg.Resume {
		cfg.KeepPartial = true // the next attempt needs them
		var j Journal
		found, err := getJSON(ctx, p.store, cfg.To.S3.Join(journalKey), &j)
		if err != nil {
			return err
		}
		if found {
			p.journal = &j
			if cfg.TableFormat != "" && j.Token != "" { // the keys of the first attempt's files
				cfg.runToken, cfg.Template = j.Token, ""
				cfg.Template = cfg.KeyTemplate()
			}
		} else if p.done, err = p.finished(ctx); err != nil || p.done != nil {
			return err
		}
	}
	if cfg.SnapshotFrom.Raw != "" {
		client := p.client
		if client == nil && cfg.SnapshotFrom.S3 != nil {
			var err error
			if client, err = upload.NewClient(ctx, cfg.S3); err != nil {
				return err
			}
		}
		id, err := readSnapshotID(ctx, client, cfg.SnapshotFrom)
		var none *NoSnapshotIDError
		if errors.As(err, &none) && p.journal != nil { // the holder ended: the run's own snapshot is gone
			err = p.snapshotGone(ctx, &copyout.SnapshotError{ID: p.journal.Snapshot, Err: err})
		}
		if err != nil {
			return err
		}
		cfg.Snapshot = id
	}
	if cfg.Upload.NoClobber && cfg.To.S3 != nil && !cfg.To.IsPrefix() {
		// Refused before the COPY rather than after it: the conditional write stays the guarantee.
		u, _ := upload.ParseObject(cfg.To.Name(cfg.Compress))
		if _, err := p.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &u.Bucket, Key: &u.Key}); err == nil {
			return &upload.ExistsError{Bucket: u.Bucket, Key: u.Key}
		}
	}
	return nil
}

// planInSnapshot opens (or joins) the snapshot on the coordinator and plans the run inside it: the
// query's one chunk, or the tables' chunks with their checks, estimates and keys.
func (p *Plan) planInSnapshot(ctx context.Context) error {
	var err error
	if len(p.cfg.Incremental) > 0 { // before the snapshot: the next run's index ranges start there
		if p.horizon, err = readHorizon(ctx, p.coord); err != nil {
			return err
		}
	}
	if p.snap, err = openSnapshot(ctx, p.coord, p.cfg.Snapshot); err != nil {
		if p.journal != nil {
			err = p.snapshotGone(ctx, err)
		}
		return err
	}
	if p.cfg.Query != "" {
		return p.planQuery(ctx)
	}
	if err := p.planTables(ctx); err != nil {
		return err
	}
	est := int64(0)
	for _, t := range p.tables {
		est += max(t.EstRows, 0)
	}
	if p.inc != nil { // the rows changed since the previous run, not the tables' sizes
		est = 0
		for _, it := range p.inc.Tables {
			est += max(it.EstRows, 0)
		}
	}
	p.cfg.Progress.EstRows.Store(est)
	return p.checkKeys()
}

// planQuery plans a query's one chunk: its columns for Parquet, its partition levels.
func (p *Plan) planQuery(ctx context.Context) error {
	cfg := &p.cfg
	t := &Table{Table: copyout.Table{Name: "query", EstRows: -1}}
	if cfg.Parquet != nil || cfg.DropPartitionColumns || len(cfg.PartitionBy) > 0 {
		q, err := copyout.CheckQuery(cfg.Query)
		if err != nil {
			return err
		}
		if cfg.Parquet != nil || cfg.DropPartitionColumns {
			if err := p.describe(ctx, t, q, copyout.Statement{SQL: q, Query: q}); err != nil {
				return err
			}
		}
		if len(cfg.PartitionBy) > 0 {
			if err := p.checkPartitionColumns(ctx, t, "(\n"+q+"\n) AS q"); err != nil {
				return err
			}
			p.tooMany = p.checkPartitionCount([]*Table{t})
		}
	}
	stmt, err := copyout.QueryStatement(cfg.Query, p.copyOptions(t))
	if err != nil {
		return err
	}
	p.chunks = []Chunk{{Table: t, stmt: &stmt}}
	cfg.Progress.EstRows.Store(-1)
	return nil
}

// planTables resolves the tables, checks and describes them, reads partitioned tables' leaves,
// plans an incremental run's conditions, and cuts the chunks (without those a resume finished).
func (p *Plan) planTables(ctx context.Context) error {
	cfg := &p.cfg
	var err error
	if p.tables, err = listTables(ctx, p.coord, cfg.Tables, cfg.Schemas, cfg.Exclude); err != nil {
		return err
	}
	if len(p.tables) == 0 {
		return errNoTables
	}
	for _, t := range p.tables {
		if len(cfg.PartitionBy) > 0 {
			if err := p.checkPartitionColumns(ctx, t, ""); err != nil {
				return err
			}
		}
		if cfg.Parquet != nil || cfg.DropPartitionColumns {
			if err := p.describe(ctx, t, "", copyout.Statement{}); err != nil {
				return err
			}
		}
	}
	p.tooMany = p.checkPartitionCount(p.tables)
	if cfg.TableFormat == "iceberg" {
		if err := p.openIcebergTables(ctx); err != nil {
			return err
		}
	}
	// A partitioned table is read leaf by leaf where it is cut into chunks (a single object or stdout
	// reads it whole, in the parent's order), except by shards and resumable runs, whose processes
	// and attempts must cut it alike while partitions may come and go between them.
	if cfg.ChunkSize > 0 && !cfg.Shard.enabled() && !cfg.Resume {
		for _, t := range p.tables {
			if t.Kind == "p" {
				if err := p.loadLeaves(ctx, t); err != nil {
					return err
				}
			}
		}
	}
	if len(cfg.Incremental) > 0 {
		if err := p.planIncremental(ctx); err != nil {
			return err
		}
	}
	tidRange := p.snap.ServerVersionNum >= 140000
	if !tidRange && cfg.ChunkSize > 0 {
		cfg.Logger.Warn("PostgreSQL before 14 has no TID Range Scan: every table is exported as one chunk", "server_version", p.snap.ServerVersion)
	}
	p.chunks = chunks(p.tables, cfg.ChunkSize, p.snap.BlockSize, tidRange, cfg.Shard, cfg.Resume)
	for _, t := range p.tables {
		if t.deletes != nil { // the changed rows' keys, read in the same snapshot
			p.chunks = append(p.chunks, Chunk{Table: t.deletes})
		}
	}
	if p.journal != nil {
		return p.loadJournal(ctx, *p.journal)
	}
	return nil
}

// describe reads t's columns for Parquet (a query's when query is set, else the table's), inside
// the snapshot, and gives the manifest's columns their Parquet types.
func (p *Plan) describe(ctx context.Context, t *Table, query string, stmt copyout.Statement) error {
	sql, positional := "SELECT * FROM "+t.String(), false
	if query != "" {
		sql, positional = query, true
	}
	cols, err := columnar.Describe(ctx, p.coord, sql, positional)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		if stmt.SQL == "" {
			stmt.SQL = sql
		}
		return &copyout.QueryError{PgErr: pgErr, Stmt: stmt}
	}
	if err != nil {
		return err
	}
	t.described = len(cols)
	if p.cfg.DropPartitionColumns { // Hive's convention: the folder holds the value
		kept := cols[:0:0]
		for _, c := range cols {
			if !slices.ContainsFunc(p.cfg.PartitionBy, func(p Partition) bool { return p.Column != "" && p.Column == strings.ToLower(c.Name) }) {
				kept = append(kept, c)
			}
		}
		cols = kept
	}
	t.Parquet = cols
	if query == "" {
		if err := p.markDictionaries(ctx, t); err != nil {
			return err
		}
	}
	catalog := map[string]string{} // a table's types as the catalog prints them, with their modifiers
	for _, c := range t.Columns {
		catalog[c.Name] = c.Type
	}
	t.Columns = make([]Column, len(cols))
	for i, c := range cols {
		t.Columns[i] = Column{Name: c.Name, Type: cmp.Or(catalog[c.Name], c.PGType)}
		if p.cfg.Parquet != nil {
			t.Columns[i].Parquet = c.ParquetType()
		}
	}
	return nil
}

// checkPartitionColumns refuses a table that lacks a column PartitionBy names, and estimates
// the partitions from the planner's statistics (the groups of a GROUP BY on the key), refusing a
// run over MaxPartitions before anything is uploaded.
func (p *Plan) checkPartitionColumns(ctx context.Context, t *Table, from string) error {
	ps := p.cfg.PartitionBy
	if from == "" {
		from = t.String()
		for _, part := range ps {
			if part.Column != "" && !slices.ContainsFunc(t.Columns, func(c Column) bool { return c.Name == part.Column }) {
				return &ConfigError{Name: "PartitionBy", Value: part.Column, Reason: fmt.Sprintf("table %s has no column %q", t, part.Column)}
			}
		}
	}
	for _, part := range ps {
		if part.Column == "" { // the planner has no statistics of an expression: it would guess every row distinct
			t.EstPartitions = -1
			return p.checkPartitionExprs(ctx, t, from)
		}
	}
	res := p.coord.ExecParams(ctx, "EXPLAIN (FORMAT JSON) SELECT 1 FROM "+from+" GROUP BY "+partitionOrderSQL(ps), nil, nil, nil, nil).Read()
	if res.Err != nil {
		return p.partitionError(t, res.Err)
	}
	var plan []struct {
		Plan struct {
			Rows float64 `json:"Plan Rows"`
		}
	}
	if len(res.Rows) == 1 && json.Unmarshal(res.Rows[0][0], &plan) == nil && len(plan) == 1 {
		t.EstPartitions = int64(plan[0].Plan.Rows)
	}
	return nil
}

// checkPartitionExprs has the server check the partition expressions over t (a prepare: nothing
// runs), so that a wrong one is refused before anything is uploaded.
func (p *Plan) checkPartitionExprs(ctx context.Context, t *Table, from string) error {
	_, err := p.coord.Prepare(ctx, "", "SELECT "+strings.Join(p.keyCodec().exprs(), ", ")+" FROM "+from, nil)
	if err != nil {
		return p.partitionError(t, err)
	}
	return nil
}

// partitionError words the server's refusal of the partition expressions over t as a bad setting,
// which only the server could tell.
func (p *Plan) partitionError(t *Table, err error) error {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return err
	}
	var exprs []string
	for _, part := range p.cfg.PartitionBy {
		exprs = append(exprs, part.Name+"="+part.Expr)
	}
	return &ConfigError{Name: "PartitionBy", Value: strings.Join(exprs, " "), Reason: fmt.Sprintf("on %s: %s", t, (&copyout.QueryError{PgErr: pgErr}).Error())}
}

// checkPartitionCount refuses a run whose estimated partitions are more than MaxPartitions.
func (p *Plan) checkPartitionCount(tables []*Table) error {
	if len(p.cfg.PartitionBy) == 0 {
		return nil
	}
	var n int64
	for _, t := range tables {
		n += max(t.EstPartitions, 0) // -1: not estimated (an expression); counted as the run goes
	}
	if n > int64(p.cfg.MaxPartitions) {
		return &ConfigError{Name: "MaxPartitions", Value: fmt.Sprint(p.cfg.MaxPartitions), Reason: fmt.Sprintf(
			"the planner estimates %d partition values; raise it, or partition by something coarser", n)}
	}
	return nil
}

func closeConn(ctx context.Context, conn *pgconn.PgConn) {
	if conn == nil {
		return
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	conn.Close(cctx)
}

// Run performs the export and returns its manifest: the objects it wrote, with their tables and
// the snapshot. For a prefix destination the manifest is also written, last; Manifest.URL says where.
func Run(ctx context.Context, cfg Config) (*Manifest, error) {
	p, err := NewPlan(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return p.Run(ctx)
}

// Run executes the plan, once, and releases its snapshot.
func (p *Plan) Run(ctx context.Context) (*Manifest, error) {
	if p.done != nil { // a resume of a run an earlier attempt finished
		return p.done, nil
	}
	if p.ran {
		return nil, errors.New("engine: a plan runs once")
	}
	p.ran = true
	defer p.Close(ctx)
	if p.tooMany != nil { // refused before anything is uploaded
		return nil, p.tooMany
	}
	if !p.resuming { // a resume finds its own earlier attempts' objects there
		if err := p.checkPrefix(ctx); err != nil {
			return nil, err
		}
	}
	cfg := p.cfg
	routers := p.routers()
	r := &run{Plan: p, budget: upload.NewBudget(cfg.uploadLimit(routers)), routeLimit: cfg.routeLimit(routers)}
	// Every upload in flight can get the two part buffers a multipart upload needs to move on.
	slots := min(int64(cfg.jobs()*max(cfg.Upload.Concurrency, 1)), cfg.MemoryLimit/(2*max(cfg.Upload.PartSize, 1)))
	r.uploading = semaphore.NewWeighted(max(slots, int64(cfg.jobs())))
	m, err := r.run(ctx)
	if err != nil && ctx.Err() != nil {
		return nil, fmt.Errorf("export to %s interrupted: %w", cfg.To.Name(cfg.Compress), cancelCause(ctx, err))
	}
	return m, err
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

// run checks the privileges, executes the chunks and commits a clean run (or fails it: its
// objects are deleted).
func (r *run) run(ctx context.Context) (*Manifest, error) {
	cfg := r.cfg
	for _, t := range r.tables {
		if !t.Select {
			return nil, &PrivilegeError{Table: t.String()}
		}
	}
	var chunkDone func(context.Context, Chunk, []Object) error
	if cfg.Resume {
		if err := r.startJournal(ctx); err != nil {
			return nil, err
		}
		chunkDone = r.recordChunk
	}
	written, err := r.execute(ctx, chunkDone)
	completed := append(slices.Clone(r.resumed), written...)
	if err == nil {
		if cerr := copyout.Commit(ctx, r.coord); cerr != nil {
			err = fmt.Errorf("releasing the snapshot: %w", cerr)
		}
	}
	if err != nil {
		return nil, r.fail(ctx, completed, r.realCause(ctx, err))
	}
	tables := r.tables
	if cfg.Query != "" && cfg.Parquet != nil { // the query's described columns
		tables = []*Table{r.chunks[0].Table}
	}
	m := newManifest(r.snap, tables, completed, cfg, time.Since(r.started))
	m.Incremental, m.Spilled = r.inc, r.spilled
	return r.commit(ctx, m, completed)
}

// realCause names why workers could not join the run's snapshot when the coordinator holding it
// died (a timeout, a terminated backend): the workers only see "invalid snapshot identifier".
func (r *run) realCause(ctx context.Context, err error) error {
	var se *copyout.SnapshotError
	if r.cfg.Snapshot != "" || !errors.As(err, &se) || ctx.Err() != nil {
		return err
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, perr := r.coord.Exec(pctx, "SELECT 1").ReadAll(); perr != nil {
		return fmt.Errorf("the connection holding the run's snapshot was lost (%v), so the workers could not join it: %w", perr, err)
	}
	return err
}

// fail deletes the S3 objects the failed run completed (unless KeepPartial) and returns cause,
// completed with what was left behind.
func (r *run) fail(ctx context.Context, completed []Object, cause error) error {
	if !r.cfg.To.IsPrefix() {
		if len(completed) == 0 || r.client == nil {
			return cause // the object was not published (an upload that could not be aborted says so)
		}
		// One object, published, but the run failed after it (releasing the snapshot).
		if err := r.delete(ctx, completed[0]); err != nil {
			return fmt.Errorf("%w; deleting %s failed too: %v", cause, completed[0].URL, err)
		}
		return cause
	}
	msg := "no manifest was written"
	var left []string // objects still there
	switch {
	case len(completed) == 0:
		msg += ", and no object was completed"
	case r.cfg.Resume:
		msg += fmt.Sprintf(", and the %d objects completed so far were kept, with the run's journal under %s%s: run the same command again "+
			"(with Config.Resume) to export only the chunks not finished, in the same snapshot", len(completed), r.cfg.To.S3, StateFolder)
	case r.cfg.KeepPartial:
		for _, o := range completed {
			left = append(left, o.URL)
		}
		msg += fmt.Sprintf(", and the %d objects already completed were kept (as asked): %s", len(completed), strings.Join(left, " "))
		left = nil
	default:
		for _, o := range completed {
			if err := r.delete(ctx, o); err != nil {
				left = append(left, o.URL)
			}
		}
		if len(left) == 0 {
			msg += fmt.Sprintf(", and the %d objects already completed were deleted", len(completed))
		} else {
			msg += fmt.Sprintf(", and deleting the objects already completed failed for %d of them: %s", len(left), strings.Join(left, " "))
		}
	}
	r.mu.Lock()
	stuck := r.stuck
	r.mu.Unlock()
	if len(stuck) > 0 {
		var ids []string
		for _, ae := range stuck {
			ids = append(ids, fmt.Sprintf("s3://%s/%s (upload %s)", ae.Bucket, ae.Key, ae.UploadID))
		}
		msg += fmt.Sprintf("; %d multipart uploads could not be aborted and keep their parts, billed: %s", len(stuck), strings.Join(ids, " "))
	}
	err := fmt.Errorf("%w; %s", cause, msg)
	if len(left) == 0 && len(stuck) == 0 {
		return err
	}
	le := &LeftoverError{Err: err, Objects: left, Store: r.cfg.Upload.Store}
	for _, ae := range stuck {
		le.Uploads = append(le.Uploads, upload.Incomplete{Bucket: ae.Bucket, Key: ae.Key, UploadID: ae.UploadID})
	}
	return le
}

// delete removes a completed object, on a context the run's cancellation does not reach.
func (r *run) delete(ctx context.Context, o Object) error {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	u, _ := upload.ParseObject(o.URL)
	return r.store.Remove(dctx, u)
}

// runChunk exports one chunk through a splitter into one or more objects. snapshot, when not
// empty, is joined in a transaction of the chunk's own; otherwise conn is already in one.
//
// It returns once the COPY is done, with a function that waits for the chunk's uploads and returns
// the objects that completed (on failure too, so that they can be deleted).
func (r *run) runChunk(ctx context.Context, conn *pgconn.PgConn, snapshot string, c Chunk) (wait func() ([]Object, error), err error) {
	sp := r.newSplitter(ctx, c)
	failed := func(err error) (func() ([]Object, error), error) {
		objs, _ := sp.finish(err)
		return func() ([]Object, error) { return objs, err }, err
	}
	var rows copyout.RowWriter = sp
	rt := r.routerOf(sp, c)
	if rt != nil {
		defer rt.close()
		rows = rt
	}
	var framer *columnar.Framer
	if r.cfg.Parquet != nil { // binary COPY: the framer hands the splitter one tuple at a time
		framer = &columnar.Framer{Next: rows}
		rows = framer
	}
	stmt := c.Statement(r.copyOptions(c.Table))
	r.cfg.Logger.Debug("running COPY", "table", c.Table.String(), "chunk", c.Index, "sql", stmt.SQL)
	if snapshot != "" {
		if err := copyout.Begin(ctx, conn, snapshot); err != nil {
			return failed(err)
		}
	}
	if _, err := copyout.Copy(ctx, conn, stmt, rows, &r.cfg.Progress.Progress); err != nil {
		return failed(err)
	}
	if framer != nil {
		if err := framer.Finish(); err != nil {
			return failed(err)
		}
	}
	if rt != nil {
		if err := rt.finish(); err != nil {
			return failed(err)
		}
		r.noteSpilled(rt.stats.Spilled)
	}
	if snapshot != "" {
		if err := copyout.Commit(ctx, conn); err != nil {
			return failed(err)
		}
	}
	if err := sp.closeAll(nil); err != nil {
		objs, _ := sp.wait()
		return func() ([]Object, error) { return objs, err }, err
	}
	return sp.wait, nil
}

// copyOptions are the COPY options of t's chunks: the CSV options, or on the Parquet path binary
// COPY of t's described columns (cast to text where they have no natural Parquet type).
func (p *Plan) copyOptions(t *Table) copyout.Options {
	o := p.cfg.CSV
	o.Filter = t.filter
	var proj copyout.Projection
	switch {
	case p.cfg.Parquet != nil:
		o = copyout.Options{Format: copyout.Binary, Filter: t.filter}
		proj = copyout.Projection{List: columnar.SelectList(t.Parquet), Columns: t.described}
	case p.cfg.DropPartitionColumns:
		proj = copyout.Projection{List: columnar.PlainList(t.Parquet), Columns: t.described}
	case len(p.cfg.PartitionBy) == 0:
		return o
	}
	if len(p.cfg.PartitionBy) > 0 && t.keysOf == nil { // equality deletes are global: unpartitioned
		proj.Keys = p.keyCodec().exprs() // the chunk's router groups the rows (routerOf)
	}
	o.Projection = &proj
	return o
}

// target is where object split of chunk c goes, in partition (a name=value/ path, or ""); its
// uploads take their part buffers from budget.
func (p *Plan) target(c Chunk, split int, partition string, budget *upload.Budget) sink.Target {
	cfg := p.cfg
	var url upload.URL
	switch {
	case cfg.To.IsPrefix():
		url = cfg.To.S3.Join(objectKey(p.templateOf(c), c.Table, c.Index, split, partition) + cfg.Compress.Extension())
	case cfg.To.S3 != nil:
		url, _ = upload.ParseObject(cfg.To.Name(cfg.Compress))
	case cfg.To.Stdout:
		w := cfg.Stdout
		if w == nil {
			w = os.Stdout
		}
		return sink.Stream{W: w, Name: "stdout"}
	default:
		return sink.File{Path: cfg.To.Name(cfg.Compress), NoClobber: cfg.Upload.NoClobber}
	}
	var onPart func(int, int64)
	if cfg.onPart != nil {
		onPart = func(n int, size int64) { cfg.onPart(url.Key, n, size) }
	}
	up := upload.New(p.client, url, cfg.Upload)
	up.Logger, up.Budget, up.OnPart = cfg.Logger, budget, onPart
	return sink.S3{Uploader: up}
}
