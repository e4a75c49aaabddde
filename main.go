// Command pg2s3 exports PostgreSQL queries and tables to S3 with COPY, streaming, without decoding a row.
package main

import (
	"context"
	"fmt"
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
		in := &command.Interrupted{Signal: s.(syscall.Signal)}
		cancel(in)
		// Said after the cancellation, so that whoever reads it knows the stop has begun.
		fmt.Fprintf(os.Stderr, "pg2s3: %s: stopping (requests already sent finish, none is tried again); a second signal ends pg2s3 at once\n", in)
	}()
	code := command.Run(ctx, os.Args, os.Stdout, os.Stderr)
	cancel(nil)
	os.Exit(code)
}
