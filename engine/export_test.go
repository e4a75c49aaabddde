package engine

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pg2s3/pg2s3/copyout"
	"github.com/pg2s3/pg2s3/internal/testenv"
	"github.com/pg2s3/pg2s3/upload"
)

// allBytes is one bytea holding every byte value.
const allBytes = `SELECT decode(string_agg(lpad(to_hex(g), 2, '0'), '' ORDER BY g), 'hex') FROM generate_series(0, 255) g`

func TestExportMatchesPsql(t *testing.T) {
	testenv.Psql(t, `DROP TABLE IF EXISTS "Weird ""Name""; DROP TABLE x; --";
		CREATE TABLE "Weird ""Name""; DROP TABLE x; --" (id int, "Mixed Col" text);
		INSERT INTO "Weird ""Name""; DROP TABLE x; --" VALUES (1, 'a'), (2, NULL), (3, '');
		DROP SCHEMA IF EXISTS "Mixed Case" CASCADE; CREATE SCHEMA "Mixed Case";
		CREATE TABLE "Mixed Case"."Tbl" AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 1000) g;
		DROP TABLE IF EXISTS "Tëst 表 🎉"; CREATE TABLE "Tëst 表 🎉" AS SELECT 'ünï' AS "cöl 🎉", 1 AS n;
		CREATE OR REPLACE VIEW "Mixed Case".vw AS SELECT id, upper(v) FROM "Mixed Case"."Tbl" WHERE id % 7 = 0;`)

	const part = upload.MinPartSize
	tests := []struct {
		name      string
		query     string // --query, or
		table     string // --table
		truth     string // the COPY psql runs for the ground truth
		header    bool
		wantParts int // for S3; 0: do not check
	}{
		{name: "zero rows", query: "SELECT 1 WHERE false", wantParts: 1},
		{name: "one row", query: "SELECT 1, 'one'", wantParts: 1},
		{name: "exactly one part", query: "SELECT repeat('x', " + itoa(part-1) + ")", wantParts: 1},
		{name: "one part plus one byte", query: "SELECT repeat('x', " + itoa(part) + ")", wantParts: 2},
		{name: "many parts", query: "SELECT g, md5(g::text), g * 1.5 FROM generate_series(1, 600000) g", wantParts: 6},
		{name: "row larger than a part", query: "SELECT 1, repeat('y', " + itoa(2*part+12345) + "), 2", wantParts: 3},
		{name: "hard values", query: testenv.HardValues(t)},
		{name: "hard values with header", query: testenv.HardValues(t), header: true},
		{name: "every byte in bytea", query: allBytes},
		{name: "backslash dot alone", query: `SELECT E'\\.' UNION ALL SELECT 'after'`},
		{name: "trailing semicolon and comment", query: "SELECT 1 AS a; -- done", truth: "COPY (SELECT 1 AS a) TO STDOUT WITH (FORMAT csv)"},
		{name: "table with quotes and semicolon in its name", table: `Weird "Name"; DROP TABLE x; --`,
			truth: `COPY "Weird ""Name""; DROP TABLE x; --" TO STDOUT WITH (FORMAT csv)`},
		{name: "mixed-case schema and table", table: `"Mixed Case"."Tbl"`, header: true,
			truth: `COPY "Mixed Case"."Tbl" TO STDOUT WITH (FORMAT csv, HEADER)`},
		{name: "unicode table name", table: "Tëst 表 🎉", header: true, truth: `COPY "Tëst 表 🎉" TO STDOUT WITH (FORMAT csv, HEADER)`},
		{name: "view", table: `"Mixed Case".vw`, truth: `COPY (SELECT * FROM "Mixed Case".vw) TO STDOUT WITH (FORMAT csv)`},
	}
	client := testenv.S3(t)
	bucket := testenv.Bucket(t)
	dir := t.TempDir()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			truth := tt.truth
			if truth == "" {
				h := ""
				if tt.header {
					h = ", HEADER"
				}
				truth = "COPY (" + tt.query + ") TO STDOUT WITH (FORMAT csv" + h + ")"
			}
			want := testenv.Psql(t, truth)
			for _, dest := range []string{"s3", "stdout", "file"} {
				t.Run(dest, func(t *testing.T) {
					var to string
					var stdout bytes.Buffer
					switch dest {
					case "s3":
						key := testenv.Key(t)
						testenv.Remove(t, client, bucket, key)
						to = "s3://" + bucket + "/" + key
					case "stdout":
						to = "-"
					case "file":
						to = filepath.Join(dir, strings.ReplaceAll(t.Name(), "/", "_")+".csv")
					}
					cfg := baseConfig(t, tt.query, to)
					if tt.table != "" {
						cfg.Tables = []string{tt.table}
					}
					cfg.CSV.Header, cfg.Stdout = tt.header, &stdout
					if err := cfg.Validate(); err != nil {
						t.Fatal(err)
					}
					sum, err := exportOne(context.Background(), cfg)
					if err != nil {
						t.Fatal(err)
					}
					var got []byte
					switch dest {
					case "s3":
						u, _ := upload.ParseObject(to)
						got = testenv.Get(t, client, bucket, u.Key)
						if tt.wantParts != 0 && sum.Parts != tt.wantParts {
							t.Errorf("parts = %d, want %d", sum.Parts, tt.wantParts)
						}
					case "stdout":
						got = stdout.Bytes()
					case "file":
						if got, err = os.ReadFile(to); err != nil {
							t.Fatal(err)
						}
						assertNoTempFiles(t, dir)
					}
					if testenv.SHA256(got) != testenv.SHA256(want) {
						t.Fatalf("%d bytes, sha256 %s; psql wrote %d bytes, sha256 %s\n got: %.300q\nwant: %.300q",
							len(got), testenv.SHA256(got), len(want), testenv.SHA256(want), got, want)
					}
					if sum.Bytes != int64(len(want)) {
						t.Errorf("summary bytes = %d, want %d", sum.Bytes, len(want))
					}
				})
			}
		})
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func assertNoTempFiles(t testing.TB, dir string) {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, ".*.pg2s3-*"))
	if len(m) > 0 {
		t.Errorf("temporary files left behind: %v", m)
	}
}

func TestExportRowCount(t *testing.T) {
	cfg := baseConfig(t, "SELECT g FROM generate_series(1, 12345) g", "-")
	cfg.CSV.Header = true
	cfg.Stdout = &bytes.Buffer{}
	sum, err := exportOne(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Rows != 12345 {
		t.Errorf("rows = %d, want 12345 (from COPY's command tag)", sum.Rows)
	}
}

// Failures before any byte: nothing may be created on S3, and the message must say what is wrong.
func TestExportFailsCleanly(t *testing.T) {
	testenv.Psql(t, `DROP TABLE IF EXISTS secret; CREATE TABLE secret AS SELECT 1 AS x;
		DROP ROLE IF EXISTS pg2s3_noread; CREATE ROLE pg2s3_noread LOGIN PASSWORD 'noread-pw';`)
	noread := testenv.AsRole(t, "pg2s3_noread", "noread-pw")
	tests := []struct {
		name  string
		query string
		table string
		dsn   string
		want  []string
	}{
		{name: "bad SQL", query: "SELECT FROM WHERE", want: []string{"syntax error", "42601", "LINE 1 of the query"}},
		{name: "missing table in query", query: "SELECT * FROM no_such_table", want: []string{`relation "no_such_table" does not exist`, "42P01"}},
		{name: "missing table", table: "no_such_table", want: []string{`table "no_such_table" does not exist`}},
		{name: "permission denied", table: "secret", dsn: noread, want: []string{"permission denied", "42501"}},
		{name: "not read-only", query: "DELETE FROM secret RETURNING *", want: []string{"read-only transaction", "25006"}},
		{name: "error at once", query: "SELECT 1/0", want: []string{"division by zero", "22012"}},
	}
	client := testenv.S3(t)
	bucket := testenv.Bucket(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := testenv.Key(t)
			cfg := baseConfig(t, tt.query, "s3://"+bucket+"/"+key)
			if tt.table != "" {
				cfg.Tables = []string{tt.table}
			}
			if tt.dsn != "" {
				cfg.Conn.DSN = tt.dsn
			}
			_, err := exportOne(context.Background(), cfg)
			mustErr(t, err, tt.want...)
			testenv.AssertNothingLeft(t, client, bucket, key)
		})
	}
	if got := testenv.Psql(t, "SELECT count(*) FROM secret"); string(got) != "1\n" && !strings.Contains(string(got), "1") {
		t.Errorf("the DELETE ran: count is %q", got)
	}
}

// A server error after several parts were uploaded: the multipart upload must be aborted.
func TestExportErrorMidStream(t *testing.T) {
	client := testenv.S3(t)
	bucket := testenv.Bucket(t)
	for _, dest := range []string{"s3", "file"} {
		t.Run(dest, func(t *testing.T) {
			key := testenv.Key(t)
			to := "s3://" + bucket + "/" + key
			dir := t.TempDir()
			if dest == "file" {
				to = filepath.Join(dir, "out.csv")
			}
			var parts []int
			cfg := baseConfig(t, "SELECT g, md5(g::text), 1/(g-1500000) FROM generate_series(1,2000000) g", to)
			cfg.onPart = func(_ string, n int, _ int64) { parts = append(parts, n) }
			_, err := exportOne(context.Background(), cfg)
			mustErr(t, err, "division by zero", "22012")
			if dest == "s3" {
				if len(parts) < 2 {
					t.Errorf("only %d parts were uploaded before the error; the test needs a multipart upload in flight", len(parts))
				}
				testenv.AssertNothingLeft(t, client, bucket, key)
			} else {
				if _, err := os.Stat(to); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("%s exists after a failed export", to)
				}
				assertNoTempFiles(t, dir)
			}
		})
	}
}

// Cancellation mid-stream: the export stops within seconds, aborts, and stops the query.
func TestExportCancelMidStream(t *testing.T) {
	client := testenv.S3(t)
	bucket := testenv.Bucket(t)
	key := testenv.Key(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg := baseConfig(t, "SELECT g, md5(g::text), pg_backend_pid() FROM (SELECT generate_series(1, 200000000) g) s", "s3://"+bucket+"/"+key)
	cfg.onPart = func(_ string, n int, _ int64) {
		if n == 2 {
			cancel()
		}
	}
	start := time.Now()
	_, err := exportOne(ctx, cfg)
	mustErr(t, err, "interrupted")
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %v is not context.Canceled", err)
	}
	if d := time.Since(start); d > 60*time.Second {
		t.Errorf("export took %s to stop after cancellation", d)
	}
	testenv.AssertNothingLeft(t, client, bucket, key)
	assertQueryGone(t, "generate_series(1, 200000000)")
}

func TestExportCancelledBeforeStart(t *testing.T) {
	client := testenv.S3(t)
	bucket := testenv.Bucket(t)
	key := testenv.Key(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := exportOne(ctx, baseConfig(t, "SELECT 1", "s3://"+bucket+"/"+key))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	testenv.AssertNothingLeft(t, client, bucket, key)
}

// An S3 failure must cancel the query: a missing bucket stops a long COPY at the first part.
func TestExportS3FailureStopsQuery(t *testing.T) {
	cfg := baseConfig(t, "SELECT g, md5(g::text), 'stopme' FROM (SELECT generate_series(1, 200000000) g) s", "s3://pg2s3-no-such-bucket/x.csv")
	start := time.Now()
	_, err := exportOne(context.Background(), cfg)
	mustErr(t, err, "NoSuchBucket", "s3://pg2s3-no-such-bucket/x.csv")
	if d := time.Since(start); d > 60*time.Second {
		t.Errorf("export took %s to fail", d)
	}
	assertQueryGone(t, "'stopme'")
}

// assertQueryGone waits a little for the server to finish cancelling, then checks that no backend
// runs a query containing marker.
func assertQueryGone(t testing.TB, marker string) {
	t.Helper()
	q := "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%" + strings.ReplaceAll(marker, "'", "''") + "%' AND pid <> pg_backend_pid() AND state = 'active'"
	for i := 0; i < 50; i++ {
		if strings.TrimSpace(string(testenv.Psql(t, "COPY ("+q+") TO STDOUT"))) == "0" {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Errorf("the query %s still runs on the server after the export failed", marker)
}

func TestQueryErrorPointsIntoQuery(t *testing.T) {
	cfg := baseConfig(t, "SELECT 1,\n  2 +* 3", "-")
	cfg.Stdout = &bytes.Buffer{}
	_, err := exportOne(context.Background(), cfg)
	var qe *copyout.QueryError
	if !errors.As(err, &qe) {
		t.Fatalf("err = %v, want a *copyout.QueryError", err)
	}
	// The server points at the operator, the 5th character of line 2.
	if want := "LINE 2 of the query:   2 +* 3\n" + strings.Repeat(" ", len("LINE 2 of the query: ")+4) + "^"; !strings.Contains(err.Error(), want) {
		t.Errorf("error:\n%s\nwant it to contain:\n%s", err, want)
	}
}
