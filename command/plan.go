package command

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/pg2s3/pg2s3/engine"
)

// planCommand is `pg2s3 plan`: export's flags, with --dry-run.
func planCommand(stdout, stderr io.Writer) *cli.Command {
	cmd := command("plan", "show what an export would do, and check access, without exporting (export --dry-run)",
		"pg2s3 plan (--table NAME... | --schema NAME...) --to s3://bucket/prefix/ [flags]", "",
		exportGroups(), func(c *cli.Context) error { return runExport(c, stdout, stderr) })
	cmd.Before = func(c *cli.Context) error { return c.Set("dry-run", "true") }
	return cmd
}

// printPlan plans the export and prints the plan, as text or JSON; a plan whose run would fail is
// an error after it is printed. The plan is closed, not run.
func printPlan(c *cli.Context, cfg engine.Config, out output, stdout io.Writer) error {
	p, err := engine.NewPlan(c.Context, cfg)
	if err != nil {
		return usage(err)
	}
	defer p.Close(c.Context)
	r, err := p.Report(c.Context)
	if err != nil {
		return usage(err)
	}
	switch {
	case out.json:
		b, _ := json.MarshalIndent(r, "", "  ")
		fmt.Fprintf(stdout, "%s\n", b)
	case r.AlreadyComplete:
		fmt.Fprintf(stdout, "complete, nothing to do: an earlier attempt finished this run in snapshot %s -> %s\n", r.Snapshot.ID, r.Manifest)
	default:
		printPlanText(stdout, r, len(cfg.PartitionBy) > 0)
	}
	if len(r.Problems) > 0 {
		return fmt.Errorf("the export would fail: %s", strings.Join(r.Problems, "; "))
	}
	return nil
}

// printPlanText prints the plan's tables, chunks, commits and an incremental run's marks.
func printPlanText(stdout io.Writer, r *engine.PlanReport, parts bool) {
	fmt.Fprintf(stdout, "snapshot %s at %s, PostgreSQL %s\n\n", r.Snapshot.ID, r.Snapshot.Time, r.Snapshot.ServerVersion)
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	head := "TABLE\tKIND\tEST. ROWS\tSIZE\tSELECT"
	if parts {
		head += "\tEST. PARTITIONS"
	}
	fmt.Fprintln(tw, head)
	for _, t := range r.Tables {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%v", t.Name, t.Kind, t.EstRows, humanBytes(t.SizeBytes), t.Select)
		if parts && t.EstPartitions < 0 {
			fmt.Fprint(tw, "\t? (an expression: counted as the run goes)")
		} else if parts {
			fmt.Fprintf(tw, "\t%d", t.EstPartitions)
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
	printIcebergPlan(stdout, r.Tables)
	fmt.Fprintln(stdout)
	tw = tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CHUNK\tRANGE\tEST. SIZE\tFIRST OBJECT")
	for _, ch := range r.Chunks {
		fmt.Fprintf(tw, "%s #%d\t%s\t%s\t%s\n", ch.Table, ch.Chunk, ch.Range, humanBytes(ch.EstBytes), ch.FirstKey)
	}
	tw.Flush()
	fmt.Fprintf(stdout, "\n%d chunks over %d jobs; parts of %s; memory limit %s; manifest %s; bucket: %s\n",
		len(r.Chunks), r.Jobs, humanBytes(r.PartSize), humanBytes(r.MemoryLimit), r.Manifest, r.BucketAccess)
	if rt := r.Routing; rt != nil {
		est := ""
		if rt.EstObjects > 0 {
			est = fmt.Sprintf(" (about %d objects)", rt.EstObjects)
		}
		fmt.Fprintf(stdout, "partitions: %d chunk%s write about one object per value they meet%s; each groups its rows in %s of memory, "+
			"and in a temporary file under %s for what does not fit (the server sorts nothing)\n",
			rt.Chunks, plural(rt.Chunks), est, humanBytes(rt.Memory), rt.SpillDir)
	}
	if len(r.Commits) > 0 {
		fmt.Fprintf(stdout, "a clean run commits, in order: %s\n", strings.Join(r.Commits, "; "))
	}
	if r.Resuming {
		fmt.Fprintf(stdout, "\na resume: %d chunks were finished by earlier attempts; the %d above remain\n", r.ResumedChunks, len(r.Chunks))
	}
	if r.Incremental != nil {
		printIncrementalPlan(stdout, r.Incremental)
	}
}

// printIcebergPlan prints the tables' Iceberg tables as the plan found them, and what the run
// makes of them.
func printIcebergPlan(stdout io.Writer, tables []engine.PlanTable) {
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	for i, t := range tables {
		it := t.Iceberg
		if it == nil {
			continue
		}
		if i == 0 {
			fmt.Fprintln(stdout)
			fmt.Fprintln(tw, "ICEBERG TABLE\tLOCATION\tNOW\tTHE RUN")
		}
		now, next := "none (created by the run)", "version 1"
		if it.Version > 0 {
			now = fmt.Sprintf("version %d, snapshot %d", it.Version, it.Snapshot)
			next = fmt.Sprintf("version %d: %s", it.Version+1, it.Change)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", it.Name, it.Location, now, next)
	}
	tw.Flush()
}

// printIncrementalPlan prints an incremental run's number, path and per table its marks.
func printIncrementalPlan(stdout io.Writer, inc *engine.RunState) {
	since := "the first run: every row"
	if inc.Previous > 0 {
		since = fmt.Sprintf("the rows changed since run %d", inc.Previous)
	}
	fmt.Fprintf(stdout, "\nincremental run %d into %s, exporting %s:\n", inc.Run, inc.Path, since)
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TABLE\tCOLUMN\tPREVIOUS HIGH-WATER MARK\tHIGH-WATER MARK NOW\tEST. ROWS")
	for _, t := range inc.Tables {
		col, prev, now := t.Column, "-", "-"
		if col == "" {
			col = "(none: whole table)"
		}
		if t.SinceHighWater != nil {
			prev = *t.SinceHighWater
		}
		if t.HighWater != nil {
			now = *t.HighWater
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\n", t.Table, col, prev, now, t.EstRows)
	}
	tw.Flush()
	for _, l := range modeLines(inc) {
		fmt.Fprintln(stdout, l)
	}
}

// modeLines say how each table's changed rows are found, and why a table is read whole (in the
// flags' words).
func modeLines(inc *engine.RunState) []string {
	var out []string
	for _, t := range inc.Tables {
		switch {
		case t.Mode == "":
		case t.LowerBound != "":
			out = append(out, fmt.Sprintf("%s: %s, %s >= %s (planner: %s)", t.Table, t.Mode, t.Column, t.LowerBound, t.ScanPlan))
		default:
			out = append(out, fmt.Sprintf("%s: %s (planner: %s): %s", t.Table, t.Mode, t.ScanPlan, settingWords.Replace(t.FullScanWhy)))
		}
	}
	if inc.HorizonWhy != "" {
		out = append(out, "the next run reads every table whole: "+inc.HorizonWhy)
	}
	return out
}
