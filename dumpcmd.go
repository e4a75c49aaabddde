package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/pg2s3/pg2s3/copyout"
	"github.com/pg2s3/pg2s3/dump"
	"github.com/pg2s3/pg2s3/export"
	"github.com/pg2s3/pg2s3/upload"
)

// isMulti says whether the export writes several objects under a prefix: several tables, a schema,
// or a destination ending in "/".
func isMulti(c *cli.Context) bool {
	return len(c.StringSlice("table")) > 1 || len(c.StringSlice("schema")) > 0 || strings.HasSuffix(c.String("to"), "/")
}

func firstOf(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

// runDump runs a multi-table export: the flags shared with a single export come in cfg.
func runDump(c *cli.Context, cfg export.Config, opts outputOptions, stdout, stderr io.Writer) error {
	if cfg.Query != "" {
		return usagef("--query exports one result to one object: --to s3://bucket/key (a prefix is for --table and --schema)")
	}
	if opts.loader != "" {
		if _, ok := dump.TableFolder(c.String("to"), c.String("key-template"), "s", "t"); !ok {
			return usagef("--preset with several tables needs a key template that gives every table a folder of its own, like the default %s", dump.DefaultTemplate)
		}
	}
	sizes := map[string]int64{}
	for _, f := range []string{"chunk-size", "max-object-size", "memory-limit"} {
		n, err := parseSize(c.String(f))
		if err != nil {
			return usagef("--%s: %v", f, err)
		}
		sizes[f] = n
	}
	jobs, err := parseCount(c.String("jobs"))
	if err != nil {
		return usagef("--jobs: %v", err)
	}
	var maxRows int64
	if _, err := fmt.Sscan(c.String("max-rows"), &maxRows); err != nil || maxRows < 0 {
		return usagef("--max-rows %q is not a count", c.String("max-rows"))
	}
	dc := dump.Config{
		DSN: cfg.DSN, Tables: c.StringSlice("table"), Schemas: c.StringSlice("schema"), Exclude: c.StringSlice("exclude-table"),
		To: c.String("to"), Template: c.String("key-template"), Manifest: c.String("manifest"), KeepPartial: c.Bool("keep-partial"),
		Jobs: jobs, ChunkSize: sizes["chunk-size"], MaxObjectSize: sizes["max-object-size"], MaxRows: maxRows, MemoryLimit: sizes["memory-limit"],
		CSV: cfg.CSV, Session: cfg.Session, Compress: cfg.Compress,
		S3: cfg.S3, PartSize: cfg.PartSize, Concurrency: cfg.Concurrency, Checksum: cfg.Checksum, Object: cfg.Object, PartTimeout: cfg.PartTimeout,
		Logger: cfg.Logger,
	}
	if sh := c.String("shard"); sh != "" {
		if dc.Shard, err = dump.ParseShard(sh); err != nil {
			return &usageError{err}
		}
		if c.String("snapshot") == "" && dc.Shard.Count > 1 {
			return usagef("--shard needs --snapshot: every shard must export the same instant (start `pg2s3 snapshot` first)")
		}
	}
	dc.Snapshot = c.String("snapshot")
	dc.TableManifests = opts.loader == "redshift"
	if err := dc.Validate(); err != nil {
		return &usageError{err}
	}
	if c.Bool("dry-run") {
		return printPlan(c, dc, opts, stdout)
	}
	debug.SetMemoryLimit(dc.MemoryLimit + 48<<20) // part buffers are garbage after each object: collect them near the limit
	stop := func() {}
	if !opts.quiet && isTerminal(stderr) {
		// One aggregate line over every worker: rows (header lines included), bytes of CSV, MB/s.
		dc.Progress = &copyout.Progress{}
		stop = export.StartProgress(stderr, dc.Progress, -1, false, time.Now())
	}
	m, err := dump.Run(c.Context, dc)
	stop()
	if err != nil {
		return err
	}
	var loads []string
	if opts.loader != "" {
		loads = multiLoadStatements(c, cfg, opts.loader, m)
	}
	stored, csv := m.Bytes()
	sum := struct {
		Manifest string   `json:"manifest"`
		Snapshot string   `json:"snapshot"`
		Tables   int      `json:"tables"`
		Objects  int      `json:"objects"`
		Rows     int64    `json:"rows"`
		Bytes    int64    `json:"bytes"`
		CSVBytes int64    `json:"csv_bytes"`
		Seconds  float64  `json:"seconds"`
		MBPerSec float64  `json:"mb_per_s"`
		LoadSQL  []string `json:"load_sql,omitempty"`
		PeakRSS  int64    `json:"peak_rss_bytes,omitempty"`
	}{m.URL, m.Snapshot.ID, len(m.Tables), len(m.Objects), m.Rows(), stored, csv, m.Seconds, float64(csv) / 1e6 / m.Seconds, loads, export.PeakRSS()}
	if opts.json {
		b, _ := json.Marshal(sum)
		_, err := fmt.Fprintf(stdout, "%s\n", b)
		return err
	}
	if !opts.quiet {
		fmt.Fprintf(stderr, "pg2s3: exported %d table%s, %d rows, %s of CSV in %d object%s (%s stored), %.2fs, %.1f MB/s, snapshot %s -> %s\n",
			sum.Tables, pluralS(sum.Tables), sum.Rows, export.HumanBytes(csv), sum.Objects, pluralS(sum.Objects), export.HumanBytes(stored),
			sum.Seconds, sum.MBPerSec, sum.Snapshot, sum.Manifest)
		if len(loads) > 0 {
			fmt.Fprintf(stderr, "pg2s3: load them with:\n%s\n", strings.Join(loads, "\n"))
		}
	}
	return nil
}

// multiLoadStatements is one load statement per table: Redshift reads the table's own manifest,
// the others the table's folder (a prefix or a glob of its objects).
func multiLoadStatements(c *cli.Context, cfg export.Config, loader string, m *dump.Manifest) []string {
	var out []string
	bucket, prefix, _ := strings.Cut(strings.TrimPrefix(c.String("to"), "s3://"), "/")
	for _, t := range m.Tables {
		schema, name := unquoteTable(t.Name)
		folder, _ := dump.TableFolder(c.String("to"), c.String("key-template"), schema, name)
		url := folder + "*" + ".csv" + cfg.Compress.Extension()
		switch loader {
		case "redshift":
			url = dump.TableManifestURL(bucket, prefix, schema, name)
		case "snowflake":
			url = folder
		case "bigquery":
			url = folder + "*"
		}
		if loader == "postgres" { // psql reads one stream: one command per object
			for _, o := range m.Objects {
				if o.Table == t.Name {
					out = append(out, loadStatementFor(c, cfg, loader, o.URL, copyoutQuoted(schema, name)))
				}
			}
			continue
		}
		stmt := loadStatementFor(c, cfg, loader, url, copyoutQuoted(schema, name))
		if loader == "redshift" {
			stmt = strings.Replace(stmt, " IAM_ROLE", " MANIFEST IAM_ROLE", 1)
		}
		out = append(out, stmt)
	}
	return out
}

func printPlan(c *cli.Context, dc dump.Config, opts outputOptions, stdout io.Writer) error {
	r, err := dump.Plan(c.Context, dc)
	if err != nil {
		return err
	}
	if opts.json {
		b, _ := json.MarshalIndent(r, "", "  ")
		fmt.Fprintf(stdout, "%s\n", b)
	} else {
		fmt.Fprintf(stdout, "snapshot %s at %s, PostgreSQL %s\n\n", r.Snapshot.ID, r.Snapshot.Time, r.Snapshot.ServerVersion)
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "TABLE\tKIND\tEST. ROWS\tSIZE\tSELECT")
		for _, t := range r.Tables {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%v\n", t.Name, t.Kind, t.EstRows, export.HumanBytes(t.SizeBytes), t.Select)
		}
		tw.Flush()
		fmt.Fprintln(stdout)
		tw = tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "CHUNK\tRANGE\tEST. SIZE\tFIRST OBJECT")
		for _, ch := range r.Chunks {
			fmt.Fprintf(tw, "%s #%d\t%s\t%s\t%s\n", ch.Table, ch.Chunk, ch.Range, export.HumanBytes(ch.EstBytes), ch.FirstKey)
		}
		tw.Flush()
		fmt.Fprintf(stdout, "\n%d chunks over %d jobs; parts of %s; memory limit %s; manifest %s; bucket: %s\n",
			len(r.Chunks), r.Jobs, export.HumanBytes(r.PartSize), export.HumanBytes(r.MemoryLimit), r.Manifest, r.BucketAccess)
	}
	if len(r.Problems) > 0 {
		return fmt.Errorf("the export would fail: %s", strings.Join(r.Problems, "; "))
	}
	return nil
}

// planCommand is `pg2s3 plan`: export's flags, with --dry-run.
func planCommand(stdout, stderr io.Writer, onUsage cli.OnUsageErrorFunc) *cli.Command {
	cmd := exportCommand(stdout, stderr, onUsage)
	cmd.Name, cmd.Usage = "plan", "show what a multi-table export would do, and check access, without exporting (export --dry-run)"
	cmd.UsageText = "pg2s3 plan (--table NAME... | --schema NAME...) --to s3://bucket/prefix/ [flags]"
	cmd.Before = func(c *cli.Context) error { return c.Set("dry-run", "true") }
	return cmd
}

func snapshotCommand(stdout, stderr io.Writer, onUsage cli.OnUsageErrorFunc) *cli.Command {
	return &cli.Command{
		Name:  "snapshot",
		Usage: "export a snapshot, print its ID, and hold it until stopped (for export --snapshot ID --shard i/N)",
		Description: "Prints the snapshot ID on stdout and waits. Start the shard exports meanwhile, on any machine:\n" +
			"  pg2s3 export --schema app --to s3://bucket/prefix/ --snapshot ID --shard i/N\n" +
			"then stop this process (SIGINT or SIGTERM) and join the shards' manifests with pg2s3 manifest merge.",
		OnUsageError: onUsage,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "dsn", Usage: "PostgreSQL connection `URL` or key=value string (default: PG* variables)", EnvVars: []string{"PG2S3_DSN", "DATABASE_URL"}},
		},
		Action: func(c *cli.Context) error {
			return dump.HoldSnapshot(c.Context, dsnFlag(c), copyout.Session{}, func(id string) {
				fmt.Fprintln(stdout, id)
				if f, ok := stdout.(*os.File); ok {
					f.Sync()
				}
				fmt.Fprintf(stderr, "pg2s3: holding snapshot %s; stop me (Ctrl-C, SIGTERM) when every shard is done\n", id)
			})
		},
	}
}

func manifestCommand(stdout, stderr io.Writer, onUsage cli.OnUsageErrorFunc) *cli.Command {
	return &cli.Command{
		Name:         "manifest",
		Usage:        "work with manifests",
		OnUsageError: onUsage,
		Subcommands: []*cli.Command{{
			Name:         "merge",
			Usage:        "join the manifests of the shards of one run into one",
			UsageText:    "pg2s3 manifest merge s3://bucket/prefix/manifest-shard-0-of-N.json ... --to s3://bucket/prefix/manifest.json",
			OnUsageError: onUsage,
			Flags: append([]cli.Flag{
				&cli.StringFlag{Name: "to", Usage: "where the merged manifest goes (`s3://bucket/key`)", EnvVars: []string{"PG2S3_TO"}},
			}, s3Flags()...),
			Action: func(c *cli.Context) error {
				if c.NArg() == 0 || c.String("to") == "" {
					return usagef("give the shards' manifests and --to s3://bucket/key")
				}
				if _, _, err := upload.ParseURL(c.String("to")); err != nil {
					return usagef("--to: %v", err)
				}
				client, err := s3Client(c)
				if err != nil {
					return err
				}
				m, err := dump.Merge(c.Context, client, c.Args().Slice(), c.String("to"))
				if err != nil {
					return err
				}
				fmt.Fprintf(stderr, "pg2s3: merged %d manifests: %d tables, %d objects, %d rows, snapshot %s -> %s\n",
					c.NArg(), len(m.Tables), len(m.Objects), m.Rows(), m.Snapshot.ID, m.URL)
				return nil
			},
		}},
	}
}

// unquoteTable splits a quoted "schema"."table" name.
func unquoteTable(q string) (schema, table string) {
	parts := strings.SplitN(q, `"."`, 2)
	if len(parts) != 2 {
		return "", q
	}
	un := func(s string) string { return strings.ReplaceAll(strings.Trim(s, `"`), `""`, `"`) }
	return un(parts[0]), un(parts[1])
}

// copyoutQuoted names a table for a load statement: schema.table, quoted where needed.
func copyoutQuoted(schema, table string) string {
	q := func(s string) string {
		if s != "" && strings.IndexFunc(s, func(r rune) bool { return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') }) < 0 {
			return s
		}
		return copyout.QuoteIdent(s)
	}
	return q(schema) + "." + q(table)
}
