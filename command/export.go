package command

import (
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/pg2s3/pg2s3/engine"
)

func exportGroups() []group {
	return []group{destinationGroup(), sourceGroup(), connectionGroup(), runGroup(), formatGroup(), s3Group(), uploadGroup(), objectGroup(), outputGroup(), metricsGroup()}
}

func exportCommand(stdout, stderr io.Writer) *cli.Command {
	return command("export", "export a query, a table or many tables to S3, a file, or stdout",
		"pg2s3 export (--query SQL | --table [schema.]name) --to (s3://bucket/key | - | FILE) [flags]\n"+
			"   pg2s3 export (--table NAME... | --schema NAME...) --to s3://bucket/prefix/ [--jobs N] [flags]",
		"One object (a key, a file, stdout) is one COPY. A prefix gets one or more objects per table, all\n"+
			"exported under one snapshot, and a manifest written last: its presence means the run is whole.\n\n"+
			"The connection comes from --dsn, else DATABASE_URL, else the libpq variables (PGHOST, PGPORT,\n"+
			"PGUSER, PGPASSWORD, PGDATABASE, PGSSLMODE, ...) and ~/.pgpass, as in psql. S3 credentials and\n"+
			"region come from the AWS SDK's default chain (AWS_* variables, ~/.aws profiles, SSO, web\n"+
			"identity, instance roles), as in the aws CLI.\n\n"+
			"Memory: at most --memory-limit for part buffers, and about (concurrency + 1) x part size per\n"+
			"object being uploaded; the part size doubles every 900 parts so that a stream of unknown length\n"+
			"can reach S3's 5 TiB object limit. With --partition-by, each chunk's rows are grouped by value\n"+
			"within that memory, and what does not fit waits in a temporary file under $TMPDIR (unlinked:\n"+
			"nothing is left behind); the server sorts nothing.",
		exportGroups(), func(c *cli.Context) error { return runExport(c, stdout, stderr) })
}

func runExport(c *cli.Context, stdout, stderr io.Writer) error {
	cfg, out, err := exportConfig(c, stdout, stderr)
	if err != nil {
		return err
	}
	rep, err := metricsOptions(c)
	if err != nil {
		return err
	}
	if c.Bool("print-load-sql") {
		_, err := fmt.Fprintln(stdout, loadStatement(c, cfg, c.String("preset"), cfg.To.Name(cfg.Compress)))
		return err
	}
	if c.Bool("dry-run") {
		return printPlan(c, cfg, out, stdout)
	}
	if rep != nil {
		cfg.S3.Retries, rep.start = rep.retries, time.Now()
	}
	// A soft memory limit near the bound makes the garbage collector keep the heap there, with room
	// for what the runtime and the rest of the heap take (the process stays within bound + 64 MiB).
	debug.SetMemoryLimit(cfg.MemoryBound() + 32<<20)
	stop := func() {}
	if !out.quiet && isTerminal(stderr) {
		cfg.Progress = &engine.Progress{}
		stop = startProgress(stderr, cfg.Progress, cfg.CSV.Header && !cfg.To.IsPrefix(), time.Now())
	}
	m, err := engine.Run(c.Context, cfg)
	stop()
	rep.report(c.Context, cfg, m, err, stderr)
	if err != nil {
		return usage(err) // a key collision is found after planning, and is a usage error
	}
	var loads []string
	if p := c.String("preset"); p != "" {
		if m.URL != "" {
			loads = multiLoadStatements(c, cfg, p, m)
		} else {
			loads = []string{loadStatement(c, cfg, p, m.Objects[0].URL)}
		}
	}
	return exportSummary(out, stdout, stderr, m, cfg.Compress.Algorithm, loads)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// exportConfig turns export's flags into one engine config and the output options; every error
// it returns is a usage error. The same function serves one object and many.
func exportConfig(c *cli.Context, stdout, stderr io.Writer) (engine.Config, output, error) {
	fail := func(err error) (engine.Config, output, error) { return engine.Config{}, output{}, err }
	if c.Args().Present() {
		return fail(usagef("unexpected argument %q (flags come as --name value)", c.Args().First()))
	}
	out := outputOptions(c, stderr)
	query, tables, schemas := c.String("query"), c.StringSlice("table"), c.StringSlice("schema")
	if c.String("to") == "" { // parsed below, before the engine sees it; every other check is the engine's (Validate)
		return fail(usagef("--to is required (s3://bucket/key, s3://bucket/prefix/, - for stdout, or a file path)"))
	}
	to, err := engine.ParseDestination(c.String("to"))
	if err != nil {
		return fail(usage(err))
	}
	conn, err := connOptions(c)
	if err != nil {
		return fail(err)
	}
	cfg := engine.Config{
		Overwrite: c.Bool("overwrite"), CleanPath: c.Bool("clean-path"),
		Conn: conn, Query: query, Tables: tables, Schemas: schemas, Exclude: c.StringSlice("exclude-table"),
		To: to, Manifest: c.String("manifest"), KeepPartial: c.Bool("keep-partial"),
		Resume: c.Bool("resume"), ResumeNewSnapshot: c.Bool("resume-new-snapshot"),
		Snapshot: c.String("snapshot"), Stdout: stdout, Logger: out.logger,
	}
	if cfg.S3, err = s3Options(c); err != nil {
		return fail(err)
	}
	if cfg.Upload, err = uploadOptions(c); err != nil {
		return fail(usage(err))
	}
	cfg.Upload.NoClobber = c.Bool("no-clobber")
	if err := limitOptions(c, &cfg); err != nil {
		return fail(err)
	}
	if c.IsSet("key-template") { // else the engine's default, which follows --partition-by and the format
		cfg.Template = c.String("key-template")
	}
	if cfg.PartitionBy, err = parseEach(c, "partition-by", engine.ParsePartition); err != nil {
		return fail(err)
	}
	cfg.DropPartitionColumns = c.Bool("partition-drop-columns")
	cfg.TableFormat, cfg.Namespace = c.String("table-format"), c.String("iceberg-namespace")
	if cfg.Incremental, err = parseEach(c, "incremental", engine.ParseIncremental); err != nil {
		return fail(err)
	}
	cfg.IncrementalLookback = c.Duration("incremental-lookback")
	if cfg.SnapshotFrom, err = snapshotPlace(c, "snapshot-from"); err != nil {
		return fail(err)
	}
	if sh := c.String("shard"); sh != "" {
		if cfg.Shard, err = engine.ParseShard(sh); err != nil {
			return fail(flagError("shard", sh, err))
		}
	}
	if cfg.CSV, cfg.Compress, cfg.Parquet, err = formatOptions(c); err != nil {
		return fail(err)
	}
	if err := presetOptions(c, &cfg); err != nil {
		return fail(err)
	}
	if err := cfg.Validate(); err != nil {
		return fail(usage(err))
	}
	return cfg, out, nil
}

// limitOptions reads the run's limits: jobs, chunk and object sizes, the memory limit, rows per
// object and partitions.
func limitOptions(c *cli.Context, cfg *engine.Config) (err error) {
	if cfg.Jobs, err = parseCount(c.String("jobs")); err != nil {
		return flagError("jobs", c.String("jobs"), err)
	}
	for _, s := range []struct {
		flag string
		dst  *int64
	}{{"chunk-size", &cfg.ChunkSize}, {"max-object-size", &cfg.MaxObjectSize}, {"memory-limit", &cfg.MemoryLimit}} {
		if *s.dst, err = parseSize(c.String(s.flag)); err != nil {
			return flagError(s.flag, c.String(s.flag), err)
		}
	}
	if cfg.MaxRows, err = parseWhole(c.String("max-rows"), 0); err != nil {
		return flagError("max-rows", c.String("max-rows"), err)
	}
	if cfg.MaxPartitions, err = parseCount(c.String("max-partitions")); err != nil {
		return flagError("max-partitions", c.String("max-partitions"), err)
	}
	return nil
}

// presetOptions refuses a preset whose loader could not read what the run writes, and asks the
// engine for the per-table manifests Redshift's loads read.
func presetOptions(c *cli.Context, cfg *engine.Config) error {
	p := c.String("preset")
	if p == "" {
		return nil
	}
	if cfg.DropPartitionColumns && (p == "redshift" || p == "snowflake" || p == "postgres") {
		return usagef("--partition-drop-columns with --preset %s: its COPY reads the files, not the name=value/ folders, "+
			"so the partition columns would be lost; keep them in the data", p)
	}
	if cfg.TableFormat != "" && c.Bool("print-load-sql") {
		return usagef("--print-load-sql with --table-format %s: the statement names the metadata file a run commits; it is printed after the run", cfg.TableFormat)
	}
	cfg.TableManifests = p == "redshift" && cfg.TableFormat == ""
	if p == "athena" && !cfg.To.IsPrefix() {
		return usagef("--preset athena needs --to s3://bucket/prefix/: an Athena table is a folder, and reads every object in it")
	}
	if cfg.To.IsPrefix() {
		if _, ok := engine.TableFolder(*cfg.To.S3, cfg.Template, "s", "t"); !ok {
			return usagef("--preset with several tables needs a key template that gives every table a folder of its own, like the default %s", engine.DefaultTemplate)
		}
	}
	return nil
}

// parseEach parses every value of a repeatable flag; the first that does not parse is named.
func parseEach[T any](c *cli.Context, flag string, parse func(string) (T, error)) ([]T, error) {
	var out []T
	for _, v := range *c.Generic(flag).(*multiValue) {
		x, err := parse(v)
		if err != nil {
			return nil, flagError(flag, v, err)
		}
		out = append(out, x)
	}
	return out, nil
}
