package command

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/urfave/cli/v2"

	"github.com/pg2s3/pg2s3/columnar"
	"github.com/pg2s3/pg2s3/copyout"
	"github.com/pg2s3/pg2s3/engine"
	"github.com/pg2s3/pg2s3/preset"
	"github.com/pg2s3/pg2s3/setting"
	"github.com/pg2s3/pg2s3/sink"
	"github.com/pg2s3/pg2s3/upload"
)

// A flag is declared once, in one group, and read by one function into the option struct the engine
// takes; commands are built from groups. Numbers are strings read by the parsers of parse.go, so
// that a value means the same in every command and mode.

// group is a category of flags, shown under its name in --help, in this order.
type group struct {
	name  string
	flags []cli.Flag
}

func str(name, alias, placeholderUsage, def, env string) *cli.StringFlag {
	f := &cli.StringFlag{Name: name, Usage: placeholderUsage, Value: def, EnvVars: []string{env}}
	if alias != "" {
		f.Aliases = strings.Split(alias, ",")
	}
	return f
}

func list(name, alias, usage, env string) *cli.StringSliceFlag {
	f := &cli.StringSliceFlag{Name: name, Usage: usage, EnvVars: []string{env}}
	if alias != "" {
		f.Aliases = strings.Split(alias, ",")
	}
	return f
}

func boolean(name, alias, usage, env string) *cli.BoolFlag {
	f := &cli.BoolFlag{Name: name, Usage: usage, EnvVars: []string{env}}
	if alias != "" {
		f.Aliases = strings.Split(alias, ",")
	}
	return f
}

func duration(name, usage string, def time.Duration, env string) *cli.DurationFlag {
	return &cli.DurationFlag{Name: name, Usage: usage, Value: def, EnvVars: []string{env}}
}

func destinationGroup() group {
	return group{"Destination", []cli.Flag{
		str("to", "o", "where the data goes (`DEST`): s3://bucket/key, s3://bucket/prefix/ (many objects and a "+
			"manifest), - for stdout, or a file path", "", "PG2S3_TO"),
		boolean("no-clobber", "", "never replace an existing object or file (an atomic conditional write); "+
			"one object or file is replaced when this is not given", "PG2S3_NO_CLOBBER"),
		boolean("overwrite", "", "write into a prefix that holds objects, replacing same-named ones "+
			"(without it, a prefix must be empty)", "PG2S3_OVERWRITE"),
		boolean("clean-path", "", "after success, delete every object under the prefix that this run did not write", "PG2S3_CLEAN_PATH"),
	}}
}

func sourceGroup() group {
	return group{"Source", []cli.Flag{
		str("query", "c", "export the result of `SQL` (one SELECT, VALUES or TABLE statement)", "", "PG2S3_QUERY"),
		list("table", "t", "export the table or view `[schema.]name` (SQL syntax; an exact name also works); repeatable", "PG2S3_TABLE"),
		list("schema", "n", "export every table and view of `SCHEMA` (to a prefix); repeatable", "PG2S3_SCHEMA"),
		list("exclude-table", "T", "leave out tables matching `PATTERN` (a glob on schema.table or table); repeatable", "PG2S3_EXCLUDE_TABLE"),
	}}
}

// connectionGroup: the PostgreSQL connection recipe (copyout.Conn).
func connectionGroup() group {
	return group{"PostgreSQL connection", []cli.Flag{
		&cli.StringFlag{Name: "dsn", Aliases: []string{"d"}, Usage: "connection `URL` or key=value string (else DATABASE_URL, else the PG* variables)",
			EnvVars: []string{"PG2S3_DSN", "DATABASE_URL"}},
		duration("connect-timeout", "give up connecting after `DURATION` (connect_timeout in the DSN wins)", copyout.DefaultConnectTimeout, "PG2S3_CONNECT_TIMEOUT"),
		duration("lock-wait-timeout", "fail when a table's lock is not granted within `DURATION` (0: wait, as pg_dump)", 0, "PG2S3_LOCK_WAIT_TIMEOUT"),
		boolean("enable-row-security", "", "export the rows the role's row-level security policies let it see, instead of failing on such a table (as pg_dump)", "PG2S3_ENABLE_ROW_SECURITY"),
	}}
}

// connOptions reads connectionGroup.
func connOptions(c *cli.Context) (copyout.Conn, error) {
	for _, f := range []string{"connect-timeout", "lock-wait-timeout"} {
		if d := c.Duration(f); d < 0 {
			return copyout.Conn{}, flagError(f, d.String(), errors.New("must not be negative"))
		}
	}
	dsn := c.String("dsn")
	if dsn == "" {
		// An empty PG2S3_DSN must not hide DATABASE_URL (urfave/cli takes the first variable set,
		// even to nothing). Empty means the PG* variables.
		dsn = os.Getenv("DATABASE_URL")
	}
	conn := copyout.Conn{DSN: dsn, ConnectTimeout: c.Duration("connect-timeout"), Session: copyout.Session{
		LockTimeout: c.Duration("lock-wait-timeout"), RowSecurity: c.Bool("enable-row-security"),
	}}
	if hasFlag(c, "timezone") {
		conn.Session.TimeZone, conn.Session.KeepServer = c.String("timezone"), c.Bool("server-settings")
	}
	if _, err := conn.Config(); err != nil { // parsed before any command connects
		return copyout.Conn{}, usage(err)
	}
	return conn, nil
}

func hasFlag(c *cli.Context, name string) bool { return hasFlagNamed(c.Command, name) }

func runGroup() group {
	return group{"Jobs and objects", []cli.Flag{
		str("jobs", "j", "`N` COPY connections for several tables or chunks, under one snapshot", "4", "PG2S3_JOBS"),
		str("memory-limit", "", "`SIZE` shared by every part buffer of the run", "512MiB", "PG2S3_MEMORY_LIMIT"),
		str("chunk-size", "", "split tables larger than `SIZE` of heap into ctid ranges exported in parallel (0: never)", "256MiB", "PG2S3_CHUNK_SIZE"),
		str("max-object-size", "", "start a new object after `SIZE` of CSV (before compression), between two rows (0: no limit)", "0", "PG2S3_MAX_OBJECT_SIZE"),
		str("max-rows", "", "start a new object after `N` rows (0: no limit)", "0", "PG2S3_MAX_ROWS"),
		str("key-template", "", "object keys under the prefix: {schema} {table} {chunk:05} {split:03} {partition} "+
			"(with --partition-by, {partition}/ follows the table's folder; with parquet, .parquet ends it)", engine.DefaultTemplate, "PG2S3_KEY_TEMPLATE"),
		&cli.GenericFlag{Name: "partition-by", Value: &multiValue{}, EnvVars: []string{"PG2S3_PARTITION_BY"},
			Usage: "Hive-style partitions: a `COLUMN`, year|month|day|hour(COLUMN), or NAME=EXPRESSION, one level per use (repeatable; not split at commas)"},
		boolean("partition-drop-columns", "", "leave the --partition-by columns out of the data (Hive's convention)", "PG2S3_PARTITION_DROP_COLUMNS"),
		str("max-partitions", "", "refuse a run with more than `N` partition values (planner's estimate, then actual count)",
			fmt.Sprint(engine.DefaultMaxPartitions), "PG2S3_MAX_PARTITIONS"),
		&cli.GenericFlag{Name: "incremental", Value: &multiValue{}, EnvVars: []string{"PG2S3_INCREMENTAL"},
			Usage: "export only the rows changed since the prefix's previous run, into a run=.../ folder of its own: `COLUMN` (for every table that has it) or TABLE=COLUMN; repeatable"},
		duration("incremental-lookback", "read the changed rows from the high-water mark less `DURATION`, for a column the application sets "+
			"from its own clock (default: a bound proven on the server, else the whole table)", 0, "PG2S3_INCREMENTAL_LOOKBACK"),
		str("manifest", "", "where the manifest goes (`s3://bucket/key`; default: prefix + manifest.json)", "", "PG2S3_MANIFEST"),
		str("snapshot", "", "join the exported snapshot `ID` held by `pg2s3 snapshot` (with --shard)", "", "PG2S3_SNAPSHOT"),
		str("snapshot-from", "", "join the snapshot whose ID `pg2s3 snapshot --id-to` wrote to `SOURCE` (s3://bucket/key or a file)", "", "PG2S3_SNAPSHOT_FROM"),
		str("shard", "", "export only shard `i/N` of the chunks (0 <= i < N), under --snapshot", "", "PG2S3_SHARD"),
		boolean("keep-partial", "", "when a run fails, keep (and list) the objects it completed instead of deleting them", "PG2S3_KEEP_PARTIAL"),
		boolean("resume", "", "make the run resumable, or resume it: keep a journal of finished chunks under the prefix; run the same command "+
			"again after a failure (even SIGKILL) to export only the chunks not finished, in the same snapshot (--snapshot or --snapshot-from)", "PG2S3_RESUME"),
		boolean("resume-new-snapshot", "", "with --resume: allow a resume in another snapshot than the run's first attempt (only for data that does not change)", "PG2S3_RESUME_NEW_SNAPSHOT"),
		boolean("dry-run", "", "print the plan (tables, estimates, chunks, keys, memory) and check access; export nothing", "PG2S3_DRY_RUN"),
	}}
}

func formatGroup() group {
	return group{"Format", []cli.Flag{
		str("format", "", "csv or text (the server's COPY output), or parquet (typed columns, decoded from binary COPY; "+
			"chosen by a --to ending in .parquet)", "csv", "PG2S3_FORMAT"),
		str("table-format", "", "iceberg: commit each table's Parquet files as an Apache Iceberg table under the prefix "+
			"(<prefix>/<namespace>/<table>/, read by DuckDB, Snowflake, Trino, Spark, ... without a load step); implies --format parquet", "", "PG2S3_TABLE_FORMAT"),
		str("iceberg-namespace", "", "the namespace of the Iceberg tables (the PostgreSQL schema when not given)", "", "PG2S3_ICEBERG_NAMESPACE"),
		str("row-group-size", "", "parquet: binary COPY bytes per row group, held in memory until written", "32MiB", "PG2S3_ROW_GROUP_SIZE"),
		str("parquet-infinity", "", "parquet: an infinite date or timestamp is an error, or (extremes) the type's largest or smallest value, "+
			"which DuckDB reads as infinity", "error", "PG2S3_PARQUET_INFINITY"),
		boolean("header", "", "start with a header line naming the columns (COPY's HEADER)", "PG2S3_HEADER"),
		str("delimiter", "", "field delimiter, one character (\\t for a tab; csv: comma, text: tab)", "", "PG2S3_DELIMITER"),
		str("null", "", "the `STRING` that marks NULL (csv: an unquoted empty field, text: \\N)", "", "PG2S3_NULL"),
		str("quote", "", "quote character for csv (a double quote when not given)", "", "PG2S3_QUOTE"),
		str("escape", "", "escape character for csv (the quote when not given)", "", "PG2S3_ESCAPE"),
		list("force-quote", "", "quote every non-NULL value of these `COLUMNS` (comma-separated, or *)", "PG2S3_FORCE_QUOTE"),
		list("force-not-null", "", "`COLUMNS` whose empty fields load as '' rather than NULL (in the postgres load statement)", "PG2S3_FORCE_NOT_NULL"),
		str("timezone", "", "TimeZone of the session, for timestamptz values", "UTC", "PG2S3_TIMEZONE"),
		boolean("server-settings", "", "keep the server's and the role's DateStyle, IntervalStyle, TimeZone, extra_float_digits, bytea_output", "PG2S3_SERVER_SETTINGS"),
		str("encoding", "", "character set of the output (COPY's ENCODING, e.g. LATIN1; UTF8 when not given)", "", "PG2S3_ENCODING"),
		str("compress", "", "compress the output, streaming, on every core: none, gzip or zstd (adds .gz/.zst); "+
			"parquet: the codec inside the file, zstd (when not given), snappy, gzip or none", "none", "PG2S3_COMPRESS"),
		str("compress-level", "", "gzip 1-9 (6 when not given), zstd 1-22 (1 when not given)", "", "PG2S3_COMPRESS_LEVEL"),
		str("preset", "", "settings for a loader, and print its load statement: "+strings.Join(preset.Names(), ", "), "", "PG2S3_PRESET"),
		boolean("print-load-sql", "", "print the statement that loads the export (for --preset) and exit", "PG2S3_PRINT_LOAD_SQL"),
		str("load-table", "", "the `TABLE` the load statement loads into (--table when not given, else my_table)", "", "PG2S3_LOAD_TABLE"),
	}}
}

// s3Group: the S3 client (upload.ClientConfig).
func s3Group() group {
	return group{"S3 connection", []cli.Flag{
		str("endpoint-url", "", "S3-compatible endpoint `URL` (else AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, or AWS)", "", "PG2S3_ENDPOINT_URL"),
		str("region", "", "S3 `REGION` (else AWS_REGION, the profile's, or us-east-1)", "", "PG2S3_REGION"),
		boolean("path-style", "", "address buckets as endpoint/bucket (automatic for IP-address and localhost endpoints)", "PG2S3_PATH_STYLE"),
		&cli.StringFlag{Name: "profile", Usage: "the `NAME`d profile of ~/.aws/config and ~/.aws/credentials, as in the aws CLI",
			EnvVars: []string{"PG2S3_PROFILE", "AWS_PROFILE"}},
		&cli.StringFlag{Name: "ca-bundle", Usage: "trust the CAs of this PEM `FILE` (instead of the system's) for the S3 endpoint, as in the aws CLI",
			EnvVars: []string{"PG2S3_CA_BUNDLE", "AWS_CA_BUNDLE"}},
		str("retries", "", "`N` attempts per S3 request before a transient error (5xx, SlowDown, reset, timeout) is final", "6", "PG2S3_RETRIES"),
	}}
}

func s3Options(c *cli.Context) (upload.ClientConfig, error) {
	attempts, err := parseCount(c.String("retries"))
	if err != nil {
		return upload.ClientConfig{}, flagError("retries", c.String("retries"), err)
	}
	cc := upload.ClientConfig{Endpoint: c.String("endpoint-url"), Region: c.String("region"), MaxAttempts: attempts,
		Profile: c.String("profile"), CABundle: c.String("ca-bundle")}
	if _, err := cc.Validate(c.Context); err != nil { // before any command connects
		return upload.ClientConfig{}, usage(err)
	}
	if c.IsSet("path-style") {
		ps := c.Bool("path-style")
		cc.PathStyle = &ps
	}
	return cc, nil
}

// s3Client is the client of s3Group, for commands that talk to S3 themselves.
func s3Client(c *cli.Context) (*s3.Client, error) {
	cc, err := s3Options(c)
	if err != nil {
		return nil, err
	}
	client, err := upload.NewClient(c.Context, cc)
	return client, usage(err)
}

// uploadGroup: how each object is uploaded (upload.Options).
func uploadGroup() group {
	return group{"S3 upload", []cli.Flag{
		str("part-size", "", "`SIZE` of the first multipart parts, 5MiB to 5GiB (e.g. 8MiB, 64MB, 16777216)", "16MiB", "PG2S3_PART_SIZE"),
		str("concurrency", "", "`N` parts of an object uploaded at once", "4", "PG2S3_CONCURRENCY"),
		str("checksum", "", "checksum on every part and the object: crc32c, crc64nvme or none", "crc32c", "PG2S3_CHECKSUM"),
		duration("part-timeout", "time limit of each attempt of an S3 request; a stalled part is cut and retried", 5*time.Minute, "PG2S3_PART_TIMEOUT"),
	}}
}

func uploadOptions(c *cli.Context) (upload.Options, error) {
	var u upload.Options
	var err error
	if u.PartSize, err = parseSize(c.String("part-size")); err != nil {
		return u, flagError("part-size", c.String("part-size"), err)
	}
	if err := upload.CheckPartSize(u.PartSize); err != nil {
		return u, flagError("part-size", c.String("part-size"), errors.New("outside S3's limits (5 MiB to 5 GiB)"))
	}
	if u.Concurrency, err = parseCount(c.String("concurrency")); err != nil {
		return u, flagError("concurrency", c.String("concurrency"), err)
	}
	if u.Checksum, err = upload.ParseChecksum(c.String("checksum")); err != nil {
		return u, flagError("checksum", c.String("checksum"), err)
	}
	if u.PartTimeout = c.Duration("part-timeout"); u.PartTimeout <= 0 {
		return u, flagError("part-timeout", c.Duration("part-timeout").String(), errors.New("must be positive"))
	}
	if hasFlag(c, "content-type") {
		if u.Object, err = objectOptions(c); err != nil {
			return u, err
		}
	}
	return u, nil
}

// objectGroup: the stored object's settings (upload.ObjectOptions).
func objectGroup() group {
	return group{"S3 object", []cli.Flag{
		str("content-type", "", "the data objects' Content-Type (manifests and state objects are application/json)", "text/csv", "PG2S3_CONTENT_TYPE"),
		str("sse", "", "server-side encryption of every object the run writes: AES256, aws:kms or aws:kms:dsse", "", "PG2S3_SSE"),
		str("sse-kms-key-id", "", "KMS key `ID` or ARN for --sse aws:kms", "", "PG2S3_SSE_KMS_KEY_ID"),
		str("storage-class", "", "S3 storage `CLASS` (STANDARD, STANDARD_IA, INTELLIGENT_TIERING, GLACIER_IR, ...); GLACIER and DEEP_ARCHIVE apply to the data objects only, since manifests and state objects are read back without a restore", "", "PG2S3_STORAGE_CLASS"),
		list("metadata", "", "user metadata `KEY=VALUE` (x-amz-meta-KEY) on every object the run writes, manifests and state objects included; repeatable, or comma-separated in the variable", "PG2S3_METADATA"),
		list("tag", "", "object tag `KEY=VALUE` on every object the run writes, manifests and state objects included; repeatable, or comma-separated in the variable", "PG2S3_TAG"),
	}}
}

func objectOptions(c *cli.Context) (upload.ObjectOptions, error) {
	metadata, err := parsePairs(c.StringSlice("metadata"))
	if err != nil {
		return upload.ObjectOptions{}, flagError("metadata", "", err)
	}
	tags, err := parsePairs(c.StringSlice("tag"))
	if err != nil {
		return upload.ObjectOptions{}, flagError("tag", "", err)
	}
	o := upload.ObjectOptions{
		ContentType: c.String("content-type"), SSE: c.String("sse"), SSEKMSKeyID: c.String("sse-kms-key-id"),
		StorageClass: c.String("storage-class"), Metadata: metadata, Tags: tags,
	}
	return o, o.Validate()
}

// outputGroup: what pg2s3 prints.
func outputGroup() group {
	return group{"Output", []cli.Flag{
		boolean("json", "", "print the summary as one JSON object on stdout (on stderr with --to -)", "PG2S3_JSON"),
		boolean("quiet", "q,Q", "no progress line and no summary line", "PG2S3_QUIET"),
		boolean("verbose", "v", "log what happens, on stderr", "PG2S3_VERBOSE"),
	}}
}

// output is what outputGroup asks for.
type output struct {
	json, quiet, toStdout bool
	logger                *slog.Logger
}

func outputOptions(c *cli.Context, stderr io.Writer) output {
	level := slog.LevelWarn
	if c.Bool("verbose") {
		level = slog.LevelDebug
	}
	return output{json: c.Bool("json"), quiet: c.Bool("quiet"), toStdout: c.String("to") == "-",
		logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))}
}

func flagsOf(groups ...group) []cli.Flag {
	var out []cli.Flag
	for _, g := range groups {
		for _, f := range g.flags {
			switch f := f.(type) {
			case *cli.StringFlag:
				f.Category = g.name
			case *cli.StringSliceFlag:
				f.Category = g.name
			case *cli.BoolFlag:
				f.Category = g.name
			case *cli.DurationFlag:
				f.Category = g.name
			case *cli.GenericFlag:
				f.Category = g.name
			}
			out = append(out, f)
		}
	}
	return out
}

// multiValue is a repeatable string flag whose values are kept whole (a StringSliceFlag would split
// a SQL expression at its commas).
type multiValue []string

func (m *multiValue) Set(v string) error { *m = append(*m, v); return nil }
func (m *multiValue) String() string     { return strings.Join(*m, "; ") }

// flagError is a usage error naming the flag and the value.
func flagError(flag, value string, err error) error {
	if value == "" {
		return usagef("--%s: %v", flag, err)
	}
	return usagef("--%s %s: %v", flag, value, err)
}

// fieldFlags names the flag of each engine setting.
var fieldFlags = map[string]string{
	"Query": "query", "To": "to", "MaxObjectSize": "max-object-size", "MaxRows": "max-rows", "Shard": "shard",
	"Manifest": "manifest", "Jobs": "jobs", "Concurrency": "concurrency", "PartSize": "part-size", "MemoryLimit": "memory-limit",
	"Template": "key-template", "TableFormat": "table-format", "Namespace": "iceberg-namespace", "Compress": "compress", "CompressLevel": "compress-level", "Batch": "batch",
	"Overwrite": "overwrite", "CleanPath": "clean-path", "NoClobber": "no-clobber",
	"PartitionBy": "partition-by", "Incremental": "incremental", "IncrementalLookback": "incremental-lookback", "Resume": "resume", "ResumeNewSnapshot": "resume-new-snapshot", "DropPartitionColumns": "partition-drop-columns", "MaxPartitions": "max-partitions",
	"Snapshot": "snapshot", "SnapshotFrom": "snapshot-from", "SnapshotTo": "id-to", "Tables": "table", "Schemas": "schema", "Exclude": "exclude-table",
	// copyout.OptionError
	"FORMAT": "format", "DELIMITER": "delimiter", "QUOTE": "quote", "ESCAPE": "escape", "FORCE_QUOTE": "force-quote",
	"HEADER": "header", "NULL": "null", "ENCODING": "encoding", "Parquet": "compress",
	// upload.OptionError
	"Profile": "profile", "CABundle": "ca-bundle", "Endpoint": "endpoint-url",
	"SSE": "sse", "SSEKMSKeyID": "sse-kms-key-id", "StorageClass": "storage-class", "Metadata": "metadata", "Tags": "tag",
}

// settingWords turns the libraries' names of settings in their messages (Config.Resume,
// Options.InfinityExtremes) into the flags that set them: the libraries never name a flag.
var settingWords = func() *strings.Replacer {
	words := map[string]string{
		"Options.InfinityExtremes": "--parquet-infinity extremes", "File.NoClobber": "--no-clobber",
		"a snapshot's holder published its ID to (PublishSnapshotID)": "`pg2s3 snapshot --id-to` writes",
		"export it as Parquet": "export it with --format parquet", "export it as CSV": "export it with --format csv", // preset's

	}
	for field, flag := range fieldFlags {
		words["Config."+field] = "--" + flag
	}
	olds := slices.Collect(maps.Keys(words))
	slices.SortFunc(olds, func(a, b string) int { return cmp.Compare(len(b), len(a)) }) // Config.ResumeNewSnapshot before Config.Resume
	var pairs []string
	for _, o := range olds {
		pairs = append(pairs, o, words[o])
	}
	return strings.NewReplacer(pairs...)
}()

// usage words a library's validation error for the command line: it names the flag and the value.
// Errors that are not about a setting are returned as they are.
func usage(err error) error {
	var (
		se *setting.Error // engine's, copyout's and upload's
		le *upload.URLError
		fe *sink.FileError
		kc *engine.KeyCollisionError
		de *copyout.DSNError
		pe *engine.PrefixInUseError
		tp *engine.TooManyPartitionsError
	)
	switch {
	case err == nil:
		return nil
	case errors.As(err, &se):
		reason := se.Reason
		if se.Name == "SSEKMSKeyID" {
			reason = "needs --sse aws:kms or aws:kms:dsse"
		}
		return flagError(fieldFlags[se.Name], se.Value, errors.New(reason))
	case errors.As(err, &le):
		return usagef("--to: %v", le)
	case errors.As(err, &fe):
		return usagef("--to %s", fe)
	case errors.As(err, &de):
		return usagef("--dsn: %v", de)
	case errors.As(err, &pe):
		return usagef("--to %v: nothing was exported; give --overwrite (replace same-named objects), --clean-path "+
			"(the prefix ends up holding exactly this run's objects) or an empty prefix", pe)
	case errors.As(err, &tp): // found as the run went: it failed (exit 1), it was not refused
		return fmt.Errorf("--max-partitions %d: %w", tp.Max, err)
	case errors.As(err, &kc):
		return usagef("%v: nothing was exported; give a --key-template whose placeholders ({schema} {table} {chunk} {split}) tell them apart, or another --manifest", kc)
	}
	return err
}

// formatOptions reads formatGroup: the COPY options and the compressor, with a preset's defaults
// under the flags given explicitly; or, for --format parquet, the Parquet options.
func formatOptions(c *cli.Context) (copyout.Options, engine.Compression, *columnar.Options, error) {
	format := c.String("format")
	if !c.IsSet("format") && (strings.HasSuffix(strings.ToLower(c.String("to")), ".parquet") || c.String("table-format") != "") {
		format = "parquet"
	}
	switch format {
	case "csv", "text", "parquet":
	default:
		return copyout.Options{}, engine.Compression{}, nil, flagError("format", format, errors.New("want csv, text or parquet"))
	}
	if format == "parquet" { // the COPY options given with it are refused by the engine (csvOnly), by name
		p, err := parquetOptions(c)
		return copyOptions(c), engine.Compression{}, p, err
	}
	for _, f := range []string{"row-group-size", "parquet-infinity"} {
		if c.IsSet(f) {
			return copyout.Options{}, engine.Compression{}, nil, usagef("--%s: is for --format parquet", f)
		}
	}
	o, comp, err := csvOptions(c)
	return o, comp, nil, err
}

// parquetOptions reads the Parquet settings. The CSV options given with them are refused by the
// engine's validation, which names each (csvOnly).
func parquetOptions(c *cli.Context) (*columnar.Options, error) {
	p := &columnar.Options{Codec: "zstd"}
	if c.IsSet("compress") {
		p.Codec = c.String("compress")
		if !slices.Contains(columnar.Codecs, p.Codec) {
			return nil, flagError("compress", p.Codec, fmt.Errorf("parquet codecs are %s", strings.Join(columnar.Codecs, ", ")))
		}
	}
	if l := c.String("compress-level"); l != "" {
		return nil, flagError("compress-level", l, errors.New("parquet codecs take their default levels"))
	}
	size, err := parseSize(c.String("row-group-size"))
	if err != nil || size <= 0 {
		if err == nil {
			err = errors.New("must be more than 0")
		}
		return nil, flagError("row-group-size", c.String("row-group-size"), err)
	}
	p.RowGroupSize = size
	switch inf := c.String("parquet-infinity"); inf {
	case "error":
	case "extremes":
		p.InfinityExtremes = true
	default:
		return nil, flagError("parquet-infinity", inf, errors.New("want error or extremes"))
	}
	if name := c.String("preset"); name != "" {
		if _, err := preset.Get(name); err != nil {
			return nil, flagError("preset", name, err)
		}
		if err := preset.Check(name, true, c.String("table-format") == "iceberg"); err != nil {
			return nil, presetError(name, err)
		}
	}
	if c.IsSet("force-not-null") {
		return nil, usagef("--force-not-null: is a CSV option; --format parquet has typed columns")
	}
	return p, nil
}

// copyOptions reads the COPY options as given.
func copyOptions(c *cli.Context) copyout.Options {
	o := copyout.Options{
		Header: c.Bool("header"), Delimiter: c.String("delimiter"),
		Quote: c.String("quote"), Escape: c.String("escape"), Encoding: c.String("encoding"),
		ForceQuote: c.StringSlice("force-quote"),
	}
	if f := c.String("format"); f != "parquet" {
		o.Format = f
	}
	if o.Delimiter == `\t` {
		o.Delimiter = "\t"
	}
	if c.IsSet("null") {
		null := c.String("null")
		o.Null = &null
	}
	return o
}

// csvOptions reads the CSV and text formats' options and the compressor.
func csvOptions(c *cli.Context) (copyout.Options, engine.Compression, error) {
	o := copyOptions(c)
	comp := engine.Compression{Algorithm: c.String("compress")}
	if l := c.String("compress-level"); l != "" {
		n, err := parseWhole(l, 1)
		if err != nil {
			return o, comp, flagError("compress-level", l, err)
		}
		comp.Level = int(min(n, 1000))
	}
	if name := c.String("preset"); name != "" {
		p, err := preset.Get(name)
		if err != nil {
			return o, comp, flagError("preset", name, err)
		}
		if err := preset.Check(name, false, false); err != nil {
			return o, comp, presetError(name, err)
		}
		if !c.IsSet("header") {
			o.Header = p.Header
		}
		if !c.IsSet("null") && p.Null != nil {
			o.Null = p.Null
		}
		if !c.IsSet("compress") {
			comp.Algorithm = p.Compress
		}
	} else if c.Bool("print-load-sql") {
		return o, comp, usagef("--print-load-sql needs --preset")
	}
	return o, comp, nil
}

// presetError words a loader that cannot read what the run writes; the library names no flag.
func presetError(name string, err error) error {
	if errors.Is(err, preset.ErrIcebergOnly) {
		return usagef("--preset %s: %v: give --table-format iceberg", name, err)
	}
	return flagError("preset", name, err)
}
