package engine

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/pg2s3/pg2s3/columnar"
	"github.com/pg2s3/pg2s3/copyout"
	"github.com/pg2s3/pg2s3/setting"
	"github.com/pg2s3/pg2s3/sink"
	"github.com/pg2s3/pg2s3/upload"
)

// DefaultTemplate names each object under a prefix destination.
const DefaultTemplate = "{schema}.{table}/part-{chunk:05}-{split:03}.csv"

// Config is one run: what to export, where, and how. Validate checks it without the network.
type Config struct {
	Conn copyout.Conn // the connection recipe of the coordinator and of every worker

	// The source: one query, or tables (named ones, and every table and view of Schemas, minus the
	// Exclude globs on schema.table or table).
	Query   string
	Tables  []string
	Schemas []string
	Exclude []string

	To       Destination
	Template string // object keys under a prefix destination (DefaultTemplate)
	// TableFormat "iceberg" commits each table's Parquet files as an Apache Iceberg table under
	// the prefix, in the namespace Namespace (default: the table's schema); see package lakehouse.
	TableFormat string
	Namespace   string
	// Manifest is where a prefix destination's manifest goes (default: prefix + manifest.json).
	Manifest    string
	KeepPartial bool // on failure, keep (and name) the objects already completed
	// A prefix destination must be empty (for a shard: hold none of its keys) unless Overwrite
	// (same-named objects are replaced, others stay) or CleanPath (after success the prefix holds
	// exactly this run's objects: the others are deleted).
	Overwrite bool
	CleanPath bool
	Snapshot  string // join this exported snapshot (pg2s3 snapshot) instead of exporting one
	// SnapshotFrom is where a snapshot's holder published the ID to join (instead of Snapshot):
	// an S3 object or a file, read when the run starts.
	SnapshotFrom Destination
	Shard        Shard // export only this shard's chunks (with Snapshot or SnapshotFrom)
	// Resume makes a prefix run resumable: it keeps a journal of its finished chunks under the
	// prefix, keeps its completed objects when it fails, and, run again, exports only the chunks
	// that are not finished, in the same snapshot (Snapshot or SnapshotFrom, held by another
	// process), then writes the manifest (see resume.go).
	Resume bool
	// ResumeNewSnapshot lets a resume run in another snapshot than the run's first attempt: for
	// data that does not change only.
	ResumeNewSnapshot bool
	// Incremental makes the run incremental: under the destination prefix (the base), it exports
	// the rows changed since the base's previous run, into a run path of its own, and records the
	// run in the base's state (see incremental.go).
	Incremental []Incremental
	// IncrementalLookback, when set, reads each table's changed rows from its high-water mark less
	// this duration (through an index on the column, if there is one): for a column the
	// application sets from its own clock, where no bound can be proven. A late commit older than
	// that is missed.
	IncrementalLookback time.Duration
	// TableManifests also writes, per table, prefix/{schema}.{table}.manifest.json listing only that
	// table's objects (Redshift's COPY ... MANIFEST loads every entry of a manifest into one table).
	TableManifests bool

	Jobs          int   // COPY connections (default 4)
	ChunkSize     int64 // heap bytes per ctid chunk of a table (0: no chunks); prefix destinations only
	MaxObjectSize int64 // bytes of CSV per object before a new one starts (0: no limit)
	MaxRows       int64 // rows per object (0: no limit)
	MemoryLimit   int64 // shared by every part buffer of the run (default 512 MiB)
	// SpillDir is where a partitioned chunk's rows that do not fit in its share of MemoryLimit
	// wait for the chunk's end, in an unlinked temporary file ("": os.TempDir, $TMPDIR).
	SpillDir string

	CSV      copyout.Options
	Compress Compression // the last stage before the sink
	// Parquet, when set, writes typed Parquet files from binary COPY instead of the server's CSV
	// (package columnar); CSV and Compress must then be left at their zero values (Parquet
	// compresses inside the file: Parquet.Codec).
	Parquet *columnar.Options

	// PartitionBy writes Hive-style partitions: each level's value becomes a name=value/ folder of
	// the key ({partition} in the template). The server orders each chunk by the partition key and
	// sends it first in every row; a new object starts when it changes, so a worker has one object
	// open whatever the number of values. Prefix destinations only.
	PartitionBy []Partition
	// DropPartitionColumns leaves partition columns (bare-column levels) out of the data, as Hive does.
	DropPartitionColumns bool
	// MaxPartitions refuses a run whose planner estimate, or actual count, of distinct partition
	// values is larger (default DefaultMaxPartitions).
	MaxPartitions int
	Stages        []Stage // more stages, between the COPY and the compressor, in order

	S3       upload.ClientConfig
	S3Client *s3.Client // used instead of one built from S3, when set
	Upload   upload.Options

	Stdout   io.Writer // where a stdout destination writes (default os.Stdout)
	Logger   *slog.Logger
	Progress *Progress // counts rows and bytes over every worker, when set
	// onPart, when set, is told of every uploaded part of every object (one call at a time per object):
	// the fault tests hook it; no user needs it.
	onPart func(key string, part int, size int64)
	// runToken names a run's files where later runs write beside them (an Iceberg table's data/).
	runToken string
}

// Progress counts what a run produced so far; safe to read while it runs.
type Progress struct {
	copyout.Progress
	EstRows atomic.Int64 // the planner's estimate of the rows (-1: none), set before the first COPY
}

// ConfigError is a setting the run cannot use; Name is the Config field ("MemoryLimit", "To", ...).
type ConfigError = setting.Error

// icebergData is the template of an Iceberg table's data folder.
func (c Config) icebergData() string {
	ns := "{schema}"
	if c.Namespace != "" {
		ns = keyName(c.Namespace)
	}
	return ns + "/{table}/data/"
}

// KeyTemplate is the template the run's keys are made from: Template, or the default for the
// run's shape (partitions, a query, Parquet).
func (c Config) KeyTemplate() string {
	if c.Template != "" {
		return c.Template
	}
	if c.TableFormat == "iceberg" { // the run's token keeps its files apart from earlier runs'
		data := c.icebergData()
		if len(c.PartitionBy) > 0 {
			data += "{partition}/"
		}
		return data + c.runToken + "-{chunk:05}-{split:03}.parquet"
	}
	t := DefaultTemplate
	if len(c.PartitionBy) > 0 {
		t = strings.Replace(t, "/", "/{partition}/", 1)
		if c.Query != "" { // a query has no schema and table: its partitions are the prefix's folders
			t = "{partition}/part-{chunk:05}-{split:03}.csv"
		}
	}
	if c.Parquet != nil {
		t = strings.TrimSuffix(t, ".csv") + ".parquet"
	}
	return t
}

// defaults fills in what the run takes when a setting is left zero.
func (c *Config) defaults() {
	if c.Jobs == 0 {
		c.Jobs = 4
	}
	if c.MemoryLimit == 0 {
		c.MemoryLimit = 512 << 20
	}
	c.Template = c.KeyTemplate()
	if len(c.PartitionBy) > 0 {
		if c.MaxPartitions == 0 {
			c.MaxPartitions = DefaultMaxPartitions
		}
	}
	if c.Upload.PartSize == 0 {
		c.Upload.PartSize = upload.DefaultPart
	}
	if c.Upload.Concurrency == 0 {
		c.Upload.Concurrency = 4
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Progress == nil {
		c.Progress = &Progress{}
	}
	if c.Compress.Enabled() && c.Upload.Object.ContentEncoding == "" {
		c.Upload.Object.ContentEncoding = c.Compress.ContentEncoding()
	}
	if !c.To.IsPrefix() {
		c.ChunkSize = 0 // one object is one COPY
	}
}

// jobs is how many connections the run can use: one for a single object.
func (c *Config) jobs() int {
	if !c.To.IsPrefix() {
		return 1
	}
	return c.Jobs
}

// Validate checks the config as the run would use it (its defaults filled in, on a copy) without
// touching the network; it changes nothing. A wrong setting is a *ConfigError (the *setting.Error
// that copyout and upload return too); the others are *copyout.DSNError, *upload.URLError and
// *sink.FileError.
func (c Config) Validate() error {
	given := c // checkTableFormat tells a template given from the default
	c.defaults()
	for _, check := range []func() error{c.checkSource, given.checkTableFormat, c.checkOneObject, c.checkSnapshot, c.checkModes, c.checkSizes, c.checkFormats} {
		if err := check(); err != nil {
			return err
		}
	}
	return nil
}

// checkSource: a query or tables, and names that can be looked up.
func (c *Config) checkSource() error {
	tables := len(c.Tables) > 0 || len(c.Schemas) > 0
	switch {
	case c.Query == "" && !tables:
		return &ConfigError{Name: "Query", Reason: "nothing to export: give Config.Query or Config.Tables (or Config.Schemas)"}
	case c.Query != "" && tables:
		return &ConfigError{Name: "Query", Reason: "give Config.Query or Config.Tables, not both"}
	case c.To.Raw == "":
		return &ConfigError{Name: "To", Reason: "no destination"}
	}
	for _, l := range []struct {
		field string
		names []string
	}{{"Tables", c.Tables}, {"Schemas", c.Schemas}, {"Exclude", c.Exclude}} {
		for _, n := range l.names {
			if strings.TrimSpace(n) == "" {
				return &ConfigError{Name: l.field, Value: n, Reason: "an empty name"}
			}
			if _, err := path.Match(n, ""); l.field == "Exclude" && err != nil {
				return &ConfigError{Name: l.field, Value: n, Reason: "not a valid glob pattern"}
			}
		}
	}
	if c.Query != "" {
		if _, err := copyout.CheckQuery(c.Query); err != nil {
			return &ConfigError{Name: "Query", Reason: err.Error()}
		}
		if c.To.IsPrefix() && len(c.PartitionBy) == 0 {
			return &ConfigError{Name: "To", Value: c.To.Raw, Reason: "a query exports one result to one object (or, with Config.PartitionBy, " +
				"to a prefix): give s3://bucket/key, - or a file"}
		}
	}
	return nil
}

// checkOneObject refuses what only a prefix destination can hold.
func (c *Config) checkOneObject() error {
	if !c.To.IsPrefix() {
		switch {
		case len(c.Tables) > 1 || len(c.Schemas) > 0:
			return &ConfigError{Name: "To", Value: c.To.Raw, Reason: "for several tables, give a prefix: s3://bucket/prefix/ (ending in /)"}
		case c.MaxObjectSize > 0:
			return &ConfigError{Name: "MaxObjectSize", Reason: "splits the output into several objects: give a prefix destination, s3://bucket/prefix/"}
		case c.MaxRows > 0:
			return &ConfigError{Name: "MaxRows", Reason: "splits the output into several objects: give a prefix destination, s3://bucket/prefix/"}
		case c.Shard.enabled():
			return &ConfigError{Name: "Shard", Reason: "shards write several objects: give a prefix destination, s3://bucket/prefix/"}
		case c.Manifest != "":
			return &ConfigError{Name: "Manifest", Value: c.Manifest, Reason: "a single object has no manifest: give a prefix destination"}
		}
	}
	return nil
}

// checkSnapshot checks the connection string, the snapshot to join, and overwrite and clean-path.
func (c *Config) checkSnapshot() error {
	if _, err := c.Conn.Config(); err != nil {
		return err
	}
	if c.Snapshot != "" && !snapshotID.MatchString(c.Snapshot) {
		return &ConfigError{Name: "Snapshot", Value: c.Snapshot, Reason: "is not a snapshot ID as pg_export_snapshot() prints them (like 00000003-0000001B-1)"}
	}
	switch {
	case (c.Overwrite || c.CleanPath) && !c.To.IsPrefix():
		return &ConfigError{Name: "Overwrite", Reason: "is for prefix destinations; a single object is replaced by default (NoClobber keeps it)"}
	case c.Overwrite && c.CleanPath:
		return &ConfigError{Name: "Overwrite", Reason: "give one of overwrite and clean-path"}
	case c.CleanPath && c.Shard.enabled():
		return &ConfigError{Name: "CleanPath", Reason: "would delete the other shards' objects: clean the path before the shards start"}
	}
	if c.SnapshotFrom.Raw != "" {
		switch {
		case c.Snapshot != "":
			return &ConfigError{Name: "SnapshotFrom", Value: c.SnapshotFrom.Raw, Reason: "give Config.Snapshot or Config.SnapshotFrom, not both"}
		case c.SnapshotFrom.Stdout || c.SnapshotFrom.IsPrefix() || (c.SnapshotFrom.S3 == nil && c.SnapshotFrom.Path == ""):
			return &ConfigError{Name: "SnapshotFrom", Value: c.SnapshotFrom.Raw, Reason: "give the s3://bucket/key or the file a snapshot's holder published its ID to (PublishSnapshotID)"}
		}
	}
	return nil
}

// checkModes checks resumable, incremental and sharded runs against each other.
func (c *Config) checkModes() error {
	if c.Resume || c.ResumeNewSnapshot {
		switch {
		case !c.To.IsPrefix():
			return &ConfigError{Name: "Resume", Reason: "is for prefix destinations (s3://bucket/prefix/): one object is one COPY, and is simply exported again"}
		case c.ResumeNewSnapshot && !c.Resume:
			return &ConfigError{Name: "ResumeNewSnapshot", Reason: "goes with Config.Resume"}
		case c.Snapshot == "" && c.SnapshotFrom.Raw == "" && !c.ResumeNewSnapshot:
			return &ConfigError{Name: "Resume", Reason: "needs a snapshot that outlives this process: start `pg2s3 snapshot` and give Config.Snapshot " +
				"or Config.SnapshotFrom (or, for data that does not change, Config.ResumeNewSnapshot)"}
		case len(c.Incremental) > 0:
			return &ConfigError{Name: "Resume", Reason: "does not go with Config.Incremental yet: a failed incremental run removes what it wrote, and the next run starts from the last committed one"}
		case c.Overwrite || c.CleanPath:
			return &ConfigError{Name: "Resume", Reason: "keeps the prefix to the run's own objects: Config.Overwrite and Config.CleanPath do not apply"}
		}
	}
	if len(c.Incremental) > 0 {
		switch {
		case c.Query != "":
			return &ConfigError{Name: "Incremental", Reason: "is for tables: a query's rows have no column to follow (export it with a WHERE of your own)"}
		case !c.To.IsPrefix():
			return &ConfigError{Name: "Incremental", Reason: "needs a prefix destination (s3://bucket/prefix/): each run writes a run=.../ folder of its own under it, and its state in _pg2s3/"}
		case c.Shard.enabled() || c.Snapshot != "" || c.SnapshotFrom.Raw != "":
			return &ConfigError{Name: "Incremental", Reason: "cannot be sharded yet: one process records the run's state"}
		case c.Overwrite || c.CleanPath:
			return &ConfigError{Name: "Incremental", Reason: "writes each run into a new run=.../ folder: Config.Overwrite and Config.CleanPath do not apply"}
		}
		if c.IncrementalLookback < 0 {
			return &ConfigError{Name: "IncrementalLookback", Value: c.IncrementalLookback.String(), Reason: "must not be negative"}
		}
		all := 0
		for _, inc := range c.Incremental {
			if inc.Table == "" {
				all++
			}
		}
		if all > 1 {
			return &ConfigError{Name: "Incremental", Reason: "give one COLUMN for all tables (and TABLE=COLUMN for the others)"}
		}
	}
	if c.IncrementalLookback != 0 && len(c.Incremental) == 0 {
		return &ConfigError{Name: "IncrementalLookback", Value: c.IncrementalLookback.String(), Reason: "is for incremental runs (Config.Incremental)"}
	}
	if c.Shard.enabled() && c.Snapshot == "" && c.SnapshotFrom.Raw == "" {
		return &ConfigError{Name: "Shard", Reason: "needs Config.Snapshot or Config.SnapshotFrom: every shard must export the same instant (start `pg2s3 snapshot` first)"}
	}
	return nil
}

// checkSizes checks jobs, sizes, the memory limit, the manifest and the key template.
func (c *Config) checkSizes() error {
	if c.Jobs < 1 {
		return &ConfigError{Name: "Jobs", Value: fmt.Sprint(c.Jobs), Reason: "must be at least 1"}
	}
	if c.Upload.Concurrency < 1 {
		return &ConfigError{Name: "Concurrency", Value: fmt.Sprint(c.Upload.Concurrency), Reason: "must be at least 1"}
	}
	if c.MaxObjectSize < 0 || c.MaxRows < 0 || c.ChunkSize < 0 {
		return &ConfigError{Name: "MaxObjectSize", Reason: "sizes and counts must not be negative"}
	}
	if err := upload.CheckPartSize(c.Upload.PartSize); err != nil {
		return &ConfigError{Name: "PartSize", Value: fmt.Sprint(c.Upload.PartSize), Reason: "outside S3's limits (5 MiB to 5 GiB)"}
	}
	if need := int64(c.jobs()) * 2 * c.Upload.PartSize; c.To.S3 != nil && c.MemoryLimit < need+int64(c.jobs())*c.minRoute() {
		reason := fmt.Sprintf("too small: %d workers need at least 2 parts of %d bytes each (%d bytes)", c.jobs(), c.Upload.PartSize, need)
		if c.minRoute() > 0 {
			reason += fmt.Sprintf(", and %d bytes each to group partitioned rows in", c.minRoute())
		}
		return &ConfigError{Name: "MemoryLimit", Value: fmt.Sprint(c.MemoryLimit), Reason: reason}
	}
	if c.Manifest != "" {
		if _, err := upload.ParseObject(c.Manifest); err != nil {
			return &ConfigError{Name: "Manifest", Value: c.Manifest, Reason: err.Error()}
		}
	}
	if c.To.IsPrefix() {
		if err := checkTemplate(c.Template); err != nil {
			return err
		}
	}
	return nil
}

// checkFormats checks the format, compression, object and partition options and the destination file.
func (c *Config) checkFormats() error {
	if err := c.CSV.Validate(); err != nil {
		return err
	}
	if err := c.Compress.Validate(); err != nil {
		return err
	}
	if c.Parquet != nil {
		if err := c.Parquet.Validate(); err != nil {
			return &ConfigError{Name: "Parquet", Value: c.Parquet.Codec, Reason: err.Error()}
		}
		if c.Compress.Enabled() {
			return &ConfigError{Name: "Compress", Value: c.Compress.Algorithm, Reason: "Parquet compresses inside the file (its codec), not around it"}
		}
		if err := csvOnly(c.CSV); err != nil {
			return err
		}
	}
	if err := c.Upload.Object.Validate(); err != nil {
		return err
	}
	if err := c.checkPartitions(); err != nil {
		return err
	}
	if c.Upload.NoClobber && (c.To.Stdout || c.To.IsPrefix() && (c.Overwrite || c.CleanPath)) {
		return &ConfigError{Name: "NoClobber", Reason: "is for objects and files that must not be replaced (not stdout, not with overwrite or clean-path)"}
	}
	if c.To.Path != "" {
		return sink.File{Path: c.To.Name(c.Compress), NoClobber: c.Upload.NoClobber}.Check()
	}
	return nil
}

// checkTableFormat refuses a table format where it cannot work yet: an Iceberg table is a prefix
// of Parquet files of tables, committed by one process in one attempt.
func (c *Config) checkTableFormat() error {
	switch c.TableFormat {
	case "":
		if c.Namespace != "" {
			return &ConfigError{Name: "Namespace", Value: c.Namespace, Reason: "is the namespace of a table format's tables: give Config.TableFormat"}
		}
		return nil
	case "iceberg":
	default:
		return &ConfigError{Name: "TableFormat", Value: c.TableFormat, Reason: "want iceberg"}
	}
	bad := func(reason string) error {
		return &ConfigError{Name: "TableFormat", Value: c.TableFormat, Reason: reason}
	}
	switch {
	case c.To.S3 == nil || !c.To.IsPrefix():
		return bad("an Iceberg table is a folder of a prefix: give s3://bucket/prefix/")
	case c.Query != "":
		return bad("exports tables, each as an Iceberg table of its name: give Config.Tables or Config.Schemas, not Config.Query")
	case c.Parquet == nil:
		return bad("Iceberg tables are written as Parquet files, not CSV or text")
	case c.Template != "":
		return bad("an Iceberg table's files go in its data/ folder: leave Config.Template unset")
	case c.CleanPath || c.TableManifests:
		return bad("is not written yet with clean-path or per-table manifests")
	case c.DropPartitionColumns:
		return bad("keeps the partition columns in the files: an engine reads a column from the files, and the partition from the manifests")
	}
	for _, p := range c.PartitionBy {
		if p.Column == "" && p.Transform == "" {
			return &ConfigError{Name: "PartitionBy", Value: p.Name + "=" + p.Expr,
				Reason: "an Iceberg table is partitioned by a column, or year, month, day or hour of one: give COLUMN or day(COLUMN)"}
		}
	}
	return nil
}

// checkPartitions refuses partitioning where it cannot work.
func (c *Config) checkPartitions() error {
	if len(c.PartitionBy) == 0 {
		if c.DropPartitionColumns {
			return &ConfigError{Name: "DropPartitionColumns", Reason: "needs Config.PartitionBy"}
		}
		return nil
	}
	bad := func(reason string) error {
		return &ConfigError{Name: "PartitionBy", Value: c.PartitionBy[0].Name, Reason: reason}
	}
	if !c.To.IsPrefix() {
		return bad("writes many objects: give a prefix destination (s3://bucket/prefix/)")
	}
	if !strings.Contains(c.Template, "{partition}") {
		return &ConfigError{Name: "Template", Value: c.Template, Reason: "needs {partition} with Config.PartitionBy"}
	}
	if !strings.Contains(c.Template, "{split") {
		return &ConfigError{Name: "Template", Value: c.Template, Reason: "needs {split} with Config.PartitionBy: a chunk writes one object per partition value"}
	}
	seen := map[string]bool{}
	for _, p := range c.PartitionBy {
		if seen[p.Name] {
			return &ConfigError{Name: "PartitionBy", Value: p.Name, Reason: "names two levels"}
		}
		seen[p.Name] = true
	}
	if d := c.CSV.Delimiter; d != "" && strings.ContainsAny(d, "nv0123456789abcdef.") {
		return &ConfigError{Name: "DELIMITER", Value: d, Reason: "cannot be a letter, digit or dot with Config.PartitionBy (the partition key is made of them)"}
	}
	if c.MaxPartitions < 0 {
		return &ConfigError{Name: "MaxPartitions", Value: fmt.Sprint(c.MaxPartitions), Reason: "must be positive"}
	}
	return nil
}

// csvOnly refuses, on the Parquet path, a COPY option that only the CSV and text formats have: it
// would be silently ignored otherwise. The error's Name is the COPY option's name.
func csvOnly(o copyout.Options) error {
	set := func(name, v string) error {
		return &ConfigError{Name: name, Value: v, Reason: "is a CSV option; Parquet has typed columns and no text formatting"}
	}
	switch {
	case o.Format != "" && o.Format != "csv":
		return set("FORMAT", o.Format)
	case o.Header:
		return set("HEADER", "true")
	case o.Delimiter != "":
		return set("DELIMITER", o.Delimiter)
	case o.Null != nil:
		return set("NULL", *o.Null)
	case o.Quote != "":
		return set("QUOTE", o.Quote)
	case o.Escape != "":
		return set("ESCAPE", o.Escape)
	case len(o.ForceQuote) > 0:
		return set("FORCE_QUOTE", strings.Join(o.ForceQuote, ","))
	case o.Encoding != "" && !strings.EqualFold(strings.ReplaceAll(o.Encoding, "-", ""), "utf8"):
		return set("ENCODING", o.Encoding)
	}
	return nil
}

var snapshotID = regexp.MustCompile(`^[0-9A-Fa-f]{1,16}-[0-9A-Fa-f]{1,16}-[0-9]{1,10}$`)

// Destination is where a run writes: one S3 object, an S3 prefix (many objects and a manifest),
// a local file, or stdout.
type Destination struct {
	Raw    string
	S3     *upload.URL // an object, or a prefix when its key is empty or ends in "/"
	Path   string      // a local file
	Stdout bool
}

// ParseDestination reads s3://bucket/key, s3://bucket/prefix/, - (stdout) or a file path.
func ParseDestination(to string) (Destination, error) {
	d := Destination{Raw: to}
	switch {
	case to == "":
		return d, nil
	case to == "-":
		d.Stdout = true
	case upload.IsS3(to):
		u, err := upload.ParseURL(to)
		if err != nil {
			return Destination{}, err
		}
		d.S3 = &u
	case containsScheme(to):
		return Destination{}, &upload.URLError{URL: to, Reason: "is not a destination: want s3://bucket/key, s3://bucket/prefix/, - for stdout, or a file path"}
	default:
		d.Path = to
	}
	return d, nil
}

// IsPrefix says whether the run writes many objects under an S3 prefix.
func (d Destination) IsPrefix() bool { return d.S3 != nil && d.S3.IsPrefix() }

// Name is what the run writes to, as it names it: the single object with the compression's
// extension (.gz, .zst) added when missing, "stdout", or the prefix.
func (d Destination) Name(c Compression) string {
	switch {
	case d.Stdout:
		return "stdout"
	case d.IsPrefix():
		return d.S3.String()
	}
	name := d.Raw
	if d.S3 != nil {
		name = d.S3.String()
	}
	if ext := c.Extension(); ext != "" && !strings.HasSuffix(name, ext) {
		return name + ext
	}
	return name
}

// routeLimit is the memory each of n partition routers running at once holds rows in (see
// router): half of the unpartitioned run's part buffers (partBuffers) beyond the two per worker an
// upload needs to move on, shared by the routers, and at least minRoute. The uploads get the rest
// (uploadLimit): a partitioned run takes the unpartitioned run's memory. (All of it, rather than
// half, left the garbage collector working near its limit: pg2s3 took 20% more CPU.)
func (c Config) routeLimit(n int) int64 {
	if len(c.PartitionBy) == 0 || n == 0 {
		return 0
	}
	jobs := int64(c.jobs())
	return max((c.partBuffers()-jobs*2*c.Upload.PartSize)/2/int64(min(n, c.jobs())), c.minRoute())
}

// partBuffers is what the part buffers of a run without splits take at most: the memory limit, or
// less when the jobs cannot fill it (about concurrency + 1 part buffers per object uploading).
func (c Config) partBuffers() int64 {
	return min(c.MemoryLimit, int64(c.jobs())*int64(c.Upload.Concurrency+1)*c.Upload.PartSize)
}

// minRoute is the least memory a partition router works with (less only spills more).
func (c Config) minRoute() int64 {
	if len(c.PartitionBy) == 0 {
		return 0
	}
	return 2 << 20
}

// uploadLimit is the uploads' budget: the memory limit, or in a partitioned run of n routers
// what they leave of partBuffers.
func (c Config) uploadLimit(n int) int64 {
	if len(c.PartitionBy) == 0 {
		return c.MemoryLimit
	}
	return max(c.partBuffers()-int64(min(n, c.jobs()))*c.routeLimit(n), int64(c.jobs())*2*c.Upload.PartSize)
}

// MemoryBound is the most the run's buffers can take: the part buffers (the memory limit, or less
// when the jobs cannot fill it: about (concurrency + 1) part buffers per object being uploaded),
// and on the Parquet path one row group per job.
func (c Config) MemoryBound() int64 {
	c.defaults()
	parts := c.partBuffers() // a partitioned run's routers and uploads share it (routeLimit)
	if c.MaxRows > 0 || c.MaxObjectSize > 0 {
		parts = c.MemoryLimit // closed objects still uploading hold buffers beside the open ones
	}
	if c.Parquet != nil {
		parts += int64(c.jobs()) * cmp.Or(c.Parquet.RowGroupSize, columnar.DefaultRowGroupSize)
	}
	return parts
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

var errNoTables = errors.New("no table is left to export after the exclusions")
