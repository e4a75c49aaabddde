package command

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/pg2s3/pg2s3/engine"
	"github.com/pg2s3/pg2s3/upload"
)

// runsCommand is `pg2s3 runs`: the committed runs of an incremental base, for a loader to see what
// is new.
func runsCommand(stdout, stderr io.Writer) *cli.Command {
	return command("runs", "list the committed runs of an incremental export (what is new for a loader)",
		"pg2s3 runs s3://bucket/prefix/ [--since N] [--json]",
		"Lists the runs that export --incremental committed under the prefix, in order: each run's\n"+
			"number, snapshot time, folder and manifest, and per table the rows it holds (changed since\n"+
			"which run) and the high-water mark. --since N lists only the runs after run N.",
		[]group{{"Runs", []cli.Flag{
			str("since", "", "list only the runs after run `N`", "0", "PG2S3_RUNS_SINCE"),
			boolean("json", "", "print the runs' states as a JSON array on stdout", "PG2S3_JSON"),
		}}, s3Group()},
		func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usagef("give one s3://bucket/prefix/ (got %d arguments)", c.NArg())
			}
			base, err := upload.ParseURL(c.Args().First())
			if err != nil || !base.IsPrefix() {
				return usagef("%q: want the s3://bucket/prefix/ an incremental export writes to", c.Args().First())
			}
			since, err := parseWhole(c.String("since"), 0)
			if err != nil {
				return flagError("since", c.String("since"), err)
			}
			client, err := s3Client(c)
			if err != nil {
				return err
			}
			runs, err := engine.Runs(c.Context, client, base, int(since))
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return emit(output{json: true}, stdout, stderr, "", runs)
			}
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "RUN\tSNAPSHOT TIME\tSINCE RUN\tTABLES\tMANIFEST")
			for _, r := range runs {
				var tables []string
				for _, t := range r.Tables {
					hw := "-"
					if t.HighWater != nil {
						hw = *t.HighWater
					}
					tables = append(tables, fmt.Sprintf("%s (%s <= %s)", t.Table, t.Column, hw))
				}
				fmt.Fprintf(tw, "%d\t%s\t%d\t%s\t%s\n", r.Run, r.Snapshot.Time, r.Previous, strings.Join(tables, ", "), r.Manifest)
			}
			return tw.Flush()
		})
}
