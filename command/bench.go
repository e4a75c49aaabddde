package command

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/pg2s3/pg2s3/bench"
	"github.com/pg2s3/pg2s3/sink"
)

func benchCommand(stdout, stderr io.Writer) *cli.Command {
	groups := []group{
		{"Benchmark", []cli.Flag{
			str("to", "", "null, or s3://bucket/prefix/ (each approach writes prefix + APPROACH.csv or .parquet)", "null", "PG2S3_BENCH_TO"),
			str("runs", "", "`N` runs per approach", "3", "PG2S3_BENCH_RUNS"),
			str("approach", "", "comma-separated `LIST` of approaches", "copy,cursor,memory,parquet", "PG2S3_BENCH_APPROACH"),
			str("batch", "", "`N` rows per FETCH for the cursor approach", "1000", "PG2S3_BENCH_BATCH"),
		}},
		{"Source", []cli.Flag{
			str("query", "c", "benchmark the result of `SQL`", "", "PG2S3_QUERY"),
			str("table", "t", "benchmark the table or view `NAME`", "", "PG2S3_TABLE"),
		}},
		connectionGroup(), s3Group(), uploadGroup(),
		{"Output", []cli.Flag{
			boolean("json", "", "the report as JSON on stdout", "PG2S3_JSON"),
			boolean("markdown", "", "the report as a markdown table on stdout", "PG2S3_BENCH_MARKDOWN"),
			str("svg", "", "also draw time and memory per approach as an SVG bar chart in `FILE`", "", "PG2S3_BENCH_SVG"),
			boolean("quiet", "q,Q", "no progress lines on stderr", "PG2S3_QUIET"),
		}},
	}
	return command("bench", "compare the COPY pipeline with the cursor and in-memory approaches on your own data",
		"pg2s3 bench (--query SQL | --table NAME) [--to s3://bucket/prefix/ | --to null] [--runs 3]\n"+
			"   [--approach copy,cursor,memory,parquet] [--batch 1000] [--json | --markdown] [--svg FILE]",
		"Each run of each approach is a child process of its own, so that its CPU time and peak RSS come\n"+
			"from the operating system (rusage); runs alternate between approaches. The approaches:\n"+
			"  copy    COPY (query) TO STDOUT, streamed into S3 parts: exactly what pg2s3 export does\n"+
			"  cursor  DECLARE CURSOR + FETCH --batch rows, CSV encoded in Go, into the same sink\n"+
			"  memory  every row held in memory, the CSV built in memory, one PutObject\n"+
			"  parquet COPY (FORMAT binary) decoded into Parquet: pg2s3 export --format parquet\n"+
			"The client-side encoders write PostgreSQL's CSV byte for byte, so the CSV outputs' sha256 must\n"+
			"agree; parquet's row count must equal copy's.\n"+
			"--to null measures the database side alone: the bytes are hashed and discarded.",
		groups, func(c *cli.Context) error { return runBench(c, stdout, stderr) })
}

// runBench is pg2s3 bench: the runs, then the report in the format asked for.
func runBench(c *cli.Context, stdout, stderr io.Writer) error {
	if c.Args().Present() {
		return usagef("unexpected argument %q", c.Args().First())
	}
	spec, approaches, runs, err := benchSpec(c)
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
		status := fmt.Sprintf("%.2fs, %d rows, peak RSS %.0f MiB", r.Seconds, r.Rows, float64(r.PeakRSS)/(1<<20))
		if r.Error != "" {
			status = "FAILED: " + r.Error
		}
		fmt.Fprintf(stderr, "pg2s3 bench: %-6s %s\n", r.Approach, status)
	}
	rep, err := bench.Run(c.Context, spec, approaches, runs, exe, progress)
	if err != nil {
		return err
	}
	if f := c.String("svg"); f != "" {
		if err := sink.WriteFile(c.Context, sink.File{Path: f}, rep.WriteSVG); err != nil {
			return err
		}
	}
	switch {
	case c.Bool("json"):
		var b []byte
		if b, err = json.MarshalIndent(rep, "", "  "); err == nil {
			_, err = fmt.Fprintf(stdout, "%s\n", b)
		}
	case c.Bool("markdown"):
		err = rep.WriteMarkdown(stdout)
	default:
		err = rep.WriteText(stdout)
	}
	if err == nil && !slices.ContainsFunc(rep.Approaches, func(s *bench.Summary) bool { return s.OKRuns > 0 }) {
		// The report says why; the exit status must not say that something was measured.
		err = errors.New("every approach failed: nothing was measured")
	}
	return err
}

func benchSpec(c *cli.Context) (bench.Spec, []string, int, error) {
	fail := func(err error) (bench.Spec, []string, int, error) { return bench.Spec{}, nil, 0, err }
	up, err := uploadOptions(c)
	if err != nil {
		return fail(usage(err))
	}
	s3cfg, err := s3Options(c)
	if err != nil {
		return fail(err)
	}
	runs, err := parseCount(c.String("runs"))
	if err != nil {
		return fail(flagError("runs", c.String("runs"), err))
	}
	batch, err := parseCount(c.String("batch"))
	if err != nil {
		return fail(flagError("batch", c.String("batch"), err))
	}
	var approaches []string
	for _, a := range strings.Split(c.String("approach"), ",") {
		a = strings.TrimSpace(a)
		if !slices.Contains(bench.AllApproaches, a) {
			return fail(usagef("--approach: unknown approach %q (want copy, cursor, memory)", a))
		}
		if !slices.Contains(approaches, a) {
			approaches = append(approaches, a)
		}
	}
	if c.String("query") == "" && c.String("table") == "" {
		return fail(usagef("give --query or --table"))
	}
	conn, err := connOptions(c)
	if err != nil {
		return fail(err)
	}
	spec := bench.Spec{
		Conn: conn, Query: c.String("query"), Table: c.String("table"), To: c.String("to"), Batch: batch,
		S3: s3cfg, Upload: up,
	}
	if err := spec.Validate(); err != nil {
		return fail(usage(err))
	}
	return spec, approaches, runs, nil
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
