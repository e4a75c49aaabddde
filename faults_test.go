package main

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/pg2s3/pg2s3/internal/testenv"
)

func faultRuns() int {
	if n, err := strconv.Atoi(os.Getenv("PG2S3_FAULT_RUNS")); err == nil && n > 0 {
		return n
	}
	return 2
}

// Signals at random points of a large export. SIGINT and SIGTERM must leave nothing behind;
// after SIGKILL only `pg2s3 cleanup` can help, and it must find and abort what was left.
func TestSignalsAtRandomPoints(t *testing.T) {
	bucket, client := testenv.Stack(t)
	var report strings.Builder
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGKILL} {
		runs, clean, visible, open, cleanedUp := 0, 0, 0, 0, 0
		t.Run(sig.String(), func(t *testing.T) {
			for run := 0; run < faultRuns(); run++ {
				k := testenv.Key(t)
				cmd := exec.Command(binary, "export", "--to", "s3://"+bucket+"/"+k, "--part-size", "5MiB",
					"-c", "SELECT g, md5(g::text) FROM (SELECT generate_series(1, 500000000) g) s")
				var stderr bytes.Buffer
				cmd.Stderr = &stderr
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				var delay time.Duration
				if run == 0 {
					// The first run signals once the multipart upload exists, so that each signal is
					// seen mid-upload at least once (and SIGKILL leaves something for cleanup).
					start := time.Now()
					for time.Since(start) < 60*time.Second && len(openUploadIDs(t, client, bucket, k)) == 0 {
						time.Sleep(20 * time.Millisecond)
					}
					delay = time.Since(start)
				} else {
					delay = time.Duration(rand.Int64N(int64(2 * time.Second)))
					time.Sleep(delay)
				}
				cmd.Process.Signal(sig)
				done := make(chan error, 1)
				go func() { done <- cmd.Wait() }()
				select {
				case <-done:
				case <-time.After(60 * time.Second):
					cmd.Process.Kill()
					t.Fatalf("still running 60s after %s", sig)
				}
				runs++
				code := cmd.ProcessState.ExitCode()
				if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == sig {
					// The signal came before the handlers were installed (in the first milliseconds):
					// the shell sees the same status, 128+signal, and nothing was started yet.
					code = 128 + int(sig)
				}
				if sig != syscall.SIGKILL && code != 128+int(sig) {
					t.Errorf("after %s at %s: exit status %d, want %d\n%s", sig, delay, code, 128+int(sig), stderr.String())
				}
				ok := true
				if _, err := client.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &bucket, Key: &k}); err == nil {
					visible++
					ok = false
					t.Errorf("after %s at %s: the object is visible", sig, delay)
				}
				left := openUploadIDs(t, client, bucket, k)
				if sig == syscall.SIGKILL && len(left) > 0 {
					r := pg2s3(t, nil, "cleanup", "s3://"+bucket+"/"+k, "--older-than", "0s")
					if r.code != 0 || !strings.Contains(r.stdout, left[0]) || !strings.Contains(r.stdout, "aborted") {
						t.Errorf("cleanup after SIGKILL: exit %d\n%s%s", r.code, r.stdout, r.stderr)
					}
					if len(openUploadIDs(t, client, bucket, k)) == 0 {
						cleanedUp++
					}
				} else if len(left) > 0 {
					open++
					ok = false
					t.Errorf("after %s at %s: uploads left open: %v", sig, delay, left)
				}
				if ok {
					clean++
				}
			}
		})
		name := map[syscall.Signal]string{syscall.SIGINT: "SIGINT", syscall.SIGTERM: "SIGTERM", syscall.SIGKILL: "SIGKILL (then `pg2s3 cleanup`)"}[sig]
		leftOpen := strconv.Itoa(open)
		if sig == syscall.SIGKILL {
			leftOpen = fmt.Sprintf("%d (%d found and aborted by cleanup)", open, cleanedUp)
		}
		fmt.Fprintf(&report, "| %s mid-upload, then at random points in the first 2 s | %d | 0 | %d | %d | %s | 0 | 0 |\n", name, runs, clean, visible, leftOpen)
	}
	if dir := os.Getenv("PG2S3_FAULT_REPORT_DIR"); dir != "" {
		os.WriteFile(filepath.Join(dir, "signals.md"), []byte(report.String()), 0o644)
	}
}

func openUploadIDs(t *testing.T, c *s3.Client, bucket, k string) []string {
	t.Helper()
	out, err := c.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: &bucket, Prefix: &k})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, u := range out.Uploads {
		if *u.Key == k {
			ids = append(ids, *u.UploadId)
		}
	}
	return ids
}

// Bad input: a clear error naming what was wrong, exit status 1, nothing created.
func TestBadInputFailsCleanly(t *testing.T) {
	bucket, client := testenv.Stack(t)
	port := os.Getenv("PGPORT")
	pw := os.Getenv("PGPASSWORD")
	noCreds := []string{"AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY=", "AWS_SHARED_CREDENTIALS_FILE=/nonexistent",
		"AWS_CONFIG_FILE=/nonexistent", "AWS_EC2_METADATA_DISABLED=true", "AWS_PROFILE="}
	tests := []struct {
		name string
		env  []string
		args []string
		want []string
	}{
		{name: "unreachable host", args: []string{"--dsn", "postgres://postgres@127.0.0.1:1/pg2s3?connect_timeout=5"},
			want: []string{"127.0.0.1:1", "connection refused"}},
		{name: "wrong password", args: []string{"--dsn", "postgres://postgres:wrong@127.0.0.1:" + port + "/pg2s3?sslmode=disable"},
			want: []string{"password authentication failed", "28P01"}},
		{name: "database missing", args: []string{"--dsn", "postgres://postgres:" + pw + "@127.0.0.1:" + port + "/no_such_db?sslmode=disable"},
			want: []string{`database "no_such_db" does not exist`, "3D000"}},
		{name: "TLS certificate not trusted", args: []string{"--dsn", "postgres://postgres:" + pw + "@127.0.0.1:" + port + "/pg2s3?sslmode=verify-full"},
			want: []string{"127.0.0.1:" + port, "certificate"}},
		{name: "no credentials", env: noCreds, want: []string{"no usable AWS credentials"}},
		{name: "wrong credentials", env: []string{"AWS_SECRET_ACCESS_KEY=wrong-secret"}, want: []string{"SignatureDoesNotMatch"}},
		{name: "unknown access key", env: []string{"AWS_ACCESS_KEY_ID=nobody"}, want: []string{"InvalidAccessKeyId"}},
		{name: "bucket missing", args: []string{"--to", "s3://pg2s3-no-such-bucket/x.csv"}, want: []string{"NoSuchBucket", "s3://pg2s3-no-such-bucket/x.csv"}},
		{name: "endpoint does not answer", args: []string{"--endpoint-url", "http://127.0.0.1:1", "--retries", "2"},
			want: []string{"the S3 endpoint did not answer", "127.0.0.1:1", "connection refused", "gave up after 2 attempts"}},
		{name: "query not read-only", args: []string{"-c", "DELETE FROM pg_catalog.pg_class RETURNING 1"}, want: []string{"read-only transaction", "25006"}},
		{name: "table not found", args: []string{"-t", "no_such_table"}, want: []string{`table "no_such_table" does not exist`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rStderr string
			k := testenv.Key(t)
			args := []string{"export", "--to", "s3://" + bucket + "/" + k}
			if !strings.HasPrefix(strings.Join(tt.args, " "), "-t ") && !strings.HasPrefix(strings.Join(tt.args, " "), "-q ") {
				args = append(args, "-c", "SELECT g FROM generate_series(1, 3000000) g")
			}
			args = append(args, tt.args...) // a later flag wins
			t.Cleanup(func() { t.Logf("stderr:\n%s", rStderr) })
			r := pg2s3(t, tt.env, args...)
			rStderr = r.stderr
			if r.code != 1 {
				t.Errorf("exit status %d, want 1", r.code)
			}
			for _, w := range tt.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr does not mention %q:\n%s", w, r.stderr)
				}
			}
			if strings.Count(strings.TrimSpace(r.stderr), "\n") > 6 || strings.Contains(r.stderr, "goroutine ") {
				t.Errorf("the error is not short and clear:\n%s", r.stderr)
			}
			testenv.AssertNothingLeft(t, client, bucket, k)
		})
	}
}
