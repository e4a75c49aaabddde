package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/pg2s3/pg2s3/export"
	"github.com/pg2s3/pg2s3/upload"
)

func cleanupCommand(stdout, stderr io.Writer, onUsage cli.OnUsageErrorFunc) *cli.Command {
	return &cli.Command{
		Name:      "cleanup",
		Usage:     "find and abort incomplete multipart uploads (the billed parts a killed export leaves behind)",
		UsageText: "pg2s3 cleanup s3://bucket[/prefix] [--older-than 24h] [--dry-run]",
		Description: "Lists the incomplete multipart uploads whose keys start with prefix, with their age, parts and\n" +
			"size, and aborts those older than --older-than (so that exports still running are left alone).\n" +
			"A bucket lifecycle rule (AbortIncompleteMultipartUpload) is the second line of defence.",
		OnUsageError: onUsage,
		Flags: append([]cli.Flag{
			&cli.DurationFlag{Name: "older-than", Value: 24 * time.Hour, Usage: "abort only uploads started longer ago than `DURATION` (0s: all)", EnvVars: []string{"PG2S3_OLDER_THAN"}},
			&cli.BoolFlag{Name: "dry-run", Aliases: []string{"n"}, Usage: "list, abort nothing", EnvVars: []string{"PG2S3_DRY_RUN"}},
			&cli.BoolFlag{Name: "json", Usage: "print the uploads as a JSON array on stdout", EnvVars: []string{"PG2S3_JSON"}},
		}, s3Flags()...),
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usagef("give one s3://bucket[/prefix] (got %d arguments)", c.NArg())
			}
			arg := c.Args().First()
			rest, ok := strings.CutPrefix(arg, "s3://")
			bucket, prefix, _ := strings.Cut(rest, "/")
			if !ok || bucket == "" {
				return usagef("%q is not s3://bucket[/prefix]", arg)
			}
			if c.Duration("older-than") < 0 {
				return usagef("--older-than must not be negative")
			}
			client, err := s3Client(c)
			if err != nil {
				return err
			}
			found, err := upload.ListIncomplete(c.Context, client, bucket, prefix)
			if err != nil {
				return err
			}
			now := time.Now()
			type row struct {
				upload.Incomplete
				Action string `json:"action"`
				Error  string `json:"error,omitempty"`
			}
			var rows []row
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
			if c.Bool("json") {
				if rows == nil {
					rows = []row{}
				}
				b, err := json.Marshal(rows)
				if err != nil {
					return err
				}
				fmt.Fprintf(stdout, "%s\n", b)
			} else if len(rows) > 0 {
				tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "KEY\tUPLOAD ID\tAGE\tPARTS\tSIZE\tACTION")
				for _, r := range rows {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", r.Key, r.UploadID, now.Sub(r.Initiated).Truncate(time.Second),
						r.Parts, export.HumanBytes(r.Bytes), r.Action)
				}
				tw.Flush()
			}
			fmt.Fprintf(stderr, "pg2s3: %d incomplete upload%s under %s, %d aborted\n", len(rows), pluralS(len(rows)), arg, aborted)
			return errors.Join(failed...)
		},
	}
}

func pluralS(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
