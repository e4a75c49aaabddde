package preset_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	_ "github.com/duckdb/duckdb-go/v2" // DuckDB as a real third-party reader (test-only)
	"github.com/klauspost/compress/zstd"

	"github.com/pg2s3/pg2s3/copyout"
	"github.com/pg2s3/pg2s3/export"
	"github.com/pg2s3/pg2s3/preset"
	"github.com/pg2s3/pg2s3/upload"
)

func need(t *testing.T) (dsn, bucket string) {
	t.Helper()
	for _, v := range []string{"PG2S3_TEST_DSN", "PG2S3_TEST_BUCKET", "PG2S3_TEST_S3_ENDPOINT"} {
		if os.Getenv(v) == "" {
			t.Skipf("%s is not set: run the tests with `make test` (scripts/stack.sh starts PostgreSQL and MinIO)", v)
		}
	}
	return os.Getenv("PG2S3_TEST_DSN"), os.Getenv("PG2S3_TEST_BUCKET")
}

// psql runs sql with the export session's settings, stdin as COPY FROM STDIN's data.
func psql(t *testing.T, sql string, stdin []byte) string {
	t.Helper()
	cmd := exec.Command("psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-d", os.Getenv("PG2S3_TEST_DSN"), "-c", sql)
	cmd.Env = append(os.Environ(), "PGOPTIONS="+copyout.Session{}.PGOptions())
	cmd.Stdin = bytes.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("psql -c %q: %v\n%s", sql, err, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

func hardValues(t *testing.T) string {
	b, err := os.ReadFile("../testdata/hard_values.sql")
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func decompress(t *testing.T, algo string, b []byte) []byte {
	t.Helper()
	var r io.Reader = bytes.NewReader(b)
	switch algo {
	case "gzip":
		zr, err := gzip.NewReader(r)
		if err != nil {
			t.Fatal(err)
		}
		r = zr
	case "zstd":
		zr, err := zstd.NewReader(r)
		if err != nil {
			t.Fatal(err)
		}
		defer zr.Close()
		r = zr
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// For every preset and every compression: the export loads back into PostgreSQL with nothing
// lost (EXCEPT ALL both ways is empty), and DuckDB reads it with the statement the duckdb preset
// prints, with the same rows, NULLs and text values.
func TestRoundTrip(t *testing.T) {
	dsn, bucket := need(t)
	psql(t, "DROP TABLE IF EXISTS rt; CREATE TABLE rt AS "+hardValues(t), nil)
	client, err := upload.NewClient(context.Background(), upload.ClientConfig{Endpoint: os.Getenv("PG2S3_TEST_S3_ENDPOINT")})
	if err != nil {
		t.Fatal(err)
	}
	ncols := 24
	// What DuckDB must find: per column, the NULL count, and for the text columns 2-10 the values.
	pgNulls := make([]string, ncols)
	for i := range ncols {
		pgNulls[i] = psql(t, fmt.Sprintf("SELECT count(*) FILTER (WHERE column%d IS NULL) FROM rt", i+1), nil)
	}
	pgText := psql(t, "SELECT string_agg(concat_ws('|', column2, column3, column4, column5, column6, column7, column8, column9, column10), '#' ORDER BY column1) FROM rt", nil)
	dir := t.TempDir()
	for _, name := range preset.Names() {
		p, _ := preset.Get(name)
		for _, comp := range []string{"none", "gzip", "zstd"} {
			t.Run(name+"/"+comp, func(t *testing.T) {
				key := fmt.Sprintf("test/roundtrip/%s-%s.csv", name, comp)
				cfg := export.Config{
					DSN: dsn, Table: "rt", To: "s3://" + bucket + "/" + key,
					CSV:      copyout.Options{Header: p.Header, Null: p.Null},
					Compress: export.Compression{Algorithm: comp},
					S3:       upload.ClientConfig{Endpoint: os.Getenv("PG2S3_TEST_S3_ENDPOINT")}, PartSize: upload.MinPartSize, Concurrency: 2,
				}
				sum, err := export.Run(context.Background(), cfg)
				if err != nil {
					t.Fatal(err)
				}
				_, storedKey, _ := upload.ParseURL(sum.Destination)
				out, err := client.GetObject(context.Background(), &s3.GetObjectInput{Bucket: &bucket, Key: &storedKey})
				if err != nil {
					t.Fatal(err)
				}
				stored, _ := io.ReadAll(out.Body)
				out.Body.Close()
				client.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: &bucket, Key: &storedKey})

				// PostgreSQL: COPY FROM into a fresh table of the same definition.
				opts := "FORMAT csv"
				if p.Header {
					opts += ", HEADER"
				}
				if p.Null != nil {
					opts += ", NULL " + copyout.QuoteLiteral(*p.Null)
				}
				psql(t, "DROP TABLE IF EXISTS rt_back; CREATE TABLE rt_back (LIKE rt)", nil)
				psql(t, "COPY rt_back FROM STDIN WITH ("+opts+")", decompress(t, comp, stored))
				diff := psql(t, "SELECT (SELECT count(*) FROM (SELECT * FROM rt EXCEPT ALL SELECT * FROM rt_back) a) || ' ' || "+
					"(SELECT count(*) FROM (SELECT * FROM rt_back EXCEPT ALL SELECT * FROM rt) b) || ' ' || (SELECT count(*) FROM rt_back)", nil)
				if diff != "0 0 2" {
					t.Errorf("PostgreSQL round trip: rows only in the original, only in the copy, copied: %s", diff)
				}

				// DuckDB: the duckdb preset's statement, on the downloaded file (DuckDB's S3 reader
				// is an extension it would download, and this machine has no internet).
				local := filepath.Join(dir, filepath.Base(storedKey))
				if err := os.WriteFile(local, stored, 0o644); err != nil {
					t.Fatal(err)
				}
				stmt := preset.Statement(preset.Load{Loader: "duckdb", URL: local, Table: "rt_duck", Header: p.Header, Null: p.Null, Compress: comp})
				db, err := sql.Open("duckdb", "")
				if err != nil {
					t.Fatal(err)
				}
				defer db.Close()
				if _, err := db.Exec(stmt); err != nil {
					t.Fatalf("DuckDB: %v\n%s", err, stmt)
				}
				cols := duckColumns(t, db)
				if len(cols) != ncols {
					t.Fatalf("DuckDB sees %d columns, want %d: %v", len(cols), ncols, cols)
				}
				var rows int
				db.QueryRow("SELECT count(*) FROM rt_duck").Scan(&rows)
				if rows != 2 {
					t.Errorf("DuckDB: %d rows, want 2", rows)
				}
				for i, c := range cols {
					var n string
					db.QueryRow(fmt.Sprintf(`SELECT count(*) FILTER (WHERE "%s" IS NULL) FROM rt_duck`, c)).Scan(&n)
					if n != pgNulls[i] {
						t.Errorf("DuckDB: column %d (%s) has %s NULLs, PostgreSQL %s", i+1, c, n, pgNulls[i])
					}
				}
				var text string
				q := fmt.Sprintf(`SELECT string_agg(concat_ws('|', %s), '#' ORDER BY "%s") FROM rt_duck`, quoteCols(cols[1:10]), cols[0])
				if err := db.QueryRow(q).Scan(&text); err != nil {
					t.Fatal(err)
				}
				if text != pgText {
					t.Errorf("DuckDB's text values differ from PostgreSQL's:\nduckdb: %q\npg:     %q", text, pgText)
				}
			})
		}
	}
}

func duckColumns(t *testing.T, db *sql.DB) []string {
	rows, err := db.Query("SELECT column_name FROM information_schema.columns WHERE table_name = 'rt_duck' ORDER BY ordinal_position")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var cols []string
	for rows.Next() {
		var c string
		rows.Scan(&c)
		cols = append(cols, c)
	}
	return cols
}

func quoteCols(cols []string) string {
	q := make([]string, len(cols))
	for i, c := range cols {
		q[i] = `"` + c + `"::VARCHAR`
	}
	return strings.Join(q, ", ")
}
