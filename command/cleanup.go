package command

import (
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/pg2s3/pg2s3/upload"
)

func cleanupCommand(stdout, stderr io.Writer) *cli.Command {
	return command("cleanup", "abort incomplete multipart uploads (the billed parts a killed export leaves)",
		"pg2s3 cleanup s3://bucket[/prefix] [--older-than 24h] [--dry-run]",
		"Lists the incomplete multipart uploads whose keys start with prefix, with their age, parts and\n"+
			"size, and aborts those older than --older-than (so that exports still running are left alone).\n"+
			"A bucket lifecycle rule (AbortIncompleteMultipartUpload) is the second line of defence.",
		[]group{{"Cleanup", []cli.Flag{
			duration("older-than", "abort only uploads started longer ago than `DURATION` (0s: all)", 24*time.Hour, "PG2S3_OLDER_THAN"),
			boolean("dry-run", "n", "list, abort nothing", "PG2S3_DRY_RUN"),
			boolean("json", "", "print the uploads as a JSON array on stdout", "PG2S3_JSON"),
			boolean("quiet", "q,Q", "print nothing but errors (the exit status says whether every abort worked)", "PG2S3_QUIET"),
		}}, s3Group()},
		func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usagef("give one s3://bucket[/prefix] (got %d arguments)", c.NArg())
			}
			arg := c.Args().First()
			loc, err := upload.ParseURL(arg)
			if err != nil {
				return usagef("%v", err)
			}
			if c.Duration("older-than") < 0 {
				return usagef("--older-than %s: must not be negative", c.Duration("older-than"))
			}
			client, err := s3Client(c)
			if err != nil {
				return err
			}
			found, err := upload.ListIncomplete(c.Context, client, loc.Bucket, loc.Key)
			if err != nil {
				return err
			}
			now := time.Now()
			type row struct {
				upload.Incomplete
				Action string `json:"action"`
				Error  string `json:"error,omitempty"`
			}
			rows := []row{}
			var failed []error
			aborted := 0
			for _, inc := range found {
				r := row{Incomplete: inc}
				switch {
				case now.Sub(inc.Initiated) < c.Duration("older-than"):
					r.Action = "kept (younger than --older-than)"
				case c.Bool("dry-run"):
					r.Action = "would abort"
				default:
					if err := upload.Abort(c.Context, client, inc); err != nil {
						r.Action, r.Error = "abort failed", err.Error()
						failed = append(failed, err)
					} else {
						r.Action = "aborted"
						aborted++
					}
				}
				rows = append(rows, r)
			}
			if !c.Bool("json") && !c.Bool("quiet") && len(rows) > 0 {
				tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "KEY\tUPLOAD ID\tAGE\tPARTS\tSIZE\tACTION")
				for _, r := range rows {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", r.Key, r.UploadID, now.Sub(r.Initiated).Truncate(time.Second),
						r.Parts, humanBytes(r.Bytes), r.Action)
				}
				tw.Flush()
			}
			out := output{json: c.Bool("json"), quiet: c.Bool("quiet")}
			err = emit(out, stdout, stderr, fmt.Sprintf("pg2s3: %d incomplete upload%s under %s, %d aborted", len(rows), plural(len(rows)), arg, aborted), rows)
			return errors.Join(err, errors.Join(failed...))
		})
}
