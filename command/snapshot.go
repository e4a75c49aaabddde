package command

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/urfave/cli/v2"

	"github.com/pg2s3/pg2s3/engine"
	"github.com/pg2s3/pg2s3/sink"
)

func snapshotCommand(stdout, stderr io.Writer) *cli.Command {
	return command("snapshot", "export a snapshot, print its ID and hold it until stopped (for --snapshot)",
		"pg2s3 snapshot [--dsn URL] [--id-to s3://bucket/key | FILE]",
		"Prints the snapshot ID on stdout and waits. Start the shard exports meanwhile, on any machine:\n"+
			"  pg2s3 export --schema app --to s3://bucket/prefix/ --snapshot ID --shard i/N\n"+
			"(or, with --id-to, --snapshot-from the same place), then stop this process (SIGINT or SIGTERM)\n"+
			"and join the shards' manifests with pg2s3 manifest merge s3://bucket/prefix/.\n"+
			"With --id-to the ID is also written to an S3 object or a file, never over one that exists (a\n"+
			"second holder fails instead), and deleted when the snapshot is released. docs/kubernetes/ runs\n"+
			"this as the first step of a sharded export.",
		[]group{connectionGroup(), {"Publish", []cli.Flag{
			str("id-to", "", "also write the snapshot ID to `DEST` (s3://bucket/key or a file), for export --snapshot-from", "", "PG2S3_SNAPSHOT_ID_TO"),
		}}, s3Group()},
		func(c *cli.Context) error {
			if c.Args().Present() {
				return usagef("unexpected argument %q", c.Args().First())
			}
			conn, err := connOptions(c)
			if err != nil {
				return err
			}
			to, err := snapshotPlace(c, "id-to")
			if err != nil {
				return err
			}
			var client *s3.Client
			if to.S3 != nil {
				if client, err = s3Client(c); err != nil {
					return err
				}
			}
			remove := func(context.Context) error { return nil }
			err = engine.HoldSnapshot(c.Context, conn, func(id string) error {
				if to.Raw != "" {
					rm, err := engine.PublishSnapshotID(c.Context, client, to, id)
					if err != nil {
						return err
					}
					remove = rm
				}
				fmt.Fprintln(stdout, id)
				if f, ok := stdout.(*os.File); ok {
					f.Sync()
				}
				where := ""
				if to.Raw != "" {
					where = " (its ID is in " + to.Raw + ")"
				}
				fmt.Fprintf(stderr, "pg2s3: holding snapshot %s%s; stop me (Ctrl-C, SIGTERM) when every shard is done\n", id, where)
				return nil
			})
			ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Context), 30*time.Second)
			defer cancel()
			if rerr := remove(ctx); rerr != nil {
				fmt.Fprintf(stderr, "pg2s3: warning: could not delete the published snapshot ID at %s: %v\n", to.Raw, rerr)
			}
			return err
		})
}

// snapshotPlace reads a flag naming where a snapshot ID is published: s3://bucket/key or a file.
func snapshotPlace(c *cli.Context, flag string) (engine.Destination, error) {
	raw := c.String(flag)
	if raw == "" {
		return engine.Destination{}, nil
	}
	d, err := engine.ParseDestination(raw)
	if err != nil {
		return d, flagError(flag, raw, err)
	}
	if d.Stdout || d.IsPrefix() {
		return d, flagError(flag, raw, fmt.Errorf("give s3://bucket/key or a file path"))
	}
	if d.Path != "" && flag == "id-to" {
		if err := (sink.File{Path: d.Path, NoClobber: true}).Check(); err != nil {
			return d, flagError(flag, raw, err)
		}
	}
	return d, nil
}
