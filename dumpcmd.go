package main

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime/debug"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/pg2s3/pg2s3/dump"
	"github.com/pg2s3/pg2s3/export"
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
		return usagef("--preset with several objects is not supported yet; the manifest lists the objects")
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
	if err := dc.Validate(); err != nil {
		return &usageError{err}
	}
	debug.SetMemoryLimit(dc.MemoryLimit + 128<<20)
	m, err := dump.Run(c.Context, dc)
	if err != nil {
		return err
	}
	stored, csv := m.Bytes()
	sum := struct {
		Manifest string  `json:"manifest"`
		Snapshot string  `json:"snapshot"`
		Tables   int     `json:"tables"`
		Objects  int     `json:"objects"`
		Rows     int64   `json:"rows"`
		Bytes    int64   `json:"bytes"`
		CSVBytes int64   `json:"csv_bytes"`
		Seconds  float64 `json:"seconds"`
		MBPerSec float64 `json:"mb_per_s"`
	}{m.URL, m.Snapshot.ID, len(m.Tables), len(m.Objects), m.Rows(), stored, csv, m.Seconds, float64(csv) / 1e6 / m.Seconds}
	if opts.json {
		b, _ := json.Marshal(sum)
		_, err := fmt.Fprintf(stdout, "%s\n", b)
		return err
	}
	if !opts.quiet {
		fmt.Fprintf(stderr, "pg2s3: exported %d table%s, %d rows, %s of CSV in %d object%s (%s stored), %.2fs, %.1f MB/s, snapshot %s -> %s\n",
			sum.Tables, pluralS(sum.Tables), sum.Rows, export.HumanBytes(csv), sum.Objects, pluralS(sum.Objects), export.HumanBytes(stored),
			sum.Seconds, sum.MBPerSec, sum.Snapshot, sum.Manifest)
	}
	return nil
}
