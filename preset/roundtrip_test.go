package preset_test

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	_ "github.com/duckdb/duckdb-go/v2" // DuckDB as a real third-party reader (test-only)

	"github.com/pg2s3/pg2s3/columnar"
	"github.com/pg2s3/pg2s3/copyout"
	"github.com/pg2s3/pg2s3/engine"
	"github.com/pg2s3/pg2s3/internal/testenv"
	"github.com/pg2s3/pg2s3/preset"
	"github.com/pg2s3/pg2s3/upload"
)

// psql runs sql with the export session's settings (psql -At), stdin as COPY FROM STDIN's data.
func psql(t *testing.T, sql string, stdin []byte) string {
	t.Helper()
	return strings.TrimSpace(string(testenv.PsqlInput(t, sql, stdin, "-At")))
}

// For every preset and every compression: the export loads back into PostgreSQL with nothing
// lost (EXCEPT ALL both ways is empty), and DuckDB reads it with the statement the duckdb preset
// prints, with the same rows, NULLs and text values.
func TestRoundTrip(t *testing.T) {
	bucket, client := testenv.Stack(t)
	psql(t, "DROP TABLE IF EXISTS rt; CREATE TABLE rt AS "+strings.TrimSpace(testenv.HardValues(t)), nil)
	ncols := 24
	// What DuckDB must find: per column, the NULL count, and for the text columns 2-10 the values.
	pgNulls := make([]string, ncols)
	for i := range ncols {
		pgNulls[i] = psql(t, fmt.Sprintf("SELECT count(*) FILTER (WHERE column%d IS NULL) FROM rt", i+1), nil)
	}
	pgText := psql(t, "SELECT string_agg(concat_ws('|', column2, column3, column4, column5, column6, column7, column8, column9, column10), '#' ORDER BY column1) FROM rt", nil)
	dir := t.TempDir()
	for _, name := range preset.Names() {
		if preset.Check(name, false, false) != nil {
			continue // athena reads Parquet only; trino and spark Iceberg tables
		}
		p, _ := preset.Get(name)
		for _, comp := range []string{"none", "gzip", "zstd"} {
			t.Run(name+"/"+comp, func(t *testing.T) {
				key := fmt.Sprintf("test/roundtrip/%s-%s.csv", name, comp)
				to, _ := engine.ParseDestination("s3://" + bucket + "/" + key)
				cfg := engine.Config{
					Conn: copyout.Conn{DSN: testenv.DSN(t)}, Tables: []string{"rt"}, To: to,
					CSV:      copyout.Options{Header: p.Header, Null: p.Null},
					Compress: engine.Compression{Algorithm: comp}, S3Client: client,
					Upload: upload.Options{PartSize: upload.MinPartSize, Concurrency: 2},
				}
				m, err := engine.Run(context.Background(), cfg)
				if err != nil {
					t.Fatal(err)
				}
				storedURL, _ := upload.ParseObject(m.Objects[0].URL)
				storedKey := storedURL.Key
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
				psql(t, "COPY rt_back FROM STDIN WITH ("+opts+")", testenv.Decompress(t, comp, stored))
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

// The duckdb preset's Parquet statement loads a Parquet export with its rows and typed columns;
// every other loader's statement names the Parquet format, and postgres refuses.
func TestParquetLoadStatements(t *testing.T) {
	bucket, client := testenv.Stack(t)
	psql(t, "DROP TABLE IF EXISTS rt_pq; CREATE TABLE rt_pq AS SELECT g AS id, (g * 0.5)::numeric(10,1) AS half, now() AS ts, 'x' || g AS label FROM generate_series(1, 1000) g", nil)
	key := "test/roundtrip/rt_pq.parquet"
	to, _ := engine.ParseDestination("s3://" + bucket + "/" + key)
	m, err := engine.Run(context.Background(), engine.Config{Conn: copyout.Conn{DSN: testenv.DSN(t)}, Tables: []string{"rt_pq"}, To: to,
		Parquet: &columnar.Options{}, S3Client: client})
	if err != nil {
		t.Fatal(err)
	}
	local := filepath.Join(t.TempDir(), "rt_pq.parquet")
	if err := os.WriteFile(local, testenv.GetURL(t, client, m.Objects[0].URL), 0o644); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	stmt := preset.Statement(preset.Load{Loader: "duckdb", URL: local, Table: "rt_duck", Parquet: true})
	if _, err := db.Exec(stmt); err != nil {
		t.Fatalf("DuckDB: %v\n%s", err, stmt)
	}
	var n int
	var sum float64
	var typ string
	if err := db.QueryRow("SELECT count(*), sum(half)::double FROM rt_duck").Scan(&n, &sum); err != nil {
		t.Fatal(err)
	}
	db.QueryRow("SELECT data_type FROM information_schema.columns WHERE table_name = 'rt_duck' AND column_name = 'ts'").Scan(&typ)
	if n != 1000 || sum != 250250 || typ != "TIMESTAMP WITH TIME ZONE" {
		t.Errorf("DuckDB loaded %d rows, sum %v, ts %s; want 1000, 250250, TIMESTAMP WITH TIME ZONE", n, sum, typ)
	}
	for loader, want := range map[string]string{"redshift": "FORMAT AS PARQUET", "snowflake": "TYPE = PARQUET",
		"bigquery": "--source_format=PARQUET", "clickhouse": "'Parquet'"} {
		if s := preset.Statement(preset.Load{Loader: loader, URL: "s3://b/k.parquet", Table: "t", Parquet: true}); !strings.Contains(s, want) {
			t.Errorf("%s: %s lacks %s", loader, s, want)
		}
	}
	if err := preset.Check("postgres", true, false); err == nil {
		t.Error("the postgres preset accepts Parquet")
	}
}
