package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/pg2s3/pg2s3/copyout"
	"github.com/pg2s3/pg2s3/dump"
	"github.com/pg2s3/pg2s3/export"
	"github.com/pg2s3/pg2s3/preset"
	"github.com/pg2s3/pg2s3/upload"
)

// Exit codes.
const (
	exitOK        = 0
	exitFailed    = 1   // the export failed; nothing was published
	exitUsage     = 2   // bad flags or arguments; nothing was run
	exitInterrupt = 128 // plus the signal number: 130 for SIGINT, 143 for SIGTERM
)

// interrupted is the cancellation cause when a signal stops the run.
type interrupted struct{ sig syscall.Signal }

func (i *interrupted) Error() string {
	name := map[syscall.Signal]string{syscall.SIGINT: "SIGINT", syscall.SIGTERM: "SIGTERM"}[i.sig]
	if name == "" {
		name = i.sig.String()
	}
	return "received " + name
}

// usageError marks errors in how pg2s3 was called (exit status 2).
type usageError struct{ err error }

func (u *usageError) Error() string { return u.err.Error() }
func (u *usageError) Unwrap() error { return u.err }

func usagef(format string, args ...any) error { return &usageError{fmt.Errorf(format, args...)} }

// version is set with -ldflags "-X main.version=..."; otherwise the module version is used.
var version = ""

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	app := newApp(stdout, stderr)
	err := app.RunContext(ctx, flagsFirst(app, args))
	if err == nil {
		return exitOK
	}
	fmt.Fprintf(stderr, "pg2s3: error: %s\n", err)
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintln(stderr, "Run 'pg2s3 --help' or 'pg2s3 export --help' for usage.")
		return exitUsage
	}
	var in *interrupted
	if errors.As(err, &in) || errors.As(context.Cause(ctx), &in) {
		return exitInterrupt + int(in.sig)
	}
	return exitFailed
}

func newApp(stdout, stderr io.Writer) *cli.App {
	v := version
	if v == "" {
		if bi, ok := debug.ReadBuildInfo(); ok {
			v = bi.Main.Version
		}
	}
	onUsage := func(_ *cli.Context, err error, _ bool) error { return &usageError{err} }
	return &cli.App{
		Name:      "pg2s3",
		Usage:     "export PostgreSQL queries and tables to S3 with COPY, streaming",
		Version:   v,
		Writer:    stdout,
		ErrWriter: stderr,
		Description: "pg2s3 sends COPY (query) TO STDOUT over PostgreSQL's wire protocol and streams the CSV the server\n" +
			"generates into an S3 multipart upload. No row is decoded; memory stays bounded.\n\n" +
			"Exit status: 0 the object is in place; 1 the export failed (nothing was published);\n" +
			"2 usage error; 130/143 interrupted by SIGINT/SIGTERM (the upload was aborted).",
		HideHelpCommand: true,
		OnUsageError:    onUsage,
		ExitErrHandler:  func(*cli.Context, error) {}, // run() maps errors to exit codes; nothing exits early
		CommandNotFound: func(c *cli.Context, name string) {},
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				return usagef("unknown command %q", c.Args().First())
			}
			cli.ShowAppHelp(c)
			return usagef("no command given")
		},
		Commands: []*cli.Command{
			exportCommand(stdout, stderr, onUsage),
			cleanupCommand(stdout, stderr, onUsage),
			benchCommand(stdout, stderr, onUsage),
			planCommand(stdout, stderr, onUsage),
			snapshotCommand(stdout, stderr, onUsage),
			manifestCommand(stdout, stderr, onUsage),
			benchWorkerCommand(stdout),
		},
	}
}

func exportCommand(stdout, stderr io.Writer, onUsage cli.OnUsageErrorFunc) *cli.Command {
	return &cli.Command{
		Name:  "export",
		Usage: "export a query or a table to S3, a file, or stdout",
		UsageText: "pg2s3 export (--query SQL | --table [schema.]name) --to (s3://bucket/key | - | FILE) [flags]\n" +
			"   pg2s3 export (--table NAME... | --schema NAME...) --to s3://bucket/prefix/ [--jobs N] [flags]",
		Description: "The connection comes from --dsn, else DATABASE_URL, else the libpq variables (PGHOST, PGPORT,\n" +
			"PGUSER, PGPASSWORD, PGDATABASE, PGSSLMODE, ...) and ~/.pgpass, as in psql.\n" +
			"S3 credentials and region come from the AWS SDK's default chain (AWS_* variables, ~/.aws\n" +
			"profiles, SSO, web identity, instance roles), as in the aws CLI.\n\n" +
			"Memory: about (concurrency + 1) x part size; the part size doubles every 900 parts so a stream\n" +
			"of unknown length can reach S3's 5 TiB object limit.",
		OnUsageError: onUsage,
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "dsn", Usage: "PostgreSQL connection `URL` or key=value string (default: PG* variables)", EnvVars: []string{"PG2S3_DSN", "DATABASE_URL"}},
			&cli.StringFlag{Name: "query", Aliases: []string{"q"}, Usage: "export the result of `SQL` (one SELECT, VALUES or TABLE statement)", EnvVars: []string{"PG2S3_QUERY"}},
			&cli.StringSliceFlag{Name: "table", Aliases: []string{"t"}, Usage: "export the table or view `[schema.]name` (SQL syntax; an exact name also works); repeatable", EnvVars: []string{"PG2S3_TABLE"}},
			&cli.StringSliceFlag{Name: "schema", Usage: "export every table and view of `SCHEMA` (to a prefix); repeatable", EnvVars: []string{"PG2S3_SCHEMA"}},
			&cli.StringSliceFlag{Name: "exclude-table", Usage: "leave out tables matching `PATTERN` (a glob on schema.table or table); repeatable", EnvVars: []string{"PG2S3_EXCLUDE_TABLE"}},
			&cli.StringFlag{Name: "jobs", Aliases: []string{"j"}, Value: "4", Usage: "`N` COPY connections for several tables or chunks, under one snapshot", EnvVars: []string{"PG2S3_JOBS"}},
			&cli.StringFlag{Name: "chunk-size", Value: "256MiB", Usage: "split tables larger than `SIZE` of heap into ctid ranges exported in parallel (0: never)", EnvVars: []string{"PG2S3_CHUNK_SIZE"}},
			&cli.StringFlag{Name: "max-object-size", Value: "0", Usage: "start a new object after `SIZE` of CSV (before compression), between two rows (0: no limit)", EnvVars: []string{"PG2S3_MAX_OBJECT_SIZE"}},
			&cli.StringFlag{Name: "max-rows", Value: "0", Usage: "start a new object after `N` rows (0: no limit)", EnvVars: []string{"PG2S3_MAX_ROWS"}},
			&cli.StringFlag{Name: "memory-limit", Value: "512MiB", Usage: "`SIZE` shared by every part buffer of a multi-table run", EnvVars: []string{"PG2S3_MEMORY_LIMIT"}},
			&cli.StringFlag{Name: "key-template", Value: dump.DefaultTemplate, Usage: "object keys under the prefix: {schema} {table} {chunk:05} {split:03}", EnvVars: []string{"PG2S3_KEY_TEMPLATE"}},
			&cli.StringFlag{Name: "manifest", Usage: "where the manifest goes (`s3://bucket/key`; default: prefix + manifest.json)", EnvVars: []string{"PG2S3_MANIFEST"}},
			&cli.BoolFlag{Name: "dry-run", Usage: "print the plan (tables, estimates, chunks, keys, memory) and check access; export nothing", EnvVars: []string{"PG2S3_DRY_RUN"}},
			&cli.StringFlag{Name: "snapshot", Usage: "join the exported snapshot `ID` held by `pg2s3 snapshot` (with --shard)", EnvVars: []string{"PG2S3_SNAPSHOT"}},
			&cli.StringFlag{Name: "shard", Usage: "export only shard `i/N` of the chunks (0 <= i < N), under --snapshot", EnvVars: []string{"PG2S3_SHARD"}},
			&cli.BoolFlag{Name: "keep-partial", Usage: "when a multi-table run fails, keep (and list) the objects it completed instead of deleting them", EnvVars: []string{"PG2S3_KEEP_PARTIAL"}},
			&cli.StringFlag{Name: "to", Aliases: []string{"o"}, Usage: "destination: s3://bucket/key, - for stdout, or a file `PATH`", EnvVars: []string{"PG2S3_TO"}},
			&cli.BoolFlag{Name: "header", Usage: "start with a header line naming the columns (COPY's HEADER)", EnvVars: []string{"PG2S3_HEADER"}},
			&cli.StringFlag{Name: "preset", Usage: "settings for a loader, and print its load statement: " + strings.Join(preset.Names(), ", "), EnvVars: []string{"PG2S3_PRESET"}},
			&cli.BoolFlag{Name: "print-load-sql", Usage: "print the statement that loads the export (for --preset) and exit without exporting", EnvVars: []string{"PG2S3_PRINT_LOAD_SQL"}},
			&cli.StringFlag{Name: "load-table", Usage: "the `TABLE` the printed load statement loads into (default: --table, else my_table)", EnvVars: []string{"PG2S3_LOAD_TABLE"}},
			&cli.StringFlag{Name: "compress", Value: "none", Usage: "compress the output, streaming, on every core: none, gzip or zstd (adds .gz/.zst to the key)", EnvVars: []string{"PG2S3_COMPRESS"}},
			&cli.IntFlag{Name: "compress-level", Usage: "gzip 1-9 (default 6), zstd 1-22 (default 1)", EnvVars: []string{"PG2S3_COMPRESS_LEVEL"}},
			&cli.StringFlag{Name: "format", Value: "csv", Usage: "COPY format: csv or text", EnvVars: []string{"PG2S3_FORMAT"}},
			&cli.StringFlag{Name: "delimiter", Usage: "field delimiter, one character (\\t for a tab; default , for csv, tab for text)", EnvVars: []string{"PG2S3_DELIMITER"}},
			&cli.StringFlag{Name: "null", Usage: "the `STRING` that marks NULL (default: an unquoted empty field for csv, \\N for text)", EnvVars: []string{"PG2S3_NULL"}},
			&cli.StringFlag{Name: "quote", Usage: "quote character for csv (default \")", EnvVars: []string{"PG2S3_QUOTE"}},
			&cli.StringFlag{Name: "escape", Usage: "escape character for csv (default: the quote)", EnvVars: []string{"PG2S3_ESCAPE"}},
			&cli.StringSliceFlag{Name: "force-quote", Usage: "quote every non-NULL value of these `COLUMNS` (comma-separated, or *)", EnvVars: []string{"PG2S3_FORCE_QUOTE"}},
			&cli.StringSliceFlag{Name: "force-not-null", Usage: "`COLUMNS` whose empty fields load as '' rather than NULL: goes into the postgres load statement (COPY FROM only)", EnvVars: []string{"PG2S3_FORCE_NOT_NULL"}},
			&cli.StringFlag{Name: "encoding", Usage: "character set of the output (COPY's ENCODING, e.g. LATIN1; default UTF8)", EnvVars: []string{"PG2S3_ENCODING"}},
			&cli.StringFlag{Name: "timezone", Value: "UTC", Usage: "TimeZone of the export session, for timestamptz values", EnvVars: []string{"PG2S3_TIMEZONE"}},
			&cli.BoolFlag{Name: "server-settings", Usage: "keep the server's and the role's DateStyle, IntervalStyle, TimeZone, extra_float_digits, bytea_output", EnvVars: []string{"PG2S3_SERVER_SETTINGS"}},
			&cli.StringFlag{Name: "part-size", Value: "16MiB", Usage: "`SIZE` of the first multipart parts, 5MiB to 5GiB (e.g. 8MiB, 64MB, 16777216)", EnvVars: []string{"PG2S3_PART_SIZE"}},
			&cli.StringFlag{Name: "concurrency", Value: "4", Usage: "`N` parts uploaded at once", EnvVars: []string{"PG2S3_CONCURRENCY"}},
			&cli.StringFlag{Name: "checksum", Value: "crc32c", Usage: "checksum on every part and the object: crc32c, crc64nvme or none", EnvVars: []string{"PG2S3_CHECKSUM"}},
			&cli.DurationFlag{Name: "part-timeout", Value: 5 * time.Minute, Usage: "time limit of each attempt of an S3 request; a stalled part is cut and retried", EnvVars: []string{"PG2S3_PART_TIMEOUT"}},
			&cli.StringFlag{Name: "content-type", Value: "text/csv", Usage: "the object's Content-Type", EnvVars: []string{"PG2S3_CONTENT_TYPE"}},
			&cli.StringFlag{Name: "sse", Usage: "server-side encryption: AES256, aws:kms or aws:kms:dsse", EnvVars: []string{"PG2S3_SSE"}},
			&cli.StringFlag{Name: "sse-kms-key-id", Usage: "KMS key `ID` or ARN for --sse aws:kms", EnvVars: []string{"PG2S3_SSE_KMS_KEY_ID"}},
			&cli.StringFlag{Name: "storage-class", Usage: "S3 storage `CLASS` (STANDARD, STANDARD_IA, INTELLIGENT_TIERING, GLACIER_IR, ...)", EnvVars: []string{"PG2S3_STORAGE_CLASS"}},
			&cli.StringSliceFlag{Name: "metadata", Usage: "user metadata `KEY=VALUE` (x-amz-meta-KEY); repeatable, or comma-separated in the variable", EnvVars: []string{"PG2S3_METADATA"}},
			&cli.StringSliceFlag{Name: "tag", Usage: "object tag `KEY=VALUE`; repeatable, or comma-separated in the variable", EnvVars: []string{"PG2S3_TAG"}},
			&cli.DurationFlag{Name: "connect-timeout", Value: 30 * time.Second, Usage: "give up connecting to PostgreSQL after `DURATION` (connect_timeout in the DSN wins)", EnvVars: []string{"PG2S3_CONNECT_TIMEOUT"}},
			&cli.BoolFlag{Name: "json", Usage: "print the summary as one JSON object on stdout (on stderr with --to -)", EnvVars: []string{"PG2S3_JSON"}},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"Q"}, Usage: "no progress line and no summary line", EnvVars: []string{"PG2S3_QUIET"}},
			&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "log what happens, on stderr", EnvVars: []string{"PG2S3_VERBOSE"}},
		}, s3Flags()...),
		Action: func(c *cli.Context) error {
			cfg, opts, err := exportConfig(c, stdout, stderr)
			if err != nil {
				return err
			}
			if c.Bool("print-load-sql") {
				if opts.loader == "" {
					return usagef("--print-load-sql needs --preset")
				}
				_, err := fmt.Fprintln(stdout, loadStatement(c, cfg, opts.loader, export.WithExtension(cfg.To, cfg.Compress)))
				return err
			}
			if isMulti(c) {
				return runDump(c, cfg, opts, stdout, stderr)
			}
			// A soft memory limit near the documented bound makes the GC keep the heap there.
			debug.SetMemoryLimit(int64(cfg.Concurrency+1)*cfg.PartSize + 64<<20)
			sum, err := export.Run(c.Context, cfg)
			if err != nil {
				return err
			}
			if opts.loader != "" {
				sum.LoadSQL = loadStatement(c, cfg, opts.loader, sum.Destination)
			}
			return printSummary(sum, opts, stdout, stderr)
		},
	}
}

// flagsFirst moves a command's positional arguments after its flags, so that
// `pg2s3 cleanup s3://b/p --dry-run` works: urfave/cli v2 stops parsing flags at the first
// positional argument.
func flagsFirst(app *cli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	var cmd *cli.Command
	for _, c := range app.Commands {
		if c.Name == args[1] {
			cmd = c
		}
	}
	if cmd == nil {
		return args
	}
	head := 2
	if len(cmd.Subcommands) > 0 && len(args) > 2 { // pg2s3 manifest merge ...
		for _, sub := range cmd.Subcommands {
			if sub.Name == args[2] {
				cmd, head = sub, 3
			}
		}
		if head == 2 {
			return args
		}
	}
	isBool := map[string]bool{"help": true, "h": true}
	for _, f := range cmd.Flags {
		if _, ok := f.(*cli.BoolFlag); ok {
			for _, n := range f.Names() {
				isBool[n] = true
			}
		}
	}
	flags, positional := []string{}, []string{}
	rest := args[head:]
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		switch {
		case a == "--":
			positional = append(positional, rest[i+1:]...)
			i = len(rest)
		case strings.HasPrefix(a, "-") && a != "-":
			flags = append(flags, a)
			name := strings.TrimLeft(a, "-")
			if !strings.Contains(name, "=") && !isBool[name] && i+1 < len(rest) {
				flags = append(flags, rest[i+1])
				i++
			}
		default:
			positional = append(positional, a)
		}
	}
	out := append(slices.Clone(args[:head]), flags...)
	if len(positional) > 0 {
		out = append(append(out, "--"), positional...)
	}
	return out
}

// s3Flags are the S3 connection flags every command that talks to S3 takes.
func s3Flags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "endpoint-url", Usage: "S3-compatible endpoint `URL` (default: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, or AWS)", EnvVars: []string{"PG2S3_ENDPOINT_URL"}},
		&cli.StringFlag{Name: "region", Usage: "S3 `REGION` (default: AWS_REGION, the profile's, or us-east-1)", EnvVars: []string{"PG2S3_REGION"}},
		&cli.BoolFlag{Name: "path-style", Usage: "address buckets as endpoint/bucket (default: on for IP-address and localhost endpoints)", EnvVars: []string{"PG2S3_PATH_STYLE"}},
		&cli.StringFlag{Name: "retries", Value: "6", Usage: "`N` attempts per S3 request before a transient error (5xx, SlowDown, reset, timeout) is final", EnvVars: []string{"PG2S3_RETRIES"}},
	}
}

// dsnFlag is --dsn, else DATABASE_URL: an empty PG2S3_DSN must not hide DATABASE_URL (urfave/cli
// takes the first variable that is set, even to nothing). Empty means the PG* variables.
func dsnFlag(c *cli.Context) string {
	if dsn := c.String("dsn"); dsn != "" {
		return dsn
	}
	return os.Getenv("DATABASE_URL")
}

// s3Client builds the S3 client of s3Flags.
func s3Client(c *cli.Context) (*s3.Client, error) {
	cc, err := clientConfig(c)
	if err != nil {
		return nil, err
	}
	return upload.NewClient(c.Context, cc)
}

// clientConfig reads the flags of s3Flags.
func clientConfig(c *cli.Context) (upload.ClientConfig, error) {
	attempts, err := parseCount(c.String("retries"))
	if err != nil {
		return upload.ClientConfig{}, usagef("--retries: %v", err)
	}
	cc := upload.ClientConfig{Endpoint: c.String("endpoint-url"), Region: c.String("region"), MaxAttempts: attempts}
	if c.IsSet("path-style") {
		ps := c.Bool("path-style")
		cc.PathStyle = &ps
	}
	return cc, nil
}

type outputOptions struct {
	json, quiet, toStdout bool
	loader                string // --preset
}

// loadStatement is the statement that loads what the export wrote (to dest) with the preset's loader.
func loadStatement(c *cli.Context, cfg export.Config, loader, dest string) string {
	table := c.String("load-table")
	if table == "" {
		table = cfg.Table
	}
	if table == "" {
		table = "my_table"
	}
	return loadStatementFor(c, cfg, loader, dest, table)
}

// loadStatementFor is loadStatement for a given table name.
func loadStatementFor(c *cli.Context, cfg export.Config, loader, dest, table string) string {
	endpoint := cfg.S3.Endpoint
	if endpoint == "" {
		endpoint = os.Getenv("AWS_ENDPOINT_URL_S3")
	}
	if endpoint == "" {
		endpoint = os.Getenv("AWS_ENDPOINT_URL")
	}
	return preset.Statement(preset.Load{
		Loader: loader, URL: dest, Endpoint: endpoint, Region: cfg.S3.Region, Table: table,
		Header: cfg.CSV.Header, Null: cfg.CSV.Null, Delimiter: cfg.CSV.Delimiter,
		ForceNotNull: c.StringSlice("force-not-null"), Compress: cfg.Compress.Algorithm,
	})
}

// exportConfig turns the flags into one validated config. Every error it returns is a usage error.
func exportConfig(c *cli.Context, stdout, stderr io.Writer) (export.Config, outputOptions, error) {
	if c.Args().Present() {
		return export.Config{}, outputOptions{}, usagef("unexpected argument %q (flags come as --name value)", c.Args().First())
	}
	partSize, err := parseSize(c.String("part-size"))
	if err != nil {
		return export.Config{}, outputOptions{}, usagef("--part-size: %v", err)
	}
	concurrency, err := parseCount(c.String("concurrency"))
	if err != nil {
		return export.Config{}, outputOptions{}, usagef("--concurrency: %v", err)
	}
	checksum, err := upload.ParseChecksum(c.String("checksum"))
	if err != nil {
		return export.Config{}, outputOptions{}, usagef("--checksum: %v", err)
	}
	s3cfg, err := clientConfig(c)
	if err != nil {
		return export.Config{}, outputOptions{}, err
	}
	metadata, err := parsePairs("--metadata", c.StringSlice("metadata"))
	if err != nil {
		return export.Config{}, outputOptions{}, &usageError{err}
	}
	tags, err := parsePairs("--tag", c.StringSlice("tag"))
	if err != nil {
		return export.Config{}, outputOptions{}, &usageError{err}
	}
	if c.Duration("part-timeout") <= 0 {
		return export.Config{}, outputOptions{}, usagef("--part-timeout must be positive")
	}
	level := slog.LevelWarn
	if c.Bool("verbose") {
		level = slog.LevelDebug
	}
	opts := outputOptions{json: c.Bool("json"), quiet: c.Bool("quiet"), toStdout: c.String("to") == "-", loader: c.String("preset")}
	csv := copyout.Options{
		Format: c.String("format"), Header: c.Bool("header"), Delimiter: c.String("delimiter"),
		Quote: c.String("quote"), Escape: c.String("escape"), Encoding: c.String("encoding"),
		ForceQuote: c.StringSlice("force-quote"),
	}
	if csv.Delimiter == `\t` {
		csv.Delimiter = "\t"
	}
	if c.IsSet("null") {
		null := c.String("null")
		csv.Null = &null
	}
	compress := export.Compression{Algorithm: c.String("compress"), Level: c.Int("compress-level")}
	if opts.loader != "" {
		p, err := preset.Get(opts.loader)
		if err != nil {
			return export.Config{}, outputOptions{}, &usageError{err}
		}
		// The preset sets defaults; flags given explicitly win.
		if !c.IsSet("header") {
			csv.Header = p.Header
		}
		if !c.IsSet("null") && p.Null != nil {
			csv.Null = p.Null
		}
		if !c.IsSet("compress") {
			compress.Algorithm = p.Compress
		}
	}
	cfg := export.Config{
		DSN:      dsnFlag(c),
		Query:    c.String("query"),
		Table:    firstOf(c.StringSlice("table")),
		CSV:      csv,
		Compress: compress,
		Session:  copyout.Session{TimeZone: c.String("timezone"), KeepServer: c.Bool("server-settings")},
		To:       c.String("to"),
		S3:       s3cfg,
		Object: upload.ObjectOptions{
			ContentType: c.String("content-type"), SSE: c.String("sse"), SSEKMSKeyID: c.String("sse-kms-key-id"),
			StorageClass: c.String("storage-class"), Metadata: metadata, Tags: tags,
		},
		PartTimeout:    c.Duration("part-timeout"),
		PartSize:       partSize,
		Concurrency:    concurrency,
		Checksum:       checksum,
		ConnectTimeout: c.Duration("connect-timeout"),
		Progress:       !opts.quiet && isTerminal(stderr),
		Stdout:         stdout,
		Stderr:         stderr,
		Logger:         slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})),
	}
	if isMulti(c) {
		return cfg, opts, nil // validated as a dump.Config by runDump
	}
	for _, f := range []string{"max-object-size", "max-rows"} {
		if c.IsSet(f) {
			return export.Config{}, outputOptions{}, usagef("--%s splits the output into several objects: give a prefix destination, --to s3://bucket/prefix/", f)
		}
	}
	if err := cfg.Validate(); err != nil {
		return export.Config{}, outputOptions{}, &usageError{err}
	}
	return cfg, opts, nil
}

func printSummary(sum export.Summary, opts outputOptions, stdout, stderr io.Writer) error {
	if opts.json {
		w := stdout
		if opts.toStdout {
			w = stderr
		}
		b, err := json.Marshal(sum)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	}
	if !opts.quiet {
		fmt.Fprintln(stderr, sum)
		if sum.LoadSQL != "" {
			fmt.Fprintf(stderr, "pg2s3: load it with:\n%s\n", sum.LoadSQL)
		}
	}
	return nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// parseSize reads a byte size: plain bytes (16777216), decimal units (64MB, 1.5GB: powers of 1000) or
// binary units (8MiB, 1GiB: powers of 1024; single letters K, M, G, T are binary too).
func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && (t[i] >= '0' && t[i] <= '9' || t[i] == '.' || t[i] == '_') {
		i++
	}
	num, unit := strings.ReplaceAll(t[:i], "_", ""), strings.ToLower(strings.TrimSpace(t[i:]))
	if num == "" {
		return 0, fmt.Errorf("%q is not a size (e.g. 16MiB, 64MB, 16777216)", s)
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a size (e.g. 16MiB, 64MB, 16777216)", s)
	}
	mult := map[string]float64{
		"": 1, "b": 1,
		"k": 1 << 10, "kib": 1 << 10, "kb": 1e3,
		"m": 1 << 20, "mib": 1 << 20, "mb": 1e6,
		"g": 1 << 30, "gib": 1 << 30, "gb": 1e9,
		"t": 1 << 40, "tib": 1 << 40, "tb": 1e12,
	}[unit]
	if mult == 0 {
		return 0, fmt.Errorf("%q has an unknown unit %q (use B, KiB, MiB, GiB, TiB, KB, MB, GB or TB)", s, t[i:])
	}
	v := f * mult
	if v > 1<<62 {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return int64(v), nil
}

// parsePairs reads KEY=VALUE arguments of a repeatable flag.
func parsePairs(flag string, args []string) (map[string]string, error) {
	if len(args) == 0 {
		return nil, nil
	}
	m := map[string]string{}
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%s %q: want KEY=VALUE", flag, a)
		}
		if _, dup := m[k]; dup {
			return nil, fmt.Errorf("%s: %q given twice", flag, k)
		}
		m[k] = v
	}
	return m, nil
}

// parseCount reads a positive count: 4, 16, 1_000.
func parseCount(s string) (int, error) {
	n, err := strconv.Atoi(strings.ReplaceAll(strings.TrimSpace(s), "_", ""))
	if err != nil {
		return 0, fmt.Errorf("%q is not a whole number", s)
	}
	if n < 1 {
		return 0, fmt.Errorf("must be at least 1 (got %d)", n)
	}
	return n, nil
}
