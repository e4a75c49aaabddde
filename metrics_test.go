package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/pg2s3/pg2s3/internal/testenv"
)

// pushgateway is the stack's Pushgateway (PG2S3_TEST_PUSHGATEWAY).
func pushgateway(t *testing.T) string {
	t.Helper()
	gw := os.Getenv("PG2S3_TEST_PUSHGATEWAY")
	if gw == "" {
		t.Skip("PG2S3_TEST_PUSHGATEWAY is not set: run the tests with `make test` (scripts/stack.sh starts a Pushgateway)")
	}
	return gw
}

// slowDownFirstPut is a proxy to the stack's MinIO that answers the first PUT with 503 SlowDown,
// so that a run has exactly one retry to count.
func slowDownFirstPut(t *testing.T) string {
	t.Helper()
	rp := testenv.StoreProxy(t)
	var puts atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && r.URL.Query().Get("uploadId") == "" && puts.Add(1) == 1 {
			io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>`)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// gauge finds a metric's value among families by its labels; ok is false when there is none.
func gauge(fams map[string]*dto.MetricFamily, name string, labels map[string]string) (v float64, ok bool) {
	for _, m := range fams[name].GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		match := len(have) == len(labels)
		for k, v := range labels {
			match = match && have[k] == v
		}
		if match {
			return m.GetGauge().GetValue(), true
		}
	}
	return 0, false
}

func readMetricsFile(t *testing.T, path string) map[string]*dto.MetricFamily {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(f)
	if err != nil {
		t.Fatalf("%s is not Prometheus' text format: %v", path, err)
	}
	return fams
}

// readPushgateway reads the group of job from the Pushgateway's API: metric name -> the values of
// its metrics, keyed by their table label ("" for run-level metrics).
func readPushgateway(t *testing.T, gw, job string) map[string]map[string]float64 {
	t.Helper()
	return readPushgatewayGroup(t, gw, job, map[string]string{"env": "test"})
}

// readPushgatewayJob reads the group of job that has no other label.
func readPushgatewayJob(t *testing.T, gw, job string) map[string]map[string]float64 {
	t.Helper()
	return readPushgatewayGroup(t, gw, job, nil)
}

func readPushgatewayGroup(t *testing.T, gw, job string, want map[string]string) map[string]map[string]float64 {
	t.Helper()
	resp, err := http.Get(gw + "/api/v1/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Data []map[string]json.RawMessage `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("the Pushgateway's /api/v1/metrics: %v", err)
	}
	for _, group := range body.Data {
		var labels map[string]string
		json.Unmarshal(group["labels"], &labels)
		if labels["job"] != job {
			continue
		}
		for k, v := range want {
			if labels[k] != v {
				t.Errorf("group labels %v lack %s=%s", labels, k, v)
			}
		}
		out := map[string]map[string]float64{}
		for name, raw := range group {
			var fam struct {
				Metrics []struct {
					Labels map[string]string `json:"labels"`
					Value  string            `json:"value"`
				} `json:"metrics"`
			}
			if json.Unmarshal(raw, &fam) != nil || len(fam.Metrics) == 0 {
				continue
			}
			out[name] = map[string]float64{}
			for _, m := range fam.Metrics {
				v, _ := strconv.ParseFloat(m.Value, 64)
				out[name][m.Labels["table"]] = v
			}
		}
		return out
	}
	t.Fatalf("the Pushgateway has no group for job %q", job)
	return nil
}

// A run's metrics, in the textfile collector's file and on a real Pushgateway: rows, bytes, objects
// and parts per table, retries, duration, success, last success; then a failed run sets success 0
// and keeps the last success's time and figures in both.
func TestMetrics(t *testing.T) {
	bucket, client := testenv.Stack(t)
	gw := pushgateway(t)
	testenv.Psql(t, `DROP TABLE IF EXISTS metrics_a, metrics_b;
		CREATE TABLE metrics_a AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 1000) g;
		CREATE TABLE metrics_b AS SELECT g AS id FROM generate_series(1, 10) g`)
	t.Cleanup(func() { testenv.Psql(t, "DROP TABLE IF EXISTS metrics_a, metrics_b") })
	prefix := testenv.Prefix(t, client, bucket)
	dir := t.TempDir()
	file := filepath.Join(dir, "pg2s3.prom")
	job := fmt.Sprintf("pg2s3-test-%d", time.Now().UnixNano())
	t.Cleanup(func() {
		req, _ := http.NewRequest(http.MethodDelete, gw+"/metrics/job/"+job+"/env/test", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	})
	report := []string{"--metrics-file", file, "--pushgateway", gw, "--metrics-job", job, "--metrics-label", "env=test", "-q"}

	before := float64(time.Now().Unix())
	r := pg2s3(t, nil, append([]string{"export", "-t", "metrics_a", "-t", "metrics_b", "--to", "s3://" + bucket + "/" + prefix,
		"--endpoint-url", slowDownFirstPut(t), "--jobs", "1"}, report...)...)
	if r.code != 0 {
		t.Fatalf("export: exit %d: %s", r.code, r.stderr)
	}
	m := readManifest(t, client, "s3://"+bucket+"/"+prefix+"manifest.json")
	fams := readMetricsFile(t, file)
	env := map[string]string{"env": "test"}
	pushed := readPushgateway(t, gw, job)
	for _, mt := range m.Tables {
		parts := 0
		for _, o := range m.Objects {
			if o.Table == mt.Name {
				parts += o.Parts
			}
		}
		for name, want := range map[string]float64{"pg2s3_rows": float64(mt.Rows), "pg2s3_bytes": float64(mt.Bytes),
			"pg2s3_source_bytes": float64(mt.CSVBytes), "pg2s3_objects": float64(mt.Objects), "pg2s3_parts": float64(parts)} {
			label := strings.ReplaceAll(strings.Trim(mt.Name, `"`), `"."`, ".") // "public"."metrics_a" is public.metrics_a
			if got, ok := gauge(fams, name, map[string]string{"env": "test", "table": label}); !ok || got != want {
				t.Errorf("file: %s{table=%q} = %v (present %v), want %v", name, label, got, ok, want)
			}
			if got := pushed[name][label]; got != want {
				t.Errorf("Pushgateway: %s{table=%q} = %v, want %v", name, mt.Name, got, want)
			}
		}
	}
	if rows, _ := gauge(fams, "pg2s3_rows", map[string]string{"env": "test", "table": "public.metrics_a"}); rows != 1000 {
		t.Errorf("pg2s3_rows of metrics_a = %v, want 1000", rows)
	}
	for name, want := range map[string]float64{"pg2s3_success": 1, "pg2s3_s3_retries": 1} {
		if got, _ := gauge(fams, name, env); got != want {
			t.Errorf("file: %s = %v, want %v", name, got, want)
		}
		if got := pushed[name][""]; got != want {
			t.Errorf("Pushgateway: %s = %v, want %v", name, got, want)
		}
	}
	lastSuccess, _ := gauge(fams, "pg2s3_last_success_timestamp_seconds", env)
	lastRun, _ := gauge(fams, "pg2s3_last_run_timestamp_seconds", env)
	took, _ := gauge(fams, "pg2s3_duration_seconds", env)
	if lastSuccess != lastRun || lastRun < before-1 || lastRun > float64(time.Now().Unix())+1 || took <= 0 || took > r.elapsed.Seconds() {
		t.Errorf("last success %v, last run %v, duration %v (the run took %v from %v)", lastSuccess, lastRun, took, r.elapsed, before)
	}

	// A failed run: success 0, its own time and duration; the last success and its figures stay.
	r = pg2s3(t, nil, append([]string{"export", "-c", "SELECT 1/(g - 5) FROM generate_series(1, 10) g", "--to", "s3://" + bucket + "/" + testenv.Key(t)}, report...)...)
	if r.code != 1 {
		t.Fatalf("the failing export: exit %d, want 1: %s", r.code, r.stderr)
	}
	fams = readMetricsFile(t, file)
	pushed = readPushgateway(t, gw, job)
	if got, _ := gauge(fams, "pg2s3_success", env); got != 0 || pushed["pg2s3_success"][""] != 0 {
		t.Errorf("after a failure, success is %v in the file and %v on the Pushgateway, want 0", got, pushed["pg2s3_success"][""])
	}
	if got, _ := gauge(fams, "pg2s3_last_success_timestamp_seconds", env); got != lastSuccess || pushed["pg2s3_last_success_timestamp_seconds"][""] != lastSuccess {
		t.Errorf("after a failure, the last success is %v (file), %v (Pushgateway), want it kept at %v",
			got, pushed["pg2s3_last_success_timestamp_seconds"][""], lastSuccess)
	}
	if got, _ := gauge(fams, "pg2s3_last_run_timestamp_seconds", env); got <= lastRun || math.IsNaN(got) {
		t.Errorf("after a failure, the last run is %v, want later than %v", got, lastRun)
	}
	if got, _ := gauge(fams, "pg2s3_rows", map[string]string{"env": "test", "table": "public.metrics_a"}); got != 1000 || pushed["pg2s3_rows"]["public.metrics_a"] != 1000 {
		t.Errorf("after a failure, the last success's rows are %v (file), %v (Pushgateway), want 1000 kept", got, pushed["pg2s3_rows"]["public.metrics_a"])
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("the metrics folder holds %d entries, want the file alone (no temporary files left)", len(entries))
	}

	// An unreachable Pushgateway (a closed local port) is a warning; the export's own status stands.
	r = pg2s3(t, nil, "export", "-c", "SELECT 1", "--to", filepath.Join(dir, "one.csv"), "--pushgateway", "http://127.0.0.1:1", "-q")
	if r.code != 0 || !containsAll(r.stderr, "warning", "pushing the metrics to http://127.0.0.1:1") {
		t.Errorf("an unreachable Pushgateway: exit %d: %s", r.code, r.stderr)
	}
	// Its password is never printed, in the warning or in a usage error.
	r = pg2s3(t, nil, "export", "-c", "SELECT 1", "--to", filepath.Join(dir, "two.csv"), "--pushgateway", "http://u:S3cret@127.0.0.1:1", "-q")
	if r.code != 0 || !strings.Contains(r.stderr, "pushing the metrics to http://u:xxxxx@127.0.0.1:1") || strings.Contains(r.stderr, "S3cret") {
		t.Errorf("a Pushgateway with a password: exit %d: %s", r.code, r.stderr)
	}
	r = pg2s3(t, nil, "export", "-c", "SELECT 1", "--to", "-", "--pushgateway", "http://u:S3cret@127.0.0.1:1/?q=1")
	if r.code != 2 || !strings.Contains(r.stderr, "--pushgateway") || strings.Contains(r.stderr, "S3cret") {
		t.Errorf("a bad Pushgateway URL with a password: exit %d: %s", r.code, r.stderr)
	}

	// A previous file that does not parse is replaced, with a warning: a failed run's success 0 is
	// written all the same.
	if err := os.WriteFile(file, []byte("garbage {{{\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r = pg2s3(t, nil, "export", "-c", "SELECT 1/0", "--to", filepath.Join(dir, "three.csv"), "--metrics-file", file, "--metrics-label", "env=test", "-q")
	if r.code != 1 || !containsAll(r.stderr, "warning", "replaced by this run's metrics") {
		t.Errorf("a failed run over a corrupt metrics file: exit %d: %s", r.code, r.stderr)
	}
	fams = readMetricsFile(t, file)
	if got, ok := gauge(fams, "pg2s3_success", env); !ok || got != 0 {
		t.Errorf("after a failed run over a corrupt file, pg2s3_success is %v (present %v), want 0", got, ok)
	}
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
