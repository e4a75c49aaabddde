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

func printPlan(c *cli.Context, cfg engine.Config, out output, stdout io.Writer) error {
	r, err := engine.Plan(c.Context, cfg)
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
		fmt.Fprintf(stdout, "snapshot %s at %s, PostgreSQL %s\n\n", r.Snapshot.ID, r.Snapshot.Time, r.Snapshot.ServerVersion)
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		parts := len(cfg.PartitionBy) > 0
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
		fmt.Fprintln(stdout)
		tw = tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "CHUNK\tRANGE\tEST. SIZE\tFIRST OBJECT")
		for _, ch := range r.Chunks {
			fmt.Fprintf(tw, "%s #%d\t%s\t%s\t%s\n", ch.Table, ch.Chunk, ch.Range, humanBytes(ch.EstBytes), ch.FirstKey)
		}
		tw.Flush()
		fmt.Fprintf(stdout, "\n%d chunks over %d jobs; parts of %s; memory limit %s; manifest %s; bucket: %s\n",
			len(r.Chunks), r.Jobs, humanBytes(r.PartSize), humanBytes(r.MemoryLimit), r.Manifest, r.BucketAccess)
		if r.Resuming {
			fmt.Fprintf(stdout, "\na resume: %d chunks were finished by earlier attempts; the %d above remain\n", r.ResumedChunks, len(r.Chunks))
		}
		if inc := r.Incremental; inc != nil {
			since := "the first run: every row"
			if inc.Previous > 0 {
				since = fmt.Sprintf("the rows changed since run %d", inc.Previous)
			}
			fmt.Fprintf(stdout, "\nincremental run %d into %s, exporting %s:\n", inc.Run, inc.Path, since)
			tw = tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TABLE\tCOLUMN\tPREVIOUS HIGH-WATER MARK\tHIGH-WATER MARK NOW\tEST. ROWS")
			for _, t := range inc.Tables {
				col, prev := t.Column, "-"
				if col == "" {
					col = "(none: whole table)"
				}
				if t.SinceHighWater != nil {
					prev = *t.SinceHighWater
				}
				now := "-"
				if t.HighWater != nil {
					now = *t.HighWater
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\n", t.Table, col, prev, now, t.EstRows)
			}
			tw.Flush()
		}
	}
	if len(r.Problems) > 0 {
		return fmt.Errorf("the export would fail: %s", strings.Join(r.Problems, "; "))
	}
	return nil
}
