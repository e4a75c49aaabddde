package main

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pg2s3/pg2s3/internal/testenv"
)

// Parquet's documented memory bound: about row group + (concurrency + 1) x part size + a constant,
// per job; flat in the table's size (100 MB and 1 GB of binary COPY), and a 20 MB value adds a
// few times its own size (the socket buffer, the column buffer, the encoded and the compressed
// page, and the previous row's that the collector has not given back yet: 165-194 MiB measured
// idle, 220 MiB once with the suite beside it), not a multiple of the bound.
func TestParquetMemoryBounded(t *testing.T) {
	bucket, client := testenv.Stack(t)
	testenv.Psql(t, `DROP TABLE IF EXISTS pqm_small, pqm_large, pqm_wide;
		CREATE TABLE pqm_small AS SELECT g::int8 AS id, md5(g::text) || md5((g + 1)::text) AS a, now() - g * interval '1 s' AS ts,
			(g * 0.01)::numeric(12,2) AS n, g / 7.0::float8 AS f, ARRAY[g, g + 1, g + 2] AS arr FROM generate_series(1, 600000) g;
		CREATE TABLE pqm_large AS SELECT * FROM pqm_small, generate_series(1, 10) s;
		CREATE TABLE pqm_wide AS SELECT g AS id, (SELECT string_agg(md5((g * 1000000 + i)::text), '') FROM generate_series(1, 625000) i) AS big
			FROM generate_series(1, 6) g;`)
	const rowGroup, partSize, concurrency = 16 << 20, 8 << 20, 4
	const overhead = 64 << 20 // as for CSV (TestMemoryBounded): the runtime, the SDK, HTTP and pgconn buffers
	const wide = 20 << 20
	bound := int64(rowGroup+(concurrency+1)*partSize) + overhead
	rss := map[string]int64{}
	for _, table := range []string{"pqm_small", "pqm_large", "pqm_wide"} {
		key := testenv.Key(t) + ".parquet"
		defer testenv.Remove(t, client, bucket, key)
		r := pg2s3(t, nil, "export", "-t", table, "--to", "s3://"+bucket+"/"+key, "--row-group-size", "16MiB",
			"--part-size", "8MiB", "--concurrency", "4", "--json")
		if r.code != 0 {
			t.Fatalf("%s: exit %d: %s", table, r.code, r.stderr)
		}
		var sum struct {
			Rows     int64
			Bytes    int64
			CSVBytes int64 `json:"csv_bytes"`
			PeakRSS  int64 `json:"peak_rss_bytes"`
		}
		if json.Unmarshal([]byte(r.stdout), &sum); sum.PeakRSS == 0 {
			t.Fatalf("no peak_rss_bytes in %s", r.stdout)
		}
		limit := bound
		if table == "pqm_wide" {
			limit += 6 * wide
		}
		t.Logf("%s: %d rows, %d MB of binary COPY, %d MB of Parquet, peak RSS %.1f MiB (bound %.0f MiB)",
			table, sum.Rows, sum.CSVBytes/1e6, sum.Bytes/1e6, float64(sum.PeakRSS)/(1<<20), float64(limit)/(1<<20))
		if sum.PeakRSS > limit {
			t.Errorf("%s: peak RSS %d bytes exceeds the documented bound %d", table, sum.PeakRSS, limit)
		}
		rss[table] = sum.PeakRSS
	}
	if rss["pqm_large"] > rss["pqm_small"]+32<<20 {
		t.Errorf("peak RSS grew with the table: %d bytes for 10x the data vs %d", rss["pqm_large"], rss["pqm_small"])
	}
}

// A string column of few distinct values (by the planner's statistics) is written with a
// dictionary, one of many values (a hash) without: DuckDB reads the encodings from the file's
// metadata, and the values back.
func TestParquetDictionaryForFewValues(t *testing.T) {
	bucket, client := testenv.Stack(t)
	testenv.Psql(t, `DROP TABLE IF EXISTS pq_dict; CREATE TABLE pq_dict AS SELECT g AS id,
		(ARRAY['active', 'pending', 'shipped', 'lost in transit'])[1 + g % 4] AS status, md5(g::text) AS hash
		FROM generate_series(1, 50000) g; ANALYZE pq_dict;`)
	t.Cleanup(func() { testenv.Psql(t, "DROP TABLE IF EXISTS pq_dict") })
	key := testenv.Key(t) + ".parquet"
	if r := pg2s3(t, nil, "export", "-t", "pq_dict", "--format", "parquet", "--to", "s3://"+bucket+"/"+key, "-q"); r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	file := filepath.Join(t.TempDir(), "pq_dict.parquet")
	if err := os.WriteFile(file, testenv.Get(t, client, bucket, key), 0o644); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	encodings := map[string]string{}
	rows, err := db.Query(fmt.Sprintf(`SELECT path_in_schema, string_agg(DISTINCT encodings, ',') FROM parquet_metadata('%s') GROUP BY 1`, file))
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var col, enc string
		rows.Scan(&col, &enc)
		encodings[col] = enc
	}
	rows.Close()
	if !strings.Contains(encodings["status"], "RLE_DICTIONARY") || strings.Contains(encodings["hash"], "DICTIONARY") {
		t.Errorf("encodings %v: want a dictionary for status (4 values) and none for hash (50000)", encodings)
	}
	var n, lost int
	if err := db.QueryRow(fmt.Sprintf(`SELECT count(*), count(*) FILTER (WHERE status = 'lost in transit') FROM '%s'`, file)).Scan(&n, &lost); err != nil || n != 50000 || lost != 12500 {
		t.Errorf("DuckDB reads %d rows, %d lost in transit (%v); want 50000 and 12500", n, lost, err)
	}
}
