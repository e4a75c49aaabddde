package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/pg2s3/pg2s3/internal/testenv"
)

// These tests run the built binary, as a shell script would, against the servers of scripts/stack.sh.

var binary string

const testBuildDate = "2026-12-02T00:00:00Z"

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "pg2s3-bin")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "pg2s3")
	// As `make build` does: the VCS stamp from this work tree, and a build date (TestVersion reads both).
	build := exec.Command("go", "build", "-buildvcs=auto", "-ldflags", "-X github.com/pg2s3/pg2s3/command.BuildDate="+testBuildDate, "-o", binary, ".")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	code           int
	stdout, stderr string
	elapsed        time.Duration
}

// pg2s3 runs the binary with args and extra environment, and waits for it.
func pg2s3(t *testing.T, env []string, args ...string) result {
	t.Helper()
	// A hang must fail the test, not the whole suite at its timeout.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String(), elapsed: time.Since(start)}
	if err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatalf("running pg2s3: %v", err)
		}
	}
	if ctx.Err() != nil {
		t.Fatalf("pg2s3 %v did not finish within 5 minutes\n%s", args, stderr.String())
	}
	r.code = cmd.ProcessState.ExitCode()
	return r
}

func TestEnvironmentVariablesSetFlags(t *testing.T) {
	testenv.Stack(t)
	r := pg2s3(t, []string{"PG2S3_QUERY=SELECT 41 + 1", "PG2S3_TO=-", "PG2S3_HEADER=true", "PG2S3_QUIET=1"}, "export")
	if r.code != 0 || r.stdout != "?column?\n42\n" {
		t.Errorf("exit %d, stdout %q, stderr %s", r.code, r.stdout, r.stderr)
	}
	// DATABASE_URL is used when --dsn and PG2S3_DSN are absent; a broken one must be what fails.
	r = pg2s3(t, []string{"DATABASE_URL=postgres://nobody:pw@127.0.0.1:1/x?connect_timeout=5", "PG2S3_DSN="}, "export", "-c", "SELECT 1", "--to", "-")
	if r.code != 1 || !strings.Contains(r.stderr, "127.0.0.1:1") {
		t.Errorf("exit %d, stderr %s; want a connection error naming 127.0.0.1:1", r.code, r.stderr)
	}
}

func TestJSONSummary(t *testing.T) {
	bucket, client := testenv.Stack(t)
	k := testenv.Key(t)
	defer client.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: &bucket, Key: &k})
	r := pg2s3(t, nil, "export", "-c", "SELECT g FROM generate_series(1, 1000) g", "--to", "s3://"+bucket+"/"+k, "--json")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var sum map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &sum); err != nil {
		t.Fatalf("stdout is not one JSON object: %v\n%s", err, r.stdout)
	}
	for field, want := range map[string]any{"rows": 1000.0, "bytes": 3893.0, "parts": 1.0, "destination": "s3://" + bucket + "/" + k} {
		if sum[field] != want {
			t.Errorf("%s = %v, want %v", field, sum[field], want)
		}
	}
	for _, field := range []string{"seconds", "mb_per_s", "checksum"} {
		if _, ok := sum[field]; !ok {
			t.Errorf("JSON has no %q: %s", field, r.stdout)
		}
	}
	if r.stderr != "" {
		t.Errorf("stderr is not empty with --json and no terminal: %q", r.stderr)
	}
}

func TestPasswordNeverShown(t *testing.T) {
	testenv.Stack(t)
	const pw = "Sup3r-s3cret-pw"
	cases := map[string][]string{
		"URL":        {"--dsn", "postgres://postgres:" + pw + "@127.0.0.1:" + os.Getenv("PGPORT") + "/pg2s3?sslmode=disable"},
		"key=value":  {"--dsn", "host=127.0.0.1 port=" + os.Getenv("PGPORT") + " user=postgres password=" + pw + " dbname=pg2s3 sslmode=disable"},
		"PGPASSWORD": nil,
		"bad URL":    {"--dsn", "postgres://postgres:" + pw + "@127.0.0.1:notaport/pg2s3"},
	}
	for name, args := range cases {
		t.Run(name, func(t *testing.T) {
			env := []string{"PGPASSWORD=" + pw}
			r := pg2s3(t, env, append([]string{"export", "-c", "SELECT 1", "--to", "-", "-v"}, args...)...)
			if r.code == 0 {
				t.Fatalf("a wrong password was accepted")
			}
			if strings.Contains(r.stderr+r.stdout, pw) {
				t.Errorf("the password appears in the output:\n%s", r.stderr)
			}
			if name != "bad URL" && !strings.Contains(r.stderr, "password authentication failed") {
				t.Errorf("stderr does not say the password was wrong:\n%s", r.stderr)
			}
		})
	}
}

func TestConnectionErrorNamesHostAndPort(t *testing.T) {
	r := pg2s3(t, nil, "export", "--dsn", "postgres://u@127.0.0.1:1/db?connect_timeout=5", "-c", "SELECT 1", "--to", "-")
	if r.code != 1 || !strings.Contains(r.stderr, "127.0.0.1:1") || !strings.Contains(r.stderr, "connection refused") {
		t.Errorf("exit %d, stderr:\n%s", r.code, r.stderr)
	}
}

// A signal mid-stream: exit 128+signal within seconds, no object, no open upload.
func TestSignalMidStream(t *testing.T) {
	bucket, client := testenv.Stack(t)
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			k := testenv.Key(t)
			cmd := exec.Command(binary, "export", "--to", "s3://"+bucket+"/"+k, "--part-size", "5MiB", "-v",
				"-c", "SELECT g, md5(g::text) FROM (SELECT generate_series(1, 500000000) g) s")
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			// Wait until the multipart upload exists, so that the signal lands mid-stream.
			deadline := time.Now().Add(60 * time.Second)
			for time.Now().Before(deadline) {
				out, err := client.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: &bucket, Prefix: &k})
				if err == nil && len(out.Uploads) > 0 {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			time.Sleep(300 * time.Millisecond)
			start := time.Now()
			cmd.Process.Signal(sig)
			err := cmd.Wait()
			elapsed := time.Since(start)
			if err == nil {
				t.Fatalf("exit status 0 after %s", sig)
			}
			if got, want := cmd.ProcessState.ExitCode(), 128+int(sig); got != want {
				t.Errorf("exit status %d, want %d\n%s", got, want, stderr.String())
			}
			if elapsed > 30*time.Second {
				t.Errorf("took %s to exit after %s", elapsed, sig)
			}
			if want := map[syscall.Signal]string{syscall.SIGINT: "interrupted: received SIGINT", syscall.SIGTERM: "interrupted: received SIGTERM"}[sig]; !strings.Contains(stderr.String(), want) {
				t.Errorf("stderr does not say it was interrupted:\n%s", stderr.String())
			}
			testenv.AssertNothingLeft(t, client, bucket, k)
		})
	}
}

// Peak RSS of the binary stays within (concurrency+1) x part size plus a fixed overhead, and does
// not grow with the size of the table.
func TestMemoryBounded(t *testing.T) {
	bucket, client := testenv.Stack(t)
	psql := func(sql string) {
		t.Helper()
		if out, err := exec.Command("psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", os.Getenv("PG2S3_TEST_DSN"), "-c", sql).CombinedOutput(); err != nil {
			t.Fatalf("psql: %v\n%s", err, out)
		}
	}
	// About 110 and 440 MB of CSV.
	psql(`DROP TABLE IF EXISTS mem_small, mem_large;
		CREATE TABLE mem_small AS SELECT g AS id, md5(g::text) || md5((g+1)::text) AS a, now() AS ts, g * 0.5 AS n FROM generate_series(1, 1000000) g;
		CREATE TABLE mem_large AS SELECT * FROM mem_small, generate_series(1, 4);`)
	const partSize, concurrency = 8 << 20, 4
	const overhead = 64 << 20 // Go runtime, SDK, HTTP and pgconn buffers, and the compressors' blocks
	bound := int64(concurrency+1)*partSize + overhead
	rss := map[string]int64{}
	for _, run := range []struct{ table, compress string }{{"mem_small", "none"}, {"mem_large", "none"}, {"mem_large", "gzip"}, {"mem_large", "zstd"}} {
		table := run.table
		k := testenv.Key(t)
		defer client.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: &bucket, Key: aws.String(k + map[string]string{"gzip": ".gz", "zstd": ".zst"}[run.compress])})
		r := pg2s3(t, nil, "export", "-t", table, "--to", "s3://"+bucket+"/"+k, "--part-size", "8MiB", "--concurrency", "4", "--json", "--compress", run.compress)
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		var sum struct {
			Bytes   int64
			PeakRSS int64 `json:"peak_rss_bytes"`
		}
		json.Unmarshal([]byte(r.stdout), &sum)
		if sum.PeakRSS == 0 {
			t.Fatalf("no peak_rss_bytes in %s", r.stdout)
		}
		// pg2s3's own VmHWM: rusage's ru_maxrss would carry this test process's peak (vfork).
		peak := sum.PeakRSS
		t.Logf("%s, compression %s: %d MB stored, peak RSS %.1f MiB (bound %.0f MiB)", table, run.compress, sum.Bytes/1e6, float64(peak)/(1<<20), float64(bound)/(1<<20))
		if peak > bound {
			t.Errorf("%s, compression %s: peak RSS %d bytes exceeds the documented bound %d", table, run.compress, peak, bound)
		}
		if run.compress == "none" {
			rss[table] = peak
		}
	}
	// A multi-table run: every part buffer comes out of --memory-limit.
	prefix := testenv.Key(t) + "/"
	r := pg2s3(t, nil, "export", "-t", "mem_large", "-t", "mem_small", "--to", "s3://"+bucket+"/"+prefix, "--jobs", "2",
		"--chunk-size", "64MiB", "--part-size", "8MiB", "--concurrency", "4", "--memory-limit", "48MiB", "--json")
	if r.code != 0 {
		t.Fatalf("multi-table: exit %d: %s", r.code, r.stderr)
	}
	var multi struct {
		PeakRSS int64 `json:"peak_rss_bytes"`
	}
	if json.Unmarshal([]byte(r.stdout), &multi); multi.PeakRSS == 0 {
		t.Fatalf("no peak_rss_bytes in %s", r.stdout)
	}
	t.Logf("multi-table, --jobs 2, --memory-limit 48MiB: peak RSS %.1f MiB (bound %.0f MiB)", float64(multi.PeakRSS)/(1<<20), float64(48<<20+overhead)/(1<<20))
	if multi.PeakRSS > 48<<20+overhead {
		t.Errorf("multi-table: peak RSS %d bytes exceeds --memory-limit plus overhead", multi.PeakRSS)
	}
	if cleanup := pg2s3(t, nil, "cleanup", "s3://"+bucket+"/"+prefix, "--older-than", "0s", "--quiet"); cleanup.code != 0 {
		t.Errorf("cleanup after the runs: exit %d: %s", cleanup.code, cleanup.stderr)
	}
	// 4x the data (340 MB more) may not cost more than the GC's noise: memory that grew with the table
	// would show as hundreds of MiB here.
	if rss["mem_large"] > rss["mem_small"]+32<<20 {
		t.Errorf("peak RSS grew with the table: %d bytes for 4x the data vs %d", rss["mem_large"], rss["mem_small"])
	}
}

func TestCleanup(t *testing.T) {
	bucket, client := testenv.Stack(t)
	prefix := testenv.Key(t) + "/"
	var ids []string
	for _, k := range []string{prefix + "a.csv", prefix + "sub/b.csv"} {
		out, err := client.CreateMultipartUpload(context.Background(), &s3.CreateMultipartUploadInput{Bucket: &bucket, Key: aws.String(k)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, aws.ToString(out.UploadId))
	}
	// Younger than --older-than: listed, kept.
	r := pg2s3(t, nil, "cleanup", "s3://"+bucket+"/"+prefix, "--older-than", "1h")
	if r.code != 0 || strings.Count(r.stdout, "kept") != 2 || !strings.Contains(r.stderr, "2 incomplete uploads") {
		t.Errorf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// --dry-run: listed, not aborted.
	r = pg2s3(t, nil, "cleanup", "s3://"+bucket+"/"+prefix+"sub/", "--older-than", "0s", "--dry-run", "--json")
	var rows []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &rows); r.code != 0 || err != nil || len(rows) != 1 || rows[0]["action"] != "would abort" || rows[0]["upload_id"] != ids[1] {
		t.Errorf("dry run: %v\n%s%s", err, r.stdout, r.stderr)
	}
	// Then for real: both aborted, nothing left.
	r = pg2s3(t, nil, "cleanup", "s3://"+bucket+"/"+prefix, "--older-than", "0s")
	if r.code != 0 || strings.Count(r.stdout, "aborted") != 2 {
		t.Errorf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, k := range []string{prefix + "a.csv", prefix + "sub/b.csv"} {
		testenv.AssertNothingLeft(t, client, bucket, k)
	}
}

// --print-load-sql prints the statement without connecting anywhere (the DSN here goes nowhere).
func TestPrintLoadSQL(t *testing.T) {
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"--preset", "redshift", "-t", "public.orders"}, []string{"COPY public.orders FROM 's3://bkt/exports/orders.csv.gz'", "FORMAT AS CSV", `NULL AS '\N'`, "GZIP", "IGNOREHEADER 0"}},
		{[]string{"--preset", "snowflake", "-t", "orders", "--load-table", "db.s.orders"}, []string{"COPY INTO db.s.orders FROM 's3://bkt/exports/orders.csv.zst'", "SKIP_HEADER = 1", "EMPTY_FIELD_AS_NULL = TRUE", "COMPRESSION = ZSTD"}},
		{[]string{"--preset", "duckdb", "-c", "SELECT 1"}, []string{"CREATE TABLE my_table AS SELECT * FROM read_csv('s3://bkt/exports/orders.csv.zst'", "allow_quoted_nulls = false", "header = true"}},
		{[]string{"--preset", "postgres", "-t", "orders", "--force-not-null", "note"}, []string{"aws s3 cp s3://bkt/exports/orders.csv -", `\copy orders FROM STDIN WITH (FORMAT csv, FORCE_NOT_NULL ("note"))`}},
		{[]string{"--preset", "bigquery", "-t", "ds.orders", "--compress", "none"}, []string{"bq load --source_format=CSV --skip_leading_rows=1", "ds.orders gs://bkt/exports/orders.csv"}},
		{[]string{"--preset", "clickhouse", "-t", "orders", "--header=false", "--endpoint-url", "http://minio:9000"}, []string{"s3('http://minio:9000/bkt/exports/orders.csv.zst', 'CSV', 'zstd')"}},
	}
	for _, tt := range tests {
		args := append([]string{"export", "--dsn", "postgres://u:secret@127.0.0.1:1/x", "--to", "s3://bkt/exports/orders.csv", "--print-load-sql"}, tt.args...)
		r := pg2s3(t, nil, args...)
		if r.code != 0 {
			t.Errorf("%v: exit %d: %s", tt.args, r.code, r.stderr)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(r.stdout, w) {
				t.Errorf("%v: the statement lacks %q:\n%s", tt.args, w, r.stdout)
			}
		}
	}
}
