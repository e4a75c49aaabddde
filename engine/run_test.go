package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/pg2s3/pg2s3/copyout"
	"github.com/pg2s3/pg2s3/internal/testenv"
	"github.com/pg2s3/pg2s3/upload"
)

// config is a run of several tables into prefix of the test bucket, with small parts and chunks.
func config(t *testing.T, prefix string) Config {
	bucket, client := testenv.Stack(t)
	return Config{
		Conn: copyout.Conn{DSN: testenv.DSN(t)}, To: dest(t, "s3://"+bucket+"/"+prefix), S3Client: client,
		Jobs: 3, ChunkSize: 1 << 20, MemoryLimit: 256 << 20,
		Upload: upload.Options{PartSize: upload.MinPartSize, Concurrency: 2, Checksum: upload.CRC32C},
	}
}

func lines(b []byte) []string {
	l := strings.SplitAfter(string(b), "\n")
	if len(l) > 0 && l[len(l)-1] == "" {
		l = l[:len(l)-1]
	}
	return l
}

// Several tables, chunked, with --jobs 3: every table's objects hold, together, exactly psql's COPY
// of it (as a multiset of lines), and the manifest's row counts are count(*).
func TestTablesMatchPsql(t *testing.T) {
	bucket, client := testenv.Stack(t)
	testenv.PsqlValue(t, `DROP SCHEMA IF EXISTS dumptest CASCADE; CREATE SCHEMA dumptest;
		CREATE TABLE dumptest.big AS SELECT g AS id, md5(g::text) AS s, E'line\nbreak, "q"' AS t, g * 0.5 AS n FROM generate_series(1, 120000) g;
		CREATE TABLE dumptest.small AS SELECT g AS id FROM generate_series(1, 10) g;
		CREATE TABLE dumptest.empty (id int);
		CREATE TABLE dumptest.skipme AS SELECT 1 AS x;
		CREATE VIEW dumptest.v AS SELECT id, s FROM dumptest.big WHERE id % 1000 = 0;
		CREATE TABLE dumptest.parted (id int, k text) PARTITION BY RANGE (id);
		CREATE TABLE dumptest.parted_1 PARTITION OF dumptest.parted FOR VALUES FROM (0) TO (500);
		CREATE TABLE dumptest.parted_2 PARTITION OF dumptest.parted FOR VALUES FROM (500) TO (1000);
		INSERT INTO dumptest.parted SELECT g, 'k' || g FROM generate_series(0, 999) g;`)
	p := testenv.Prefix(t, client, bucket)
	cfg := config(t, p)
	cfg.Schemas, cfg.Exclude, cfg.Compress = []string{"dumptest"}, []string{"dumptest.skip*"}, Compression{Algorithm: "zstd"}
	m, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tb := range m.Tables {
		names = append(names, tb.Name)
	}
	if want := []string{`"dumptest"."big"`, `"dumptest"."empty"`, `"dumptest"."parted"`, `"dumptest"."small"`, `"dumptest"."v"`}; !slices.Equal(sortedCopy(names), want) {
		t.Fatalf("tables %v, want %v (partitions and excluded tables left out)", names, want)
	}
	chunksOfBig := 0
	for _, tb := range m.Tables {
		var got []string
		for _, o := range m.Objects {
			if o.Table == tb.Name {
				got = append(got, lines(testenv.GetURL(t, client, o.URL))...)
				if tb.Name == `"dumptest"."big"` {
					chunksOfBig = max(chunksOfBig, o.Chunk+1)
				}
			}
		}
		want := lines([]byte(testenv.PsqlValue(t, "COPY (SELECT * FROM "+tb.Name+") TO STDOUT WITH (FORMAT csv)")))
		if !slices.Equal(sortedCopy(got), sortedCopy(want)) {
			t.Errorf("%s: %d lines in the objects, psql's COPY has %d, or they differ", tb.Name, len(got), len(want))
		}
		count, _ := strconv.ParseInt(strings.TrimSpace(testenv.PsqlValue(t, "SELECT count(*) FROM "+tb.Name)), 10, 64)
		if tb.Rows != count {
			t.Errorf("%s: manifest says %d rows, count(*) is %d", tb.Name, tb.Rows, count)
		}
		if len(tb.Columns) == 0 || tb.Columns[0].Name != "id" || tb.Columns[0].Type != "integer" {
			t.Errorf("%s: columns %v", tb.Name, tb.Columns)
		}
	}
	if chunksOfBig < 3 && chunked(t) {
		t.Errorf("dumptest.big was exported in %d chunks; with 1 MiB chunks it needs several", chunksOfBig)
	}
	// The manifest object is there, in Redshift's shape, and lists every object with its size.
	var stored Manifest
	if err := json.Unmarshal(testenv.GetURL(t, client, m.URL), &stored); err != nil {
		t.Fatal(err)
	}
	if len(stored.Entries) != len(m.Objects) || !stored.Entries[0].Mandatory || stored.Entries[0].Meta.ContentLength == 0 || stored.Snapshot.ID == "" {
		t.Errorf("manifest entries %+v, snapshot %+v", stored.Entries[:1], stored.Snapshot)
	}
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

// While a writer moves amounts between two tables (their total stays constant), a --jobs 4 export
// of both, in many chunks, sees the constant total: every COPY runs in the same snapshot.
func TestTablesOneSnapshot(t *testing.T) {
	bucket, client := testenv.Stack(t)
	testenv.PsqlValue(t, `DROP TABLE IF EXISTS acct_a, acct_b;
		CREATE TABLE acct_a AS SELECT g AS id, 1000 AS amount, md5(g::text) AS pad FROM generate_series(1, 100000) g;
		CREATE TABLE acct_b AS SELECT g AS id, 1000 AS amount, md5(g::text) AS pad FROM generate_series(1, 100000) g;
		CREATE INDEX ON acct_a (id); CREATE INDEX ON acct_b (id);`)
	const total = 2 * 100000 * 1000
	ctx, stop := context.WithCancel(context.Background())
	var moves atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the writer: one psql session moving amounts in transactions
		defer wg.Done()
		cmd := exec.CommandContext(ctx, "psql", "-X", "-q", "-d", os.Getenv("PG2S3_TEST_DSN"))
		in, _ := cmd.StdinPipe()
		cmd.Start()
		for i := 0; ctx.Err() == nil; i++ {
			id := 1 + (i*7919)%100000
			fmt.Fprintf(in, "BEGIN; UPDATE acct_a SET amount = amount - 7 WHERE id = %d; UPDATE acct_b SET amount = amount + 7 WHERE id = %d; COMMIT;\n", id, 100001-id)
			moves.Add(1)
		}
		in.Close()
		cmd.Wait()
	}()
	defer func() { stop(); wg.Wait() }()
	time.Sleep(300 * time.Millisecond)
	exportTotal := func(cfg Config) (int, int) {
		m, err := Run(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		sum := 0
		for _, o := range m.Objects {
			for _, l := range lines(testenv.GetURL(t, client, o.URL)) {
				f := strings.Split(l, ",")
				n, _ := strconv.Atoi(f[1])
				sum += n
			}
		}
		return sum, len(m.Objects)
	}
	// The control: two runs, one per table, each in a snapshot of its own, show two instants and the
	// total drifts. (This proves the writer really interleaves with the export; it may rarely line
	// up, so a few tries.)
	drifted := false
	for try := 0; try < 5 && !drifted; try++ {
		sum := 0
		for _, table := range []string{"acct_a", "acct_b"} {
			cfg := config(t, testenv.Prefix(t, client, bucket))
			cfg.Tables, cfg.Jobs, cfg.ChunkSize = []string{table}, 4, 512<<10
			n, _ := exportTotal(cfg)
			sum += n
		}
		drifted = sum != total
	}
	if !drifted {
		t.Error("without the shared snapshot the total never drifted: the test cannot tell a consistent export from an inconsistent one")
	}
	for run := 0; run < 3; run++ {
		p := testenv.Prefix(t, client, bucket)
		cfg := config(t, p)
		cfg.Tables, cfg.Jobs, cfg.ChunkSize = []string{"acct_a", "acct_b"}, 4, 512<<10
		before := moves.Load()
		sum, objects := exportTotal(cfg)
		if moves.Load() == before {
			t.Fatal("the writer made no change during the export: the test proves nothing")
		}
		if sum != total {
			t.Errorf("run %d: the export's total is %d, want %d: the objects do not show one instant", run, sum, total)
		}
		if objects < 6 && chunked(t) {
			t.Errorf("only %d objects: the tables were not chunked", objects)
		}
	}
}

// --max-object-size and --max-rows split between rows; with a header, every object starts with it.
func TestTablesSplit(t *testing.T) {
	bucket, client := testenv.Stack(t)
	testenv.PsqlValue(t, `DROP TABLE IF EXISTS splitme; CREATE TABLE splitme AS
		SELECT g AS id, md5(g::text) AS s, CASE WHEN g = 5000 THEN repeat('x', 7000000) ELSE 'short' END AS big FROM generate_series(1, 300000) g`)
	p := testenv.Prefix(t, client, bucket)
	cfg := config(t, p)
	cfg.Tables, cfg.ChunkSize, cfg.MaxObjectSize, cfg.CSV = []string{"splitme"}, 0, 5<<20, copyout.Options{Header: true}
	m, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Objects) < 4 {
		t.Fatalf("%d objects; 25 MB of CSV in 5 MiB objects needs more", len(m.Objects))
	}
	var all []string
	oversized := 0
	for _, o := range m.Objects {
		b := testenv.GetURL(t, client, o.URL)
		if !bytes.HasPrefix(b, []byte("id,s,big\n")) {
			t.Errorf("%s does not start with the header", o.URL)
		}
		if len(b) > 0 && b[len(b)-1] != '\n' {
			t.Errorf("%s does not end with a complete row", o.URL)
		}
		if int64(len(b)) > cfg.MaxObjectSize {
			oversized++
			if o.Rows != 1 {
				t.Errorf("%s has %d bytes and %d rows: over the limit without being one oversized row", o.URL, len(b), o.Rows)
			}
		}
		l := lines(b)
		all = append(all, l[1:]...)
		if int64(len(l)-1) != o.Rows {
			t.Errorf("%s: %d lines after the header, manifest says %d rows", o.URL, len(l)-1, o.Rows)
		}
	}
	if oversized != 1 {
		t.Errorf("%d objects over the limit, want exactly the one holding the 7 MB row", oversized)
	}
	want := lines([]byte(testenv.PsqlValue(t, "COPY splitme TO STDOUT WITH (FORMAT csv)")))
	if !slices.Equal(all, want) { // one chunk: the objects, in order, are the COPY
		t.Errorf("the objects together (%d lines) are not psql's COPY (%d lines)", len(all), len(want))
	}
	// --max-rows
	p2 := testenv.Prefix(t, client, bucket)
	cfg = config(t, p2)
	cfg.Tables, cfg.ChunkSize, cfg.MaxRows = []string{"splitme"}, 0, 100000
	m, err = Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Objects) != 3 || m.Objects[0].Rows != 100000 || m.Objects[2].Rows != 100000 {
		t.Errorf("--max-rows 100000 on 300000 rows: %d objects, rows %v", len(m.Objects), m.Objects)
	}
}

// A worker failing fails the run: no manifest, no open upload, no object left.
func TestTablesWorkerFailure(t *testing.T) {
	bucket, client := testenv.Stack(t)
	testenv.PsqlValue(t, `DROP TABLE IF EXISTS failme_a, failme_b CASCADE;
		CREATE TABLE failme_a AS SELECT g AS id, md5(g::text) AS s FROM generate_series(1, 20000) g;
		CREATE TABLE failme_b AS SELECT g AS id, g::text AS s FROM generate_series(1, 400000) g;
		CREATE OR REPLACE VIEW failme_v AS SELECT 1/(id - 390000) AS boom, s FROM failme_b;`)
	p := testenv.Prefix(t, client, bucket)
	cfg := config(t, p)
	cfg.Tables, cfg.ChunkSize = []string{"failme_a", "failme_v"}, 0
	cfg.MaxRows = 50000 // several objects of failme_v complete before the error, and must be deleted
	_, err := Run(context.Background(), cfg)
	t.Log(err)
	if err == nil || !strings.Contains(err.Error(), "objects already completed were deleted") {
		t.Errorf("err = %v; want completed objects deleted", err)
	}
	if err == nil || !strings.Contains(err.Error(), "division by zero") || !strings.Contains(err.Error(), "failme_v") || !strings.Contains(err.Error(), "no manifest was written") {
		t.Fatalf("err = %v; want the cause, the table, and that no manifest was written", err)
	}
	if keys := testenv.ListKeys(t, client, bucket, p); len(keys) > 0 {
		t.Errorf("objects left after a failed run: %v", keys)
	}
	for _, inc := range mustList(t, client, bucket, p) {
		t.Errorf("upload left open: %s %s", inc.Key, inc.UploadID)
	}
}

func mustList(t *testing.T, client *s3.Client, bucket, prefix string) []upload.Incomplete {
	l, err := upload.ListIncomplete(context.Background(), client, bucket, prefix)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestObjectKey(t *testing.T) {
	tb := &Table{Table: copyout.Table{Schema: "public", Name: "orders"}}
	for tmpl, want := range map[string]string{
		DefaultTemplate:                           "public.orders/part-00003-012.csv",
		"{table}/{chunk}-{split}.csv":             "orders/3-12.csv",
		"x/{schema}/{table}.{split:02}":           "x/public/orders.12",
		"{table}/{partition}/{chunk}-{split}.csv": "orders/day=2026-11-25/region=eu%2Fwest/3-12.csv",
	} {
		if got := objectKey(tmpl, tb, 3, 12, "day=2026-11-25/region=eu%2Fwest"); got != want {
			t.Errorf("objectKey(%q) = %q, want %q", tmpl, got, want)
		}
	}
}

// A worker whose backend is terminated mid-COPY fails the run the same way.
func TestTablesWorkerTerminated(t *testing.T) {
	bucket, client := testenv.Stack(t)
	testenv.PsqlValue(t, `DROP TABLE IF EXISTS term_a, term_b;
		CREATE TABLE term_a AS SELECT g AS id, md5(g::text) AS s FROM generate_series(1, 50000) g;
		CREATE TABLE term_b AS SELECT g AS id, md5(g::text) AS s, md5((g+1)::text) AS t FROM generate_series(1, 3000000) g;`)
	p := testenv.Prefix(t, client, bucket)
	cfg := config(t, p)
	cfg.Tables, cfg.ChunkSize, cfg.Jobs, cfg.MaxRows = []string{"term_a", "term_b"}, 0, 2, 200000
	done := make(chan error, 1)
	go func() { _, err := Run(context.Background(), cfg); done <- err }()
	deadline := time.Now().Add(30 * time.Second)
	terminated := ""
	for terminated == "" && time.Now().Before(deadline) {
		terminated = strings.TrimSpace(testenv.PsqlValue(t, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
			WHERE application_name = 'pg2s3' AND query LIKE 'COPY "public"."term_b"%' AND state = 'active'`))
		time.Sleep(50 * time.Millisecond)
	}
	err := <-done
	if err == nil {
		t.Fatal("the run succeeded although one of its backends was terminated")
	}
	if terminated != "t" {
		t.Fatalf("the COPY of term_b was never seen running (err %v)", err)
	}
	// The FATAL message (57P01) is not sent when the backend is blocked writing to us at the time;
	// then the error says the connection was lost (see orMessage in export's fault suite).
	named := strings.Contains(err.Error(), "57P01") || strings.Contains(err.Error(), "lost the connection to PostgreSQL during COPY")
	if !named || !strings.Contains(err.Error(), "term_b") || !strings.Contains(err.Error(), "no manifest was written") {
		t.Fatalf("err = %v", err)
	}
	if keys := testenv.ListKeys(t, client, bucket, p); len(keys) > 0 {
		t.Errorf("objects left after a failed run: %v", keys)
	}
	for _, inc := range mustList(t, client, bucket, p) {
		t.Errorf("upload left open: %s %s", inc.Key, inc.UploadID)
	}
}

// Names PostgreSQL cannot parse unquoted are found by their exact name, inside the snapshot's
// transaction too (a failed lookup must not abort it).
func TestTablesExactNames(t *testing.T) {
	bucket, client := testenv.Stack(t)
	testenv.PsqlValue(t, `DROP TABLE IF EXISTS "Odd Name; x", "ünï 表"; CREATE TABLE "Odd Name; x" AS SELECT 1 AS a; CREATE TABLE "ünï 表" AS SELECT 2 AS b;`)
	p := testenv.Prefix(t, client, bucket)
	cfg := config(t, p)
	cfg.Tables = []string{"Odd Name; x", "ünï 表"}
	m, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Tables) != 2 || m.Rows() != 2 {
		t.Fatalf("tables %+v", m.Tables)
	}
	for _, o := range m.Objects {
		if got := string(testenv.GetURL(t, client, o.URL)); got != "1\n" && got != "2\n" {
			t.Errorf("%s: %q", o.URL, got)
		}
	}
}

// The plan Report prints is the one Run executes: every chunk's first object is written where the
// report said, what the report says a clean run commits is committed, and a plan runs once.
func TestPlanIsWhatRuns(t *testing.T) {
	bucket, client := testenv.Stack(t)
	testenv.PsqlValue(t, `DROP SCHEMA IF EXISTS plantest CASCADE; CREATE SCHEMA plantest;
		CREATE TABLE plantest.big AS SELECT g AS id, md5(g::text) AS s FROM generate_series(1, 60000) g;
		CREATE TABLE plantest.small AS SELECT g AS id FROM generate_series(1, 10) g;
		ANALYZE plantest.big, plantest.small;`)
	cfg := config(t, testenv.Prefix(t, client, bucket))
	cfg.Schemas, cfg.ChunkSize, cfg.TableManifests = []string{"plantest"}, 1<<20, true
	ctx := context.Background()
	p, err := NewPlan(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(ctx)
	rep, err := p.Report(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Problems) > 0 {
		t.Fatalf("problems: %v", rep.Problems)
	}
	if len(rep.Tables) != 2 || (chunked(t) && len(rep.Chunks) < 3) {
		t.Fatalf("planned %d tables, %d chunks; want 2 tables and (on PostgreSQL 14+) the big one in several chunks", len(rep.Tables), len(rep.Chunks))
	}
	want := []string{"each table's manifest", "the manifest " + rep.Manifest}
	if !slices.Equal(rep.Commits, want) {
		t.Errorf("commits %q, want %q", rep.Commits, want)
	}
	m, err := p.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var written []string
	for _, o := range m.Objects {
		written = append(written, o.URL)
	}
	if len(written) != len(rep.Chunks) {
		t.Errorf("wrote %d objects for %d planned chunks", len(written), len(rep.Chunks))
	}
	for _, c := range rep.Chunks {
		if !slices.Contains(written, c.FirstKey) {
			t.Errorf("planned %s, not written (wrote %q)", c.FirstKey, written)
		}
	}
	if m.URL != rep.Manifest {
		t.Errorf("manifest at %s, planned at %s", m.URL, rep.Manifest)
	}
	for _, table := range []string{"big", "small"} {
		u := TableManifestURL(*cfg.To.S3, "plantest", table)
		if _, err := client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &u.Bucket, Key: &u.Key}); err != nil {
			t.Errorf("table manifest %s: %v", u, err)
		}
	}
	if _, err := p.Run(ctx); err == nil || !strings.Contains(err.Error(), "runs once") {
		t.Errorf("a second Run of the plan: %v, want it refused", err)
	}
}
