package command

import (
	"fmt"
	"io"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/pg2s3/pg2s3/engine"
)

func snapshotCommand(stdout, stderr io.Writer) *cli.Command {
	return command("snapshot", "export a snapshot, print its ID and hold it until stopped (for --snapshot)",
		"pg2s3 snapshot [--dsn URL]",
		"Prints the snapshot ID on stdout and waits. Start the shard exports meanwhile, on any machine:\n"+
			"  pg2s3 export --schema app --to s3://bucket/prefix/ --snapshot ID --shard i/N\n"+
			"then stop this process (SIGINT or SIGTERM) and join the shards' manifests with\n"+
			"pg2s3 manifest merge.",
		[]group{connectionGroup()},
		func(c *cli.Context) error {
			if c.Args().Present() {
				return usagef("unexpected argument %q", c.Args().First())
			}
			conn, err := connOptions(c)
			if err != nil {
				return err
			}
			return engine.HoldSnapshot(c.Context, conn, func(id string) {
				fmt.Fprintln(stdout, id)
				if f, ok := stdout.(*os.File); ok {
					f.Sync()
				}
				fmt.Fprintf(stderr, "pg2s3: holding snapshot %s; stop me (Ctrl-C, SIGTERM) when every shard is done\n", id)
			})
		})
}
