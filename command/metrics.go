package command

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/pg2s3/pg2s3/engine"
	"github.com/pg2s3/pg2s3/metrics"
)

// metricsGroup: what a run reports for monitoring (package metrics).
func metricsGroup() group {
	return group{"Metrics", []cli.Flag{
		str("metrics-file", "", "after the run, write its metrics to `FILE` (ending in .prom) for node_exporter's textfile collector, atomically", "", "PG2S3_METRICS_FILE"),
		str("pushgateway", "", "after the run, push its metrics to the Prometheus Pushgateway at `URL`", "", "PG2S3_PUSHGATEWAY"),
		str("metrics-job", "", "the Pushgateway's job label of the run's metrics", "pg2s3", "PG2S3_METRICS_JOB"),
		list("metrics-label", "", "a `NAME=VALUE` label on every metric (with --pushgateway: in the grouping key); repeatable", "PG2S3_METRICS_LABEL"),
	}}
}

// reporter is what metricsGroup asks for; nil when neither destination is given.
type reporter struct {
	file, gateway, job string
	labels             map[string]string
	retries            *atomic.Int64
	start              time.Time
}

func metricsOptions(c *cli.Context) (*reporter, error) {
	file, gateway := c.String("metrics-file"), c.String("pushgateway")
	if file != "" {
		if err := metrics.CheckFile(file); err != nil {
			return nil, flagError("metrics-file", file, err)
		}
	}
	if gateway != "" {
		if err := metrics.CheckPushgateway(gateway); err != nil {
			return nil, flagError("pushgateway", metrics.Redact(gateway), err)
		}
	}
	if c.String("metrics-job") == "" {
		return nil, flagError("metrics-job", "", fmt.Errorf("must not be empty"))
	}
	labels, err := parsePairs(c.StringSlice("metrics-label"))
	if err == nil {
		err = metrics.CheckLabels(labels)
	}
	if err != nil {
		return nil, flagError("metrics-label", "", err)
	}
	if file == "" && gateway == "" {
		if len(labels) > 0 || c.IsSet("metrics-job") {
			return nil, usagef("--metrics-label and --metrics-job need --metrics-file or --pushgateway")
		}
		return nil, nil
	}
	return &reporter{file: file, gateway: gateway, job: c.String("metrics-job"), labels: labels, retries: &atomic.Int64{}}, nil
}

// report writes and pushes the run's metrics. Their failure does not change the run's outcome
// (the data is published or not either way); it is a warning on stderr.
func (r *reporter) report(ctx context.Context, cfg engine.Config, m *engine.Manifest, runErr error, stderr io.Writer) {
	if r == nil {
		return
	}
	run := metrics.Run{Start: r.start, Duration: time.Since(r.start), Success: runErr == nil, Retries: r.retries.Load()}
	if m != nil && runErr == nil {
		parts := map[string]int{}
		for _, o := range m.Objects {
			parts[o.Table] += o.Parts
		}
		for _, t := range m.Tables {
			name := plainName(t.Name)
			if m.URL == "" && len(m.Tables) == 1 && len(cfg.Tables) == 0 {
				name = "(query)" // a --query's result has no table name
			}
			run.Tables = append(run.Tables, metrics.Table{Name: name, Rows: t.Rows, Bytes: t.Bytes,
				SourceBytes: t.CSVBytes, Objects: t.Objects, Parts: parts[t.Name]})
		}
	}
	if r.file != "" {
		if err := metrics.WriteFile(ctx, r.file, run, r.labels); err != nil {
			fmt.Fprintf(stderr, "pg2s3: warning: %v\n", err)
		}
	}
	if r.gateway != "" {
		if err := metrics.Push(ctx, r.gateway, r.job, r.labels, run, 30*time.Second); err != nil {
			fmt.Fprintf(stderr, "pg2s3: warning: %v\n", err)
		}
	}
}

// plainName is a manifest's table name ("schema"."name", quoted as SQL) as a readable label:
// schema.name, as the default key template names the table's folder.
func plainName(quoted string) string {
	var parts []string
	for rest := quoted; rest != ""; {
		if !strings.HasPrefix(rest, `"`) {
			return quoted
		}
		var b strings.Builder
		i := 1
		for ; i < len(rest); i++ {
			if rest[i] == '"' {
				if i+1 < len(rest) && rest[i+1] == '"' {
					b.WriteByte('"')
					i++
					continue
				}
				break
			}
			b.WriteByte(rest[i])
		}
		parts = append(parts, b.String())
		rest = strings.TrimPrefix(rest[min(i+1, len(rest)):], ".")
	}
	return strings.Join(parts, ".")
}
