package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/pg2s3/pg2s3/bench"
	"github.com/pg2s3/pg2s3/upload"
)

func benchCommand(stdout, stderr io.Writer, onUsage cli.OnUsageErrorFunc) *cli.Command {
	return &cli.Command{
		Name:  "bench",
		Usage: "compare the COPY pipe with the cursor and in-memory approaches on your own data",
		UsageText: "pg2s3 bench (--query SQL | --table NAME) [--to s3://bucket/prefix/ | --to null] [--runs 3]\n" +
			"   [--approach copy,cursor,memory] [--batch 1000] [--json | --markdown] [--svg FILE]",
		Description: "Each run of each approach is a child process of its own, so that its CPU time and peak RSS come\n" +
			"from the operating system (rusage); runs alternate between approaches. The approaches:\n" +
			"  copy    COPY (query) TO STDOUT, streamed into S3 parts: exactly what pg2s3 export does\n" +
			"  cursor  DECLARE CURSOR + FETCH --batch rows, CSV encoded in Go, streamed through the same uploader\n" +
			"  memory  every row held in memory, the CSV built in memory, one PutObject\n" +
			"The client-side encoders write PostgreSQL's CSV byte for byte, so the outputs' sha256 must agree.\n" +
			"--to null measures the database side alone: the bytes are hashed and discarded.",
		OnUsageError: onUsage,
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "dsn", Usage: "PostgreSQL connection `URL` or key=value string (default: PG* variables)", EnvVars: []string{"PG2S3_DSN", "DATABASE_URL"}},
			&cli.StringFlag{Name: "query", Aliases: []string{"q"}, Usage: "benchmark the result of `SQL`", EnvVars: []string{"PG2S3_QUERY"}},
			&cli.StringFlag{Name: "table", Aliases: []string{"t"}, Usage: "benchmark the table or view `NAME`", EnvVars: []string{"PG2S3_TABLE"}},
			&cli.StringFlag{Name: "to", Value: "null", Usage: "null, or s3://bucket/prefix/ (each approach writes prefix + APPROACH.csv)", EnvVars: []string{"PG2S3_BENCH_TO"}},
			&cli.IntFlag{Name: "runs", Value: 3, Usage: "`N` runs per approach", EnvVars: []string{"PG2S3_BENCH_RUNS"}},
			&cli.StringFlag{Name: "approach", Value: "copy,cursor,memory", Usage: "comma-separated `LIST` of approaches", EnvVars: []string{"PG2S3_BENCH_APPROACH"}},
			&cli.IntFlag{Name: "batch", Value: 1000, Usage: "rows per FETCH for the cursor approach", EnvVars: []string{"PG2S3_BENCH_BATCH"}},
			&cli.StringFlag{Name: "part-size", Value: "16MiB", Usage: "`SIZE` of the first multipart parts", EnvVars: []string{"PG2S3_PART_SIZE"}},
			&cli.StringFlag{Name: "concurrency", Value: "4", Usage: "`N` parts uploaded at once", EnvVars: []string{"PG2S3_CONCURRENCY"}},
			&cli.BoolFlag{Name: "json", Usage: "the report as JSON on stdout", EnvVars: []string{"PG2S3_JSON"}},
			&cli.BoolFlag{Name: "markdown", Usage: "the report as a markdown table on stdout", EnvVars: []string{"PG2S3_BENCH_MARKDOWN"}},
			&cli.StringFlag{Name: "svg", Usage: "also draw time and memory per approach as an SVG bar chart in `FILE`", EnvVars: []string{"PG2S3_BENCH_SVG"}},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"Q"}, Usage: "no progress lines on stderr", EnvVars: []string{"PG2S3_QUIET"}},
		}, s3Flags()...),
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				return usagef("unexpected argument %q", c.Args().First())
			}
			spec, approaches, err := benchSpec(c)
			if err != nil {
				return err
			}
			if c.Bool("json") && c.Bool("markdown") {
				return usagef("give --json or --markdown, not both")
			}
			exe, err := os.Executable()
			if err != nil {
				return err
			}
			progress := func(r bench.Result) {
				if c.Bool("quiet") {
					return
				}
				status := fmt.Sprintf("%.2fs, %d rows, %s", r.Seconds, r.Rows, humanMiB(r.PeakRSS))
				if r.Error != "" {
					status = "FAILED: " + r.Error
				}
				fmt.Fprintf(stderr, "pg2s3 bench: %-6s %s\n", r.Approach, status)
			}
			rep, err := bench.Run(c.Context, spec, approaches, c.Int("runs"), exe, progress)
			if err != nil {
				return err
			}
			if f := c.String("svg"); f != "" {
				if err := writeFileAtomic(f, rep.WriteSVG); err != nil {
					return err
				}
			}
			switch {
			case c.Bool("json"):
				b, err := json.MarshalIndent(rep, "", "  ")
				if err != nil {
					return err
				}
				_, err = fmt.Fprintf(stdout, "%s\n", b)
				return err
			case c.Bool("markdown"):
				return rep.WriteMarkdown(stdout)
			}
			return rep.WriteText(stdout)
		},
	}
}

func humanMiB(b int64) string { return fmt.Sprintf("peak RSS %.0f MiB", float64(b)/(1<<20)) }

func benchSpec(c *cli.Context) (bench.Spec, []string, error) {
	partSize, err := parseSize(c.String("part-size"))
	if err != nil {
		return bench.Spec{}, nil, usagef("--part-size: %v", err)
	}
	if err := upload.CheckPartSize(partSize); err != nil {
		return bench.Spec{}, nil, usagef("--part-size: %v", err)
	}
	concurrency, err := parseCount(c.String("concurrency"))
	if err != nil {
		return bench.Spec{}, nil, usagef("--concurrency: %v", err)
	}
	s3cfg, err := clientConfig(c)
	if err != nil {
		return bench.Spec{}, nil, err
	}
	if c.Int("runs") < 1 {
		return bench.Spec{}, nil, usagef("--runs must be at least 1")
	}
	var approaches []string
	for _, a := range strings.Split(c.String("approach"), ",") {
		a = strings.TrimSpace(a)
		if !slices.Contains(bench.AllApproaches, a) {
			return bench.Spec{}, nil, usagef("--approach: unknown approach %q (want copy, cursor, memory)", a)
		}
		if !slices.Contains(approaches, a) {
			approaches = append(approaches, a)
		}
	}
	spec := bench.Spec{
		DSN: dsnFlag(c), Query: c.String("query"), Table: c.String("table"), To: c.String("to"), Batch: c.Int("batch"),
		S3: s3cfg, PartSize: partSize, Concurrency: concurrency,
	}
	if err := spec.Validate(); err != nil {
		return bench.Spec{}, nil, &usageError{err}
	}
	return spec, approaches, nil
}

// benchWorkerCommand is the hidden child of pg2s3 bench: it runs one approach, with the spec read
// from stdin, and prints its result as JSON.
func benchWorkerCommand(stdout io.Writer) *cli.Command {
	return &cli.Command{
		Name:   "bench-worker",
		Hidden: true,
		Action: func(c *cli.Context) error {
			var spec bench.Spec
			if err := json.NewDecoder(os.Stdin).Decode(&spec); err != nil {
				return fmt.Errorf("bench-worker: reading the spec: %w", err)
			}
			res := bench.Work(c.Context, spec, c.Args().First())
			return json.NewEncoder(stdout).Encode(res)
		},
	}
}

// writeFileAtomic writes a file through a temporary file renamed into place.
func writeFileAtomic(path string, write func(io.Writer) error) error {
	tmp, err := os.CreateTemp(dirOf(path), ".pg2s3-*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := write(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func dirOf(path string) string {
	if i := strings.LastIndexByte(path, '/'); i >= 0 {
		return path[:i+1]
	}
	return "."
}
