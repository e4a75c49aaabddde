package command

import (
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/pg2s3/pg2s3/engine"
)

func exportGroups() []group {
	return []group{destinationGroup(), sourceGroup(), connectionGroup(), runGroup(), formatGroup(), s3Group(), uploadGroup(), objectGroup(), outputGroup(), metricsGroup()}
}

func exportCommand(stdout, stderr io.Writer) *cli.Command {
	return command("export", "export a query, a table or many tables to S3, a file, or stdout",
		"pg2s3 export (--query SQL | --table [schema.]name) --to (s3://bucket/key | - | FILE) [flags]\n"+
			"   pg2s3 export (--table NAME... | --schema NAME...) --to s3://bucket/prefix/ [--jobs N] [flags]",
		"One object (a key, a file, stdout) is one COPY. A prefix gets one or more objects per table, all\n"+
			"exported under one snapshot, and a manifest written last: its presence means the run is whole.\n\n"+
			"The connection comes from --dsn, else DATABASE_URL, else the libpq variables (PGHOST, PGPORT,\n"+
			"PGUSER, PGPASSWORD, PGDATABASE, PGSSLMODE, ...) and ~/.pgpass, as in psql. S3 credentials and\n"+
			"region come from the AWS SDK's default chain (AWS_* variables, ~/.aws profiles, SSO, web\n"+
			"identity, instance roles), as in the aws CLI.\n\n"+
			"Memory: at most --memory-limit for part buffers, and about (concurrency + 1) x part size per\n"+
			"object being uploaded; the part size doubles every 900 parts so that a stream of unknown length\n"+
			"can reach S3's 5 TiB object limit.",
		exportGroups(), func(c *cli.Context) error { return runExport(c, stdout, stderr) })
}

func runExport(c *cli.Context, stdout, stderr io.Writer) error {
	cfg, out, err := exportConfig(c, stdout, stderr)
	if err != nil {
		return err
	}
	rep, err := metricsOptions(c)
	if err != nil {
		return err
	}
	if c.Bool("print-load-sql") {
		_, err := fmt.Fprintln(stdout, loadStatement(c, cfg, c.String("preset"), cfg.To.Name(cfg.Compress)))
		return err
	}
	if c.Bool("dry-run") {
		return printPlan(c, cfg, out, stdout)
	}
	if rep != nil {
		cfg.S3.Retries, rep.start = rep.retries, time.Now()
	}
	// A soft memory limit near the bound makes the garbage collector keep the heap there.
	debug.SetMemoryLimit(cfg.MemoryBound() + 64<<20)
	stop := func() {}
	if !out.quiet && isTerminal(stderr) {
		cfg.Progress = &engine.Progress{}
		stop = startProgress(stderr, cfg.Progress, cfg.CSV.Header && !cfg.To.IsPrefix(), time.Now())
	}
	m, err := engine.Run(c.Context, cfg)
	stop()
	rep.report(c.Context, cfg, m, err, stderr)
	if err != nil {
		return usage(err) // a key collision is found after planning, and is a usage error
	}
	var loads []string
	if p := c.String("preset"); p != "" {
		if m.URL != "" {
			loads = multiLoadStatements(c, cfg, p, m)
		} else {
			loads = []string{loadStatement(c, cfg, p, m.Objects[0].URL)}
		}
	}
	return exportSummary(out, stdout, stderr, m, cfg.Compress.Algorithm, loads)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
