package main

import (
	"bufio"
	"bytes"
	"context"
	bin "encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pg2s3/pg2s3/engine"
	"github.com/pg2s3/pg2s3/internal/testenv"
	"github.com/pg2s3/pg2s3/upload"
)

// copyCounter is a TCP proxy in front of the stack's PostgreSQL that records every COPY statement
// a client sends (simple-query messages), so that a test counts the COPYs a run really ran.
type copyCounter struct {
	mu     sync.Mutex
	copies []string
	dsn    string
}

func newCopyCounter(t *testing.T) *copyCounter {
	t.Helper()
	u, err := url.Parse(testenv.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	server := u.Host
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	u.Host = ln.Addr().String()
	c := &copyCounter{dsn: u.String()}
	go func() {
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			go c.serve(client, server)
		}
	}()
	return c
}

func (c *copyCounter) serve(client net.Conn, server string) {
	defer client.Close()
	up, err := net.Dial("tcp", server)
	if err != nil {
		return
	}
	defer up.Close()
	go io.Copy(client, up)
	in := bufio.NewReader(client)
	var head [5]byte
	// The startup message has no type byte: its length, then its body.
	if _, err := io.ReadFull(in, head[:4]); err != nil {
		return
	}
	n := bin.BigEndian.Uint32(head[:4])
	body := make([]byte, n-4)
	if _, err := io.ReadFull(in, body); err != nil {
		return
	}
	up.Write(append(head[:4:4], body...))
	for {
		if _, err := io.ReadFull(in, head[:]); err != nil {
			return
		}
		n := bin.BigEndian.Uint32(head[1:])
		body := make([]byte, n-4)
		if _, err := io.ReadFull(in, body); err != nil {
			return
		}
		if head[0] == 'Q' && bytes.HasPrefix(body, []byte("COPY")) {
			c.mu.Lock()
			c.copies = append(c.copies, string(bytes.TrimRight(body, "\x00")))
			c.mu.Unlock()
		}
		if _, err := up.Write(append(head[:], body...)); err != nil {
			return
		}
	}
}

// chunks returns the chunks of table whose COPYs ran since the last call (by their first page).
func (c *copyCounter) take(table string, pagesPerChunk int) []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	re := regexp.MustCompile(regexp.QuoteMeta(table) + ` WHERE ctid >= '\((\d+),0\)'`)
	var out []int
	for _, q := range c.copies {
		if m := re.FindStringSubmatch(q); m != nil {
			from, _ := strconv.Atoi(m[1])
			out = append(out, from/pagesPerChunk)
		}
	}
	c.copies = nil
	slices.Sort(out)
	return out
}

// blockingProxy is a proxy to the stack's MinIO that holds every request that matches one of the
// blocked patterns for ever (until the client goes away), and says when the first arrives. A
// pattern is words separated by spaces, each of which the request's path and query must contain.
// It counts the requests that write (PUT, POST, DELETE).
type blockingProxy struct {
	url     string
	mu      sync.Mutex
	blocked []string
	arrived chan string
	writes  atomic.Int64
}

func newBlockingProxy(t *testing.T) *blockingProxy {
	t.Helper()
	rp := testenv.StoreProxy(t)
	p := &blockingProxy{arrived: make(chan string, 100)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		uri := r.URL.Path + "?" + r.URL.RawQuery
		hold := slices.ContainsFunc(p.blocked, func(b string) bool {
			return b != "" && !slices.ContainsFunc(strings.Fields(b), func(w string) bool { return !strings.Contains(uri, w) })
		})
		p.mu.Unlock()
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			p.writes.Add(1)
		}
		if hold {
			p.arrived <- r.URL.Path
			io.Copy(io.Discard, r.Body) // returns when the killed client's connection closes
			<-r.Context().Done()
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	p.url = srv.URL
	return p
}

func (p *blockingProxy) block(paths ...string) {
	p.mu.Lock()
	p.blocked = paths
	p.mu.Unlock()
	for len(p.arrived) > 0 {
		<-p.arrived
	}
}

// holdSnapshot starts `pg2s3 snapshot --id-to FILE` and returns the file and a function that ends
// the holder.
func holdSnapshot(t *testing.T) (idFile string, stop func()) {
	t.Helper()
	idFile = filepath.Join(t.TempDir(), "snapshot-id")
	cmd := exec.Command(binary, "snapshot", "--id-to", idFile)
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if _, err := bufio.NewReader(out).ReadString('\n'); err != nil {
		cmd.Process.Kill()
		t.Fatalf("pg2s3 snapshot printed no ID: %v", err)
	}
	stop = func() { cmd.Process.Kill(); cmd.Wait() }
	t.Cleanup(stop)
	return idFile, stop
}

// killWhenBlocked starts args, waits until the proxy holds one of its requests, and SIGKILLs it.
func killWhenBlocked(t *testing.T, p *blockingProxy, args ...string) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-p.arrived:
		cmd.Process.Kill()
		<-done
	case err := <-done:
		t.Fatalf("the attempt ended before the proxy held its request (%v):\n%s", err, stderr.String())
	case <-time.After(3 * time.Minute):
		cmd.Process.Kill()
		t.Fatalf("the attempt never reached the held request:\n%s", stderr.String())
	}
}

// finishedChunks lists the chunks of table the journal under prefix records as finished.
func finishedChunks(t *testing.T, prefix, table string) []int {
	t.Helper()
	bucket, client := testenv.Stack(t)
	var out []int
	re := regexp.MustCompile(regexp.QuoteMeta(table) + `-([0-9]{6})\.json$`)
	for _, k := range testenv.ListKeys(t, client, bucket, prefix+engine.StateFolder+"chunks/") {
		if m := re.FindStringSubmatch(k); m != nil {
			n, _ := strconv.Atoi(m[1])
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// A run SIGKILLed at two points, then resumed: each resume runs exactly the chunks without a
// record (counted at the server's door), the final objects equal a one-shot run's in the same
// snapshot, the manifest has the one-shot run's shape, and nothing is left open or behind.
func TestResumeAfterSIGKILL(t *testing.T) {
	bucket, client := testenv.Stack(t)
	testenv.Psql(t, `DROP TABLE IF EXISTS res_a, res_b;
		CREATE TABLE res_a AS SELECT g AS id, md5(g::text) AS s FROM generate_series(1, 60000) g;
		CREATE TABLE res_b AS SELECT g AS id FROM generate_series(1, 10) g;`)
	t.Cleanup(func() { testenv.Psql(t, "DROP TABLE IF EXISTS res_a, res_b") })
	pages, _ := strconv.Atoi(strings.TrimSpace(testenv.PsqlValue(t, "SELECT pg_relation_size('res_a') / current_setting('block_size')::int")))
	const pagesPerChunk = 32 // --chunk-size 256KiB of 8 KiB pages
	total := (pages + pagesPerChunk - 1) / pagesPerChunk
	if total < 12 {
		t.Fatalf("res_a has %d chunks; the test needs at least 12", total)
	}
	idFile, _ := holdSnapshot(t)
	prefix := testenv.Prefix(t, client, bucket)
	pg := newCopyCounter(t)
	s3p := newBlockingProxy(t)
	args := []string{"export", "-t", "res_a", "-t", "res_b", "--to", "s3://" + bucket + "/" + prefix, "--resume", "--snapshot-from", idFile,
		"--chunk-size", "256KiB", "--jobs", "1", "--max-rows", "700", "--dsn", pg.dsn, "--endpoint-url", s3p.url, "-q"}

	var ran [][]int
	for i, hold := range []string{"res_a/part-00004-001", "res_a/part-00010-000"} {
		s3p.block(hold)
		before := finishedChunks(t, prefix, "public.res_a")
		killWhenBlocked(t, s3p, args...)
		got := pg.take(`"public"."res_a"`, pagesPerChunk)
		for _, c := range got {
			if slices.Contains(before, c) {
				t.Errorf("attempt %d ran chunk %d again, which an earlier attempt had finished", i+1, c)
			}
		}
		ran = append(ran, got)
	}
	before := finishedChunks(t, prefix, "public.res_a")
	if len(before) == 0 || len(before) >= total {
		t.Fatalf("after two killed attempts %d of %d chunks are finished; the test wants some of each", len(before), total)
	}
	s3p.block()
	// plan says which chunks remain.
	planArgs := append([]string{"plan"}, args[1:]...)
	if r := pg2s3(t, nil, planArgs...); r.code != 0 || !strings.Contains(r.stdout, fmt.Sprintf("a resume: %d chunks were finished", len(before)+len(finishedChunks(t, prefix, "public.res_b")))) {
		t.Errorf("plan of the resume: exit %d:\n%s%s", r.code, r.stdout, r.stderr)
	}
	pg.take(`"public"."res_a"`, pagesPerChunk) // plan runs no COPY, but clear the count all the same
	r := pg2s3(t, nil, args...)
	if r.code != 0 {
		t.Fatalf("the resume: exit %d: %s", r.code, r.stderr)
	}
	last := pg.take(`"public"."res_a"`, pagesPerChunk)
	var want []int
	for c := 0; c < total; c++ {
		if !slices.Contains(before, c) {
			want = append(want, c)
		}
	}
	if !slices.Equal(last, want) {
		t.Errorf("the resume ran the COPYs of chunks %v; the unfinished ones are %v", last, want)
	}
	t.Logf("%d chunks: attempt 1 ran %v, attempt 2 ran %v, the resume ran %d (%d were finished)", total, ran[0], ran[1], len(last), len(before))

	// The one-shot run, in the same snapshot, to another prefix.
	one := testenv.Prefix(t, client, bucket)
	if r := pg2s3(t, nil, "export", "-t", "res_a", "-t", "res_b", "--to", "s3://"+bucket+"/"+one, "--snapshot-from", idFile,
		"--chunk-size", "256KiB", "--max-rows", "700", "-q"); r.code != 0 {
		t.Fatalf("the one-shot run: exit %d: %s", r.code, r.stderr)
	}
	resumed := readManifest(t, client, "s3://"+bucket+"/"+prefix+"manifest.json")
	oneShot := readManifest(t, client, "s3://"+bucket+"/"+one+"manifest.json")
	a, b := linesByTable(t, client, resumed), linesByTable(t, client, oneShot)
	for table, lines := range b {
		if !slices.Equal(a[table], lines) {
			t.Errorf("%s: the resumed run holds %d lines, the one-shot run %d", table, len(a[table]), len(lines))
		}
	}
	rel := func(m engine.Manifest, p string) (keys []string) {
		for _, o := range m.Objects {
			keys = append(keys, strings.TrimPrefix(o.URL, "s3://"+bucket+"/"+p))
		}
		slices.Sort(keys)
		return keys
	}
	if !slices.Equal(rel(resumed, prefix), rel(oneShot, one)) || len(resumed.Tables) != len(oneShot.Tables) || resumed.Snapshot.ID != oneShot.Snapshot.ID {
		t.Errorf("the resumed manifest's objects, tables or snapshot differ from the one-shot run's")
	}
	if keys := testenv.ListKeys(t, client, bucket, prefix+engine.StateFolder); len(keys) != 0 {
		t.Errorf("the journal is left: %v", keys)
	}
	if open := testenv.OpenUploads(t, client, bucket, prefix); len(open) != 0 {
		t.Errorf("uploads left open: %v", open)
	}
	// Once more, as a retry loop would: complete, nothing to do, nothing written.
	writes := s3p.writes.Load()
	if r := pg2s3(t, nil, append(args[:len(args)-1], "-v")...); r.code != 0 || !strings.Contains(r.stderr, "complete, nothing to do") {
		t.Errorf("a resume of the finished run: exit %d: %s", r.code, r.stderr)
	}
	if n := s3p.writes.Load() - writes; n != 0 {
		t.Errorf("a resume of the finished run sent %d requests that write", n)
	}
	if r := pg2s3(t, nil, planArgs...); r.code != 0 || !strings.Contains(r.stdout, "complete, nothing to do") {
		t.Errorf("plan of the finished run: exit %d:\n%s%s", r.code, r.stdout, r.stderr)
	}
	if !slices.Equal(rel(resumed, prefix), func() []string {
		var ks []string
		for _, k := range testenv.ListKeys(t, client, bucket, prefix) {
			if k != prefix+"manifest.json" {
				ks = append(ks, strings.TrimPrefix(k, prefix))
			}
		}
		slices.Sort(ks)
		return ks
	}()) {
		t.Errorf("the prefix holds objects the manifest does not list")
	}
}

// A partitioned run whose chunks spill, SIGKILLed, then resumed: the resume cuts the unfinished
// chunks into the same objects as the one-shot run (the routers get the same memory in every
// attempt), so the prefix holds exactly the manifest's objects, as the one-shot run's.
func TestResumePartitioned(t *testing.T) {
	bucket, client := testenv.Stack(t)
	testenv.Psql(t, `DROP TABLE IF EXISTS res_p;
		CREATE TABLE res_p AS SELECT g AS id, g % 40 AS p, md5(g::text) AS s FROM generate_series(1, 400000) g;`)
	t.Cleanup(func() { testenv.Psql(t, "DROP TABLE IF EXISTS res_p") })
	idFile, _ := holdSnapshot(t)
	flags := []string{"-t", "res_p", "--partition-by", "p", "--snapshot-from", idFile, "--chunk-size", "4MiB", "--jobs", "1",
		"--part-size", "5MiB", "--concurrency", "1", "--memory-limit", "12MiB", "-q"}
	prefix := testenv.Prefix(t, client, bucket)
	s3p := newBlockingProxy(t)
	args := append([]string{"export", "--to", "s3://" + bucket + "/" + prefix, "--resume", "--endpoint-url", s3p.url}, flags...)
	s3p.block("res_p/p=7/part-00003-")
	killWhenBlocked(t, s3p, args...)
	if len(finishedChunks(t, prefix, "public.res_p")) == 0 {
		t.Fatalf("the killed attempt finished no chunk: the test wants some finished and some not")
	}
	s3p.block()
	if r := pg2s3(t, nil, args...); r.code != 0 {
		t.Fatalf("the resume: exit %d: %s", r.code, r.stderr)
	}
	one := testenv.Prefix(t, client, bucket)
	if r := pg2s3(t, nil, append([]string{"export", "--to", "s3://" + bucket + "/" + one, "--json"}, flags[:len(flags)-1]...)...); r.code != 0 ||
		!strings.Contains(r.stdout, `"spilled_bytes"`) {
		t.Fatalf("the one-shot run: exit %d (want rows spilled): %s%s", r.code, r.stdout, r.stderr)
	}
	keys := func(p string) (ks []string) {
		for _, k := range testenv.ListKeys(t, client, bucket, p) {
			ks = append(ks, strings.TrimPrefix(k, p))
		}
		slices.Sort(ks)
		return ks
	}
	got, want := keys(prefix), keys(one)
	if len(want) < 100 || !slices.Equal(got, want) {
		t.Errorf("the resumed prefix holds %d keys, the one-shot run's %d: they differ", len(got), len(want))
	}
	a, b := linesByTable(t, client, readManifest(t, client, "s3://"+bucket+"/"+prefix+"manifest.json")),
		linesByTable(t, client, readManifest(t, client, "s3://"+bucket+"/"+one+"manifest.json"))
	if len(b) != 1 {
		t.Fatalf("the one-shot run's manifest lists %d tables", len(b))
	}
	for table, lines := range b {
		if len(lines) != 400000 || !slices.Equal(a[table], lines) {
			t.Errorf("%s: the resumed run holds %d lines, the one-shot run %d", table, len(a[table]), len(lines))
		}
	}
}

// A resume whose snapshot holder died refuses, says why and what to do, and names the uploads the
// killed attempt left open with a command that aborts them as printed, from a shell whose
// environment points at another store; a resume of a finished run has nothing to do and exits 0;
// two resumes at once: exactly one writes the manifest.
func TestResumeRefusalsAndRace(t *testing.T) {
	bucket, client := testenv.Stack(t)
	testenv.Psql(t, `DROP TABLE IF EXISTS res_c, res_big; CREATE TABLE res_c AS SELECT g AS id, md5(g::text) AS s FROM generate_series(1, 20000) g;
		CREATE TABLE res_big AS SELECT g AS id, md5(g::text) || md5((g*7)::text) AS s FROM generate_series(1, 200000) g;`)
	t.Cleanup(func() { testenv.Psql(t, "DROP TABLE IF EXISTS res_c, res_big") })
	s3p := newBlockingProxy(t)
	run := func(idFile, prefix string) []string {
		return []string{"export", "-t", "res_c", "--to", "s3://" + bucket + "/" + prefix, "--resume", "--snapshot-from", idFile,
			"--chunk-size", "256KiB", "--jobs", "1", "--endpoint-url", s3p.url, "-q"}
	}
	// One chunk of about 15 MB in parts of 5 MiB: killed at its second part, it leaves a multipart
	// upload open.
	runBig := func(idFile, prefix string) []string {
		return []string{"export", "-t", "res_big", "--to", "s3://" + bucket + "/" + prefix, "--resume", "--snapshot-from", idFile,
			"--chunk-size", "1GiB", "--part-size", "5MiB", "--concurrency", "1", "--endpoint-url", s3p.url, "-q"}
	}

	// The holder dies between the attempts.
	idFile, stop := holdSnapshot(t)
	gone := testenv.Prefix(t, client, bucket)
	s3p.block("res_big/ partNumber=2")
	killWhenBlocked(t, s3p, runBig(idFile, gone)...)
	stop()
	s3p.block()
	open, err := upload.ListIncomplete(context.Background(), client, bucket, gone)
	if err != nil || len(open) == 0 {
		t.Fatalf("the killed attempt left no upload open (%v): the test does not exercise what it is about", err)
	}
	r := pg2s3(t, nil, runBig(idFile, gone)...)
	if r.code != 1 || !strings.Contains(r.stderr, "cannot resume: the run's snapshot") || !strings.Contains(r.stderr, "--resume-new-snapshot") {
		t.Errorf("a resume without its snapshot: exit %d: %s", r.code, r.stderr)
	}
	for _, u := range open {
		if !strings.Contains(r.stderr, u.UploadID) {
			t.Errorf("the refusal does not name the open upload %s of %s: %s", u.UploadID, u.Key, r.stderr)
		}
	}
	_, cleanup, ok := strings.Cut(strings.TrimSpace(r.stderr), "abort them with: ")
	if !ok || cleanup == "" {
		t.Fatalf("the refusal gives no command that aborts the open uploads: %s", r.stderr)
	}
	// As printed, from a shell whose environment points at another store (nothing listens there).
	sh := exec.Command("sh", "-c", cleanup)
	sh.Env = append(os.Environ(), "PATH="+filepath.Dir(binary)+":"+os.Getenv("PATH"), "AWS_ENDPOINT_URL=http://127.0.0.1:9",
		"PG2S3_ENDPOINT_URL=", "AWS_REGION=eu-west-3")
	if out, err := sh.CombinedOutput(); err != nil {
		t.Fatalf("the printed command %q failed: %v\n%s", cleanup, err, out)
	}
	if left, err := upload.ListIncomplete(context.Background(), client, bucket, gone); err != nil || len(left) != 0 {
		t.Errorf("after the printed command %q, uploads are still open: %v %v", cleanup, left, err)
	}
	// A holder that ended cleanly removed its ID: the same refusal, not "no such file".
	os.Remove(idFile)
	if r = pg2s3(t, nil, runBig(idFile, gone)...); r.code != 1 || !strings.Contains(r.stderr, "cannot resume: the run's snapshot") {
		t.Errorf("a resume whose holder removed its ID: exit %d: %s", r.code, r.stderr)
	}
	// With another snapshot, a resume refuses unless asked.
	idFile2, _ := holdSnapshot(t)
	id2, _ := os.ReadFile(idFile2)
	r = pg2s3(t, nil, runBig(idFile2, gone)...)
	if r.code != 2 || !strings.Contains(r.stderr, "not "+strings.TrimSpace(string(id2))) {
		t.Errorf("a resume in another snapshot: exit %d: %s", r.code, r.stderr)
	}
	if r = pg2s3(t, nil, append(runBig(idFile2, gone), "--resume-new-snapshot")...); r.code != 0 {
		t.Errorf("--resume-new-snapshot: exit %d: %s", r.code, r.stderr)
	}
	// The same command again (a scheduler's retry, a restarted pod): complete, nothing to do.
	writes := s3p.writes.Load()
	r = pg2s3(t, nil, append(runBig(idFile2, gone), "--resume-new-snapshot", "--json")...)
	if r.code != 0 || !strings.Contains(r.stdout, `"already_complete":true`) {
		t.Errorf("a resume of a finished run: exit %d, stdout %q: %s", r.code, r.stdout, r.stderr)
	}
	if n := s3p.writes.Load() - writes; n != 0 {
		t.Errorf("a resume of a finished run sent %d requests that write", n)
	}

	// Two resumes at once: both finish the chunks, and exactly one writes the manifest.
	raced := testenv.Prefix(t, client, bucket)
	s3p.block("res_c/part-00001-")
	killWhenBlocked(t, s3p, run(idFile2, raced)...)
	s3p.block()
	barrier := barrierProxy(t, 2, func(r *http.Request) bool {
		return r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, "/"+raced+"manifest.json")
	})
	args := run(idFile2, raced)
	args[len(args)-2] = barrier
	won, lost := race(t, args, "another attempt of this run finished first")
	if won != 1 || lost != 1 {
		t.Errorf("%d resumes won and %d lost, want one each", won, lost)
	}
	m := readManifest(t, client, "s3://"+bucket+"/"+raced+"manifest.json")
	if m.Rows() != 20000 {
		t.Errorf("the manifest counts %d rows, want 20000", m.Rows())
	}
	if got := sortedLines(bytes.Join(func() (b [][]byte) {
		for _, o := range m.Objects {
			b = append(b, testenv.GetURL(t, client, o.URL))
		}
		return b
	}(), nil)); !slices.Equal(got, sortedLines(testenv.Psql(t, "COPY res_c TO STDOUT WITH (FORMAT csv)"))) {
		t.Errorf("the raced run's objects hold %d lines, not the table's", len(got))
	}
}
