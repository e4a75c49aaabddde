package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/pg2s3/pg2s3/bench"
	"github.com/pg2s3/pg2s3/internal/testenv"
)

const benchQuery = "SELECT g, md5(g::text), CASE WHEN g % 7 = 0 THEN NULL ELSE '' END FROM generate_series(1, 50000) g"

func TestBenchJSONHasEveryField(t *testing.T) {
	testenv.Stack(t)
	r := pg2s3(t, nil, "bench", "-c", benchQuery, "--runs", "2", "--json", "--quiet")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var rep map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, r.stdout)
	}
	for _, f := range []string{"source", "destination", "runs", "batch", "approaches", "sha256_agree", "sha256_note"} {
		if _, ok := rep[f]; !ok {
			t.Errorf("report has no %q", f)
		}
	}
	if rep["sha256_agree"] != true {
		t.Errorf("the approaches' outputs differ: %v", rep["sha256_note"])
	}
	approaches := rep["approaches"].([]any)
	if len(approaches) != 4 {
		t.Fatalf("%d approaches, want 4", len(approaches))
	}
	for _, a := range approaches {
		s := a.(map[string]any)
		for _, f := range []string{"approach", "failed", "runs", "ok_runs", "rows", "bytes", "sha256", "seconds", "rows_per_s",
			"mb_per_s", "cpu_seconds", "peak_rss_mib", "time_vs_copy", "cpu_vs_copy", "rss_vs_copy", "results"} {
			if _, ok := s[f]; !ok {
				t.Errorf("%v has no %q", s["approach"], f)
			}
		}
		for _, f := range []string{"seconds", "rows_per_s", "mb_per_s", "cpu_seconds", "peak_rss_mib"} {
			st := s[f].(map[string]any)
			if st["median"].(float64) <= 0 || st["min"].(float64) > st["median"].(float64) || st["max"].(float64) < st["median"].(float64) {
				t.Errorf("%v %s: %v is not a sane median/min/max", s["approach"], f, st)
			}
		}
		if s["rows"].(float64) != 50000 || s["failed"] != false || s["runs"].(float64) != 2 {
			t.Errorf("%v: rows %v failed %v runs %v", s["approach"], s["rows"], s["failed"], s["runs"])
		}
		for _, res := range s["results"].([]any) {
			for _, f := range []string{"approach", "rows", "bytes", "sha256", "seconds", "user_seconds", "sys_seconds", "peak_rss_bytes"} {
				if _, ok := res.(map[string]any)[f]; !ok {
					t.Errorf("a result of %v has no %q", s["approach"], f)
				}
			}
		}
	}
}

func TestBenchReportsFailedApproach(t *testing.T) {
	testenv.Stack(t)
	// A real server error in one approach only: current_query() is the statement the backend runs,
	// FETCH for the cursor approach, the query itself for the memory approach, COPY for copy.
	failIn := func(prefix string) string {
		return "SELECT g, 10 / CASE WHEN current_query() LIKE '" + prefix + "%' THEN 0 ELSE 1 END AS q FROM generate_series(1, 1000) g"
	}
	r := pg2s3(t, nil, "bench", "-c", failIn("FETCH"), "--runs", "1", "--quiet")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if !strings.Contains(r.stdout, "cursor") || !strings.Contains(r.stdout, "FAILED: ERROR: division by zero (SQLSTATE 22012)") {
		t.Errorf("the failed approach is not reported:\n%s", r.stdout)
	}
	if !strings.Contains(r.stdout, "memory") || !strings.Contains(r.stdout, "identical") {
		t.Errorf("the other approaches are not reported:\n%s", r.stdout)
	}
	r = pg2s3(t, nil, "bench", "-c", failIn("SELECT"), "--runs", "1", "--markdown", "--quiet")
	if r.code != 0 {
		t.Fatalf("--markdown: exit %d: %s", r.code, r.stderr)
	}
	if !strings.Contains(r.stdout, "| memory | FAILED") || !strings.Contains(r.stdout, "| copy |") {
		t.Errorf("markdown report:\n%s", r.stdout)
	}
}

func TestBenchToS3(t *testing.T) {
	bucket, client := testenv.Stack(t)
	prefix := testenv.Key(t) + "/"
	svg := t.TempDir() + "/bench.svg"
	r := pg2s3(t, nil, "bench", "-c", benchQuery, "--runs", "1", "--to", "s3://"+bucket+"/"+prefix, "--json", "--svg", svg, "--quiet")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var rep bench.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatal(err)
	}
	for _, s := range rep.Approaches {
		k := prefix + s.Approach + ".csv"
		if s.Approach == bench.Parquet {
			k = prefix + "parquet.parquet"
			if b := testenv.Get(t, client, bucket, k); !bytes.HasPrefix(b, []byte("PAR1")) || int64(len(b)) != s.Bytes || s.Rows != rep.Approaches[0].Rows {
				t.Errorf("parquet: %d bytes (report: %d), %d rows (copy: %d)", len(b), s.Bytes, s.Rows, rep.Approaches[0].Rows)
			}
			testenv.Remove(t, client, bucket, k)
			continue
		}
		out, err := client.GetObject(context.Background(), &s3.GetObjectInput{Bucket: &bucket, Key: &k})
		if err != nil {
			t.Fatalf("%s: %v", s.Approach, err)
		}
		h := sha256.New()
		io.Copy(h, out.Body)
		out.Body.Close()
		if got := hex.EncodeToString(h.Sum(nil)); got != s.SHA256 {
			t.Errorf("%s: object sha256 %s, report says %s", s.Approach, got, s.SHA256)
		}
		client.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: &bucket, Key: &k})
	}
	b, err := os.ReadFile(svg)
	if err != nil || !strings.HasPrefix(string(b), "<svg") || !strings.Contains(string(b), "peak RSS") || !strings.Contains(string(b), "CPU time") {
		t.Errorf("svg: %v\n%.200s", err, b)
	}
}
