package command

import (
	"fmt"
	"io"

	"github.com/urfave/cli/v2"

	"github.com/pg2s3/pg2s3/engine"
	"github.com/pg2s3/pg2s3/upload"
)

func manifestCommand(stdout, stderr io.Writer) *cli.Command {
	merge := command("merge", "join the manifests of the shards of one run into one",
		"pg2s3 manifest merge s3://bucket/prefix/   (its manifest-shard-*.json, into prefix/manifest.json)\n"+
			"   pg2s3 manifest merge s3://bucket/prefix/manifest-shard-0-of-N.json ... \\\n"+
			"        --to s3://bucket/prefix/manifest.json", "",
		[]group{{"Destination", []cli.Flag{str("to", "o", "where the merged manifest goes (`s3://bucket/key`)", "", "PG2S3_TO")}},
			s3Group(), outputGroup()},
		func(c *cli.Context) error {
			args := c.Args().Slice()
			var prefix *upload.URL
			if len(args) == 1 {
				if u, err := upload.ParseURL(args[0]); err == nil && u.IsPrefix() {
					prefix = &u
				}
			}
			toFlag := c.String("to")
			if prefix != nil && toFlag == "" {
				toFlag = prefix.Join("manifest.json").String()
			}
			if len(args) == 0 || toFlag == "" {
				return usagef("give the shards' prefix (s3://bucket/prefix/), or their manifests and --to s3://bucket/key")
			}
			to, err := upload.ParseObject(toFlag)
			if err != nil {
				return usagef("--to: %v", err)
			}
			if prefix == nil {
				for _, a := range args {
					if _, err := upload.ParseObject(a); err != nil {
						return usagef("manifest %v", err)
					}
				}
			}
			client, err := s3Client(c)
			if err != nil {
				return err
			}
			if prefix != nil {
				if args, err = engine.ShardManifests(c.Context, client, *prefix); err != nil {
					return err
				}
			}
			m, err := engine.Merge(c.Context, client, args, to)
			if err != nil {
				return err
			}
			out := outputOptions(c, stderr)
			return emit(out, stdout, stderr, fmt.Sprintf("pg2s3: merged %d manifests: %d tables, %d objects, %d rows, snapshot %s -> %s",
				len(args), len(m.Tables), len(m.Objects), m.Rows(), m.Snapshot.ID, m.URL),
				map[string]any{"manifest": m.URL, "manifests": len(args), "tables": len(m.Tables), "objects": len(m.Objects), "rows": m.Rows(), "snapshot": m.Snapshot.ID})
		})
	return &cli.Command{Name: "manifest", Usage: "work with manifests", Subcommands: []*cli.Command{merge}, HideHelpCommand: true,
		Action: func(c *cli.Context) error { // reached only without a known subcommand
			if c.Args().Present() {
				return unknownSubcommand(c.Command, c.Args().First())
			}
			return usagef("no subcommand given: pg2s3 manifest merge ... (pg2s3 manifest --help lists them)")
		}}
}
