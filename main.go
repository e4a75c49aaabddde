// Command pg2s3 exports PostgreSQL queries and tables to S3 with COPY, streaming, without decoding a row.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/pg2s3/pg2s3/command"
)

func main() {
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sigs
		// The first signal cancels the run, whose clean-up (aborting the uploads) still runs; a second
		// one gets the default behaviour and ends the process at once.
		signal.Stop(sigs)
		cancel(&command.Interrupted{Signal: s.(syscall.Signal)})
	}()
	code := command.Run(ctx, os.Args, os.Stdout, os.Stderr)
	cancel(nil)
	os.Exit(code)
}
