// Package metrics reports what a pg2s3 run did in Prometheus' conventions for batch jobs, which
// do not live long enough to be scraped: a file in the text format for node_exporter's textfile
// collector (WriteFile, atomic), or a push to a Pushgateway (Push).
//
// Every metric is a gauge describing the last run. A failed run replaces the run's own figures
// (pg2s3_success 0, its duration and retries) and leaves the others as the last successful run
// set them: pg2s3_last_success_timestamp_seconds keeps its time, so that an alert on its age
// fires however the runs fail, and the per-table figures stay those of the last success.
//
// Nothing here changes the run's outcome: the caller decides what a failed write or push means.
package metrics

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/push"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/pg2s3/pg2s3/sink"
)

// Run is what one run did.
type Run struct {
	Start    time.Time
	Duration time.Duration
	Success  bool
	Retries  int64   // S3 requests tried again
	Tables   []Table // the objects written, per table (known only for a run that succeeded)
}

// Table is one table's share of a run.
type Table struct {
	Name        string
	Rows        int64
	Bytes       int64 // stored (compressed, or Parquet)
	SourceBytes int64 // sent by the server (CSV, or binary COPY for Parquet)
	Objects     int
	Parts       int // multipart parts; 0 for objects sent in one PutObject
}

// Names of the metrics, and the ones a failed run sets.
const (
	success     = "pg2s3_success"
	duration    = "pg2s3_duration_seconds"
	lastRun     = "pg2s3_last_run_timestamp_seconds"
	lastSuccess = "pg2s3_last_success_timestamp_seconds"
	retries     = "pg2s3_s3_retries"
)

var runFamilies = []string{success, duration, lastRun, retries}

// families are the run's metrics, with labels on every metric (the file's; a push carries them in
// its grouping key instead).
func (r Run) families(labels map[string]string) ([]*dto.MetricFamily, error) {
	reg := prometheus.NewRegistry()
	gauge := func(name, help string, v float64) {
		g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help, ConstLabels: labels})
		g.Set(v)
		reg.MustRegister(g)
	}
	ok := 0.0
	if r.Success {
		ok = 1
	}
	gauge(success, "1 if the last pg2s3 run succeeded, 0 if it failed.", ok)
	gauge(duration, "How long the last pg2s3 run took.", r.Duration.Seconds())
	gauge(lastRun, "When the last pg2s3 run started (Unix time).", float64(r.Start.UnixMilli())/1e3)
	gauge(retries, "S3 requests the last pg2s3 run tried again after a transient error.", float64(r.Retries))
	if r.Success {
		gauge(lastSuccess, "When the last successful pg2s3 run started (Unix time).", float64(r.Start.UnixMilli())/1e3)
		perTable := func(name, help string, v func(Table) float64) {
			g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help, ConstLabels: labels}, []string{"table"})
			for _, t := range r.Tables {
				g.WithLabelValues(t.Name).Set(v(t))
			}
			reg.MustRegister(g)
		}
		perTable("pg2s3_rows", "Rows the last successful run exported, per table.", func(t Table) float64 { return float64(t.Rows) })
		perTable("pg2s3_bytes", "Bytes the last successful run stored, per table (after compression).", func(t Table) float64 { return float64(t.Bytes) })
		perTable("pg2s3_source_bytes", "Bytes the server sent in the last successful run, per table (CSV, or binary COPY for Parquet).",
			func(t Table) float64 { return float64(t.SourceBytes) })
		perTable("pg2s3_objects", "Objects the last successful run wrote, per table.", func(t Table) float64 { return float64(t.Objects) })
		perTable("pg2s3_parts", "Multipart parts the last successful run uploaded, per table.", func(t Table) float64 { return float64(t.Parts) })
	}
	return reg.Gather()
}

// labelName is Prometheus' classic label name, which every reader of the text format accepts.
var labelName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// CheckLabels refuses labels Prometheus would refuse, before the run.
func CheckLabels(labels map[string]string) error {
	for k := range labels {
		if !labelName.MatchString(k) || strings.HasPrefix(k, "__") {
			return fmt.Errorf("%q is not a Prometheus label name (letters, digits and _, not starting with a digit or __)", k)
		}
		if k == "table" || k == "job" {
			return fmt.Errorf("%q is a label pg2s3 sets itself", k)
		}
	}
	return nil
}

// CheckFile refuses a path the textfile collector would not read, or that cannot be written.
func CheckFile(path string) error {
	if !strings.HasSuffix(path, ".prom") {
		return errors.New("node_exporter's textfile collector reads only files ending in .prom")
	}
	if err := (sink.File{Path: path}).Check(); err != nil {
		var fe *sink.FileError
		if errors.As(err, &fe) {
			return errors.New(fe.Reason)
		}
		return err
	}
	return nil
}

// Redact hides the password of a Pushgateway URL (http://user:xxxxx@host/).
func Redact(gateway string) string {
	u, err := url.Parse(gateway)
	if err != nil {
		return "(a URL that does not parse)"
	}
	return u.Redacted()
}

// CheckPushgateway refuses a URL that is not http(s)://host[:port][/path].
func CheckPushgateway(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" {
		return errors.New("want http(s)://host[:port][/path]")
	}
	return nil
}

// WriteFile writes the run's metrics to path in the text format, atomically (a temporary file
// renamed into place, so that the collector never reads half a file), even when ctx is cancelled:
// an interrupted run still reports that it failed. A failed run keeps the previous file's other
// metrics.
func WriteFile(ctx context.Context, path string, r Run, labels map[string]string) error {
	fams, err := r.families(labels)
	if err != nil {
		return err
	}
	var replaced error // a previous file that does not parse is replaced, not kept
	if !r.Success {
		prev, err := readFile(path)
		if err != nil {
			replaced = fmt.Errorf("%w; replaced by this run's metrics", err)
		}
		for name, f := range prev {
			if !slices.ContainsFunc(fams, func(m *dto.MetricFamily) bool { return m.GetName() == name }) {
				fams = append(fams, f)
			}
		}
	}
	slices.SortFunc(fams, func(a, b *dto.MetricFamily) int { return cmp.Compare(a.GetName(), b.GetName()) })
	err = sink.WriteFile(context.WithoutCancel(ctx), sink.File{Path: path}, func(w io.Writer) error {
		for _, f := range fams {
			if _, err := expfmt.MetricFamilyToText(w, f); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("writing the metrics to %s: %w", path, err)
	}
	return replaced
}

// readFile reads the pg2s3 metrics of a previous file; a missing file has none.
func readFile(path string) (map[string]*dto.MetricFamily, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(f)
	if err != nil {
		return nil, fmt.Errorf("reading the previous metrics in %s: %w", path, err)
	}
	for name := range fams {
		if !strings.HasPrefix(name, "pg2s3_") {
			delete(fams, name)
		}
	}
	return fams, nil
}

// Push sends the run's metrics to the Pushgateway at gateway, in the group of job and labels. A
// successful run replaces the group (PUT); a failed one replaces only the run's own metrics
// (POST), so that the last success's time and figures stay. It gives up after timeout, and is
// not cut short by ctx's cancellation: an interrupted run still reports that it failed.
func Push(ctx context.Context, gateway, job string, labels map[string]string, r Run, timeout time.Duration) error {
	fams, err := r.families(nil)
	if err != nil {
		return err
	}
	if !r.Success {
		fams = slices.DeleteFunc(fams, func(f *dto.MetricFamily) bool { return !slices.Contains(runFamilies, f.GetName()) })
	}
	p := push.New(gateway, job).Gatherer(prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) { return fams, nil })).
		Client(&http.Client{Timeout: timeout})
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		p = p.Grouping(k, labels[k])
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	if r.Success {
		err = p.PushContext(ctx)
	} else {
		err = p.AddContext(ctx)
	}
	if err != nil {
		return fmt.Errorf("pushing the metrics to %s (job %q): %w", Redact(gateway), job, err)
	}
	return nil
}
