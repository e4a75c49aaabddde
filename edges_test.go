package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/pg2s3/pg2s3/engine"
	"github.com/pg2s3/pg2s3/internal/testenv"
)

// The object options reach every object a run writes: the manifest (the object a loader reads
// first), the per-table manifests and an incremental run's state, not only the data.
func TestObjectOptionsOnEveryObject(t *testing.T) {
	bucket, client := testenv.Stack(t)
	testenv.Psql(t, `DROP TABLE IF EXISTS tag_a, tag_b;
		CREATE TABLE tag_a AS SELECT g AS id, now() AS updated_at FROM generate_series(1, 100) g;
		CREATE TABLE tag_b AS SELECT g AS id, now() AS updated_at FROM generate_series(1, 50) g;`)
	t.Cleanup(func() { testenv.Psql(t, "DROP TABLE IF EXISTS tag_a, tag_b") })
	prefix := testenv.Prefix(t, client, bucket)
	r := pg2s3(t, nil, "export", "-t", "tag_a", "-t", "tag_b", "--to", "s3://"+bucket+"/"+prefix, "--preset", "redshift",
		"--incremental", "updated_at", "--tag", "team=data", "--tag", "cost=etl", "--metadata", "source=nightly", "-q")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	keys := testenv.ListKeys(t, client, bucket, prefix)
	kinds := map[string]bool{}
	for _, k := range keys {
		switch {
		case strings.HasSuffix(k, "/manifest.json"):
			kinds["manifest"] = true
		case strings.Contains(k, "_pg2s3/"):
			kinds["state"] = true
		case strings.HasSuffix(k, ".manifest.json"):
			kinds["table manifest"] = true
		default:
			kinds["data"] = true
		}
	}
	if len(kinds) != 4 {
		t.Fatalf("the run wrote %v, want data, a manifest, table manifests and state objects: %v", kinds, keys)
	}
	for _, k := range keys {
		tags, err := client.GetObjectTagging(context.Background(), &s3.GetObjectTaggingInput{Bucket: &bucket, Key: aws.String(k)})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, tag := range tags.TagSet {
			got[aws.ToString(tag.Key)] = aws.ToString(tag.Value)
		}
		if got["team"] != "data" || got["cost"] != "etl" {
			t.Errorf("s3://%s/%s: tags %v, want team=data and cost=etl", bucket, k, got)
		}
		head, err := client.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &bucket, Key: aws.String(k)})
		if err != nil {
			t.Fatal(err)
		}
		if head.Metadata["source"] != "nightly" {
			t.Errorf("s3://%s/%s: metadata %v, want source=nightly", bucket, k, head.Metadata)
		}
	}
}

// answerDropper is a proxy to the stack's store that, for the first request drop matches, lets the
// store apply it and then closes the connection without its answer: the outcome the client cannot
// see. Requests deny matches are refused (AccessDenied) without reaching the store.
type answerDropper struct {
	url     string
	dropped atomic.Int64
}

func newAnswerDropper(t *testing.T, drop, deny func(*http.Request) bool) *answerDropper {
	t.Helper()
	rp := testenv.StoreProxy(t)
	d := &answerDropper{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if deny != nil && deny(r) {
			io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>fault: denied</Message></Error>`)
			return
		}
		if drop(r) && d.dropped.Add(1) == 1 {
			rp.ServeHTTP(httptest.NewRecorder(), r) // applied by the store; the answer goes nowhere
			panic(http.ErrAbortHandler)             // the connection closes without an answer
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	d.url = srv.URL
	return d
}

func isComplete(r *http.Request) bool {
	return r.Method == http.MethodPost && r.URL.Query().Has("uploadId")
}

// A write whose answer is lost after the store applied it (a CompleteMultipartUpload, a PutObject)
// is settled by a HEAD: counted as written when the object holds the streamed bytes, and then
// deleted with the others when the run fails; the exit code and the bucket agree.
func TestLostAnswerSettled(t *testing.T) {
	bucket, client := testenv.Stack(t)
	testenv.Psql(t, `DROP TABLE IF EXISTS lost_big, lost_small;
		CREATE TABLE lost_big AS SELECT g AS id, md5(g::text) || md5((g*7)::text) AS s FROM generate_series(1, 200000) g;
		CREATE TABLE lost_small AS SELECT g AS id FROM generate_series(1, 100) g;`)
	t.Cleanup(func() { testenv.Psql(t, "DROP TABLE IF EXISTS lost_big, lost_small") })
	args := func(to, endpoint string) []string {
		return []string{"export", "-t", "lost_big", "-t", "lost_small", "--to", to, "--part-size", "5MiB", "--chunk-size", "1GiB",
			"--endpoint-url", endpoint, "--retries", "3", "--json"}
	}

	t.Run("complete", func(t *testing.T) {
		d := newAnswerDropper(t, isComplete, nil)
		prefix := testenv.Prefix(t, client, bucket)
		r := pg2s3(t, nil, args("s3://"+bucket+"/"+prefix, d.url)...)
		if d.dropped.Load() == 0 {
			t.Fatalf("no Complete went through the proxy: the test does not exercise a lost answer (exit %d: %s)", r.code, r.stderr)
		}
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		m := readManifest(t, client, "s3://"+bucket+"/"+prefix+"manifest.json")
		want := map[bool][]byte{true: testenv.Psql(t, "COPY lost_big TO STDOUT WITH (FORMAT csv)"),
			false: testenv.Psql(t, "COPY lost_small TO STDOUT WITH (FORMAT csv)")}
		if len(m.Objects) != 2 {
			t.Fatalf("the manifest lists %d objects, want 2", len(m.Objects))
		}
		for _, o := range m.Objects {
			big := strings.Contains(o.URL, "lost_big")
			if got := testenv.GetURL(t, client, o.URL); !bytes.Equal(got, want[big]) {
				t.Errorf("%s: %d bytes, want psql's %d", o.URL, len(got), len(want[big]))
			}
		}
	})

	t.Run("complete, then the run fails", func(t *testing.T) {
		d := newAnswerDropper(t, isComplete, func(r *http.Request) bool {
			return r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, "/manifest.json")
		})
		prefix := testenv.Prefix(t, client, bucket)
		r := pg2s3(t, nil, args("s3://"+bucket+"/"+prefix, d.url)...)
		if d.dropped.Load() == 0 || r.code != 1 {
			t.Fatalf("dropped %d answers; exit %d (want 1): %s", d.dropped.Load(), r.code, r.stderr)
		}
		if keys := testenv.ListKeys(t, client, bucket, prefix); len(keys) != 0 {
			t.Errorf("the run failed, and left %v", keys)
		}
		if !strings.Contains(r.stderr, "2 objects already completed were deleted") {
			t.Errorf("the error does not say that both objects were deleted: %s", r.stderr)
		}
	})

	t.Run("put, no clobber", func(t *testing.T) {
		d := newAnswerDropper(t, func(r *http.Request) bool { return r.Method == http.MethodPut }, nil)
		key := testenv.Key(t)
		testenv.Remove(t, client, bucket, key)
		r := pg2s3(t, nil, "export", "-t", "lost_small", "--to", "s3://"+bucket+"/"+key, "--no-clobber", "--endpoint-url", d.url, "--json")
		if d.dropped.Load() == 0 {
			t.Fatalf("no PutObject went through the proxy (exit %d: %s)", r.code, r.stderr)
		}
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		if got := testenv.Get(t, client, bucket, key); !bytes.Equal(got, testenv.Psql(t, "COPY lost_small TO STDOUT WITH (FORMAT csv)")) {
			t.Errorf("the object holds %d bytes, not the table's", len(got))
		}
	})
}

// After SIGTERM, the request already sent may finish, but no new attempt starts: against a store
// that holds a PutObject and then answers 503 (which is retried), the export ends after that one
// attempt, not after all six. The stop is observed on stderr before the store answers, so no timing
// decides the outcome.
func TestStopStartsNoNewAttempt(t *testing.T) {
	bucket, client := testenv.Stack(t)
	rp := testenv.StoreProxy(t)
	var puts atomic.Int64
	arrived, release := make(chan struct{}, 1), make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPut {
			rp.ServeHTTP(w, r)
			return
		}
		io.Copy(io.Discard, r.Body)
		if puts.Add(1) == 1 {
			arrived <- struct{}{}
			<-release
		}
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>fault: slow down</Message></Error>`)
	}))
	t.Cleanup(srv.Close)
	key := testenv.Key(t)
	cmd := exec.Command(binary, "export", "-c", "SELECT g FROM generate_series(1, 10) g", "--to", "s3://"+bucket+"/"+key,
		"--endpoint-url", srv.URL, "--retries", "6", "-v")
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(stderr)
	var log strings.Builder
	select {
	case <-arrived:
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		t.Fatal("the PutObject never reached the store")
	}
	cmd.Process.Signal(syscall.SIGTERM)
	for lines.Scan() && !strings.Contains(lines.Text(), "received SIGTERM: stopping") {
		log.WriteString(lines.Text() + "\n")
	}
	close(release)
	for lines.Scan() {
		log.WriteString(lines.Text() + "\n")
	}
	cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 143 {
		t.Errorf("exit %d, want 143:\n%s", code, log.String())
	}
	if n := puts.Load(); n != 1 {
		t.Errorf("%d PutObject attempts after SIGTERM came during the first; want that one only:\n%s", n, log.String())
	}
	testenv.AssertNothingLeft(t, client, bucket, key)
}

// -v names each retry: the request, the object, the attempt and the cause, an upload's and any
// other request's (the no-clobber check's HEAD); as many as the metrics count.
func TestVerboseNamesRetries(t *testing.T) {
	bucket, client := testenv.Stack(t)
	rp := testenv.StoreProxy(t)
	var puts, heads atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && puts.Add(1) <= 2 || r.Method == http.MethodHead && heads.Add(1) == 1 {
			io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>fault: slow down</Message></Error>`)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	key := testenv.Key(t)
	testenv.Remove(t, client, bucket, key)
	metricsFile := filepath.Join(t.TempDir(), "pg2s3.prom")
	r := pg2s3(t, nil, "export", "-c", "SELECT 1", "--to", "s3://"+bucket+"/"+key, "--endpoint-url", srv.URL, "--no-clobber",
		"-v", "--metrics-file", metricsFile)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var puts2, heads2 []string
	for _, line := range strings.Split(r.stderr, "\n") {
		switch {
		case !strings.Contains(line, "retrying an S3 request"):
		case strings.Contains(line, `request="put object"`):
			puts2 = append(puts2, line)
		case strings.Contains(line, "request=HEAD"):
			heads2 = append(heads2, line)
		default:
			t.Errorf("a retry of another request: %s", line)
		}
	}
	if len(puts2) != 2 || len(heads2) != 1 {
		t.Fatalf("-v shows %d PutObject and %d HEAD retries, the store refused 2 and 1:\n%s", len(puts2), len(heads2), r.stderr)
	}
	for i, line := range puts2 {
		for _, want := range []string{"object=s3://" + bucket + "/" + key, fmt.Sprintf("attempt=%d", i+2), "SlowDown"} {
			if !strings.Contains(line, want) {
				t.Errorf("retry line %q does not say %s", line, want)
			}
		}
	}
	if !strings.Contains(heads2[0], "/"+key) || !strings.Contains(heads2[0], "attempt=2") || !strings.Contains(heads2[0], "503") {
		t.Errorf("retry line %q does not name the object, the attempt and the cause", heads2[0])
	}
	prom, err := os.ReadFile(metricsFile)
	if err != nil || !strings.Contains(string(prom), "\npg2s3_s3_retries 3\n") {
		t.Errorf("the metrics do not count the 3 retries (%v):\n%s", err, prom)
	}
}

// --incremental COLUMN that no table of the run has is refused before anything is written; a table
// without it is named in a warning (it is exported whole, every run).
func TestIncrementalColumnMissing(t *testing.T) {
	bucket, client := testenv.Stack(t)
	testenv.Psql(t, `DROP TABLE IF EXISTS incm_a, incm_b;
		CREATE TABLE incm_a (id int PRIMARY KEY, updated_at timestamptz NOT NULL DEFAULT now());
		CREATE TABLE incm_b (id int PRIMARY KEY);
		INSERT INTO incm_a (id) SELECT g FROM generate_series(1, 10) g; INSERT INTO incm_b SELECT g FROM generate_series(1, 10) g;`)
	t.Cleanup(func() { testenv.Psql(t, "DROP TABLE IF EXISTS incm_a, incm_b") })
	prefix := testenv.Prefix(t, client, bucket)
	base := "s3://" + bucket + "/" + prefix
	r := pg2s3(t, nil, "export", "-t", "incm_b", "--to", base, "--incremental", "updated_at")
	if r.code != 2 || !containsAll(r.stderr, "--incremental updated_at", "no table of the run has that column") {
		t.Errorf("a column no table has: exit %d: %s", r.code, r.stderr)
	}
	if keys := testenv.ListKeys(t, client, bucket, prefix); len(keys) != 0 {
		t.Errorf("the refused run wrote %v", keys)
	}
	r = pg2s3(t, nil, "export", "-t", "incm_a", "-t", "incm_b", "--to", base, "--incremental", "updated_at", "-q")
	if r.code != 0 || !containsAll(r.stderr, "level=WARN", "exported whole, every run", "incm_b") || strings.Contains(r.stderr, "incm_a") {
		t.Errorf("one table without the column: exit %d: %s", r.code, r.stderr)
	}
	// A state replaced by another program is named as such, not blamed on a concurrent run.
	state := prefix + engine.StateFolder + "run-000001.json"
	if _, err := client.PutObject(context.Background(), &s3.PutObjectInput{Bucket: &bucket, Key: &state, Body: strings.NewReader("{}")}); err != nil {
		t.Fatal(err)
	}
	r = pg2s3(t, nil, "export", "-t", "incm_a", "-t", "incm_b", "--to", base, "--incremental", "updated_at", "-q")
	if r.code != 1 || !strings.Contains(r.stderr, "is not the state pg2s3 wrote for run 1") || strings.Contains(r.stderr, "another run") {
		t.Errorf("a state replaced by {}: exit %d: %s", r.code, r.stderr)
	}
}

// A query's result is named "(query)" in messages, not ""."query".
func TestQueryNamedInMessages(t *testing.T) {
	bucket, client := testenv.Stack(t)
	prefix := testenv.Prefix(t, client, bucket)
	r := pg2s3(t, nil, "export", "-c", "SELECT 1/(g - 3) AS k FROM generate_series(1, 5) g", "--to", "s3://"+bucket+"/"+prefix,
		"--partition-by", "k", "-v")
	if r.code != 1 || !strings.Contains(r.stderr, "(query), chunk 0") || strings.Contains(r.stderr, `"".`) {
		t.Errorf("exit %d: %s", r.code, r.stderr)
	}
}

// When the run's manifest cannot be written, what the committers before it published (each
// table's manifest) is taken back with the objects: nothing is left that says a table is loaded.
func TestFailedCommitTakesBackWhatCameBefore(t *testing.T) {
	bucket, client := testenv.Stack(t)
	testenv.Psql(t, `DROP TABLE IF EXISTS undo_a, undo_b;
		CREATE TABLE undo_a AS SELECT g AS id FROM generate_series(1, 100) g; CREATE TABLE undo_b AS SELECT g AS id FROM generate_series(1, 10) g;`)
	t.Cleanup(func() { testenv.Psql(t, "DROP TABLE IF EXISTS undo_a, undo_b") })
	var manifests atomic.Int64
	d := newAnswerDropper(t, func(*http.Request) bool { return false }, func(r *http.Request) bool {
		if r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, ".manifest.json") {
			manifests.Add(1)
		}
		return r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, "/manifest.json")
	})
	prefix := testenv.Prefix(t, client, bucket)
	r := pg2s3(t, nil, "export", "-t", "undo_a", "-t", "undo_b", "--to", "s3://"+bucket+"/"+prefix, "--preset", "redshift",
		"--endpoint-url", d.url, "--retries", "1", "-q")
	if r.code != 1 || manifests.Load() != 2 {
		t.Fatalf("exit %d (want 1), %d table manifests written (want 2): %s", r.code, manifests.Load(), r.stderr)
	}
	if keys := testenv.ListKeys(t, client, bucket, prefix); len(keys) != 0 {
		t.Errorf("the failed run left %v", keys)
	}
}
