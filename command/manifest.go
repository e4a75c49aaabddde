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
		"pg2s3 manifest merge s3://bucket/prefix/manifest-shard-0-of-N.json ... \\\n"+
			"        --to s3://bucket/prefix/manifest.json", "",
		[]group{{"Destination", []cli.Flag{str("to", "o", "where the merged manifest goes (`s3://bucket/key`)", "", "PG2S3_TO")}},
			s3Group(), outputGroup()},
		func(c *cli.Context) error {
			if c.NArg() == 0 || c.String("to") == "" {
				return usagef("give the shards' manifests and --to s3://bucket/key")
			}
			to, err := upload.ParseObject(c.String("to"))
			if err != nil {
				return usagef("--to: %v", err)
			}
			for _, a := range c.Args().Slice() {
				if _, err := upload.ParseObject(a); err != nil {
					return usagef("manifest %v", err)
				}
			}
			client, err := s3Client(c)
			if err != nil {
				return err
			}
			m, err := engine.Merge(c.Context, client, c.Args().Slice(), to)
			if err != nil {
				return err
			}
			out := outputOptions(c, stderr)
			return emit(out, stdout, stderr, fmt.Sprintf("pg2s3: merged %d manifests: %d tables, %d objects, %d rows, snapshot %s -> %s",
				c.NArg(), len(m.Tables), len(m.Objects), m.Rows(), m.Snapshot.ID, m.URL),
				map[string]any{"manifest": m.URL, "manifests": c.NArg(), "tables": len(m.Tables), "objects": len(m.Objects), "rows": m.Rows(), "snapshot": m.Snapshot.ID})
		})
	return &cli.Command{Name: "manifest", Usage: "work with manifests", Subcommands: []*cli.Command{merge}}
}
