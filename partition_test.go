package main

import (
	"bytes"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	_ "github.com/duckdb/duckdb-go/v2" // DuckDB as a real third-party reader (test-only)
	"golang.org/x/sync/errgroup"

	"github.com/pg2s3/pg2s3/engine"
	"github.com/pg2s3/pg2s3/internal/testenv"
	"github.com/pg2s3/pg2s3/upload"
)

// partitionTable: 2M rows over 1,000 values of cat, among them NULL, ” and values Hive must
// escape, spread over the heap (so that every chunk holds most values).
const partitionTable = `DROP TABLE IF EXISTS part_src;
CREATE TABLE part_src AS SELECT g AS id,
  CASE g % 1000 WHEN 0 THEN NULL WHEN 1 THEN '' WHEN 2 THEN 'a/b=c?d#e' WHEN 3 THEN 'x:y%z "q" ''s''' WHEN 4 THEN 'é 中 🎉'
       WHEN 5 THEN E'tab\there' ELSE 'c' || (g % 1000) END AS cat,
  md5(g::text) AS payload, g * 0.5 AS amount
FROM generate_series(1, 2000000) g;
ANALYZE part_src;`

// A partitioned export is the table, split by value: the objects' rows together are the table's
// (as a multiset, so no two objects overlap and nothing is lost), every row sits under its own
// value's Hive path, the manifest lists each object's value, memory stays within the unpartitioned
// bound (one open object per worker), and DuckDB's hive_partitioning reads the same values back.
func TestPartitionBy(t *testing.T) {
	bucket, client := testenv.Stack(t)
	testenv.Psql(t, partitionTable)
	prefix := testenv.Key(t) + "/"
	r := pg2s3(t, nil, "export", "-t", "part_src", "--to", "s3://"+bucket+"/"+prefix, "--partition-by", "cat",
		"--chunk-size", "40MiB", "--jobs", "3", "--part-size", "8MiB", "--concurrency", "4", "--json")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var sum struct {
		Objects int
		PeakRSS int64 `json:"peak_rss_bytes"`
	}
	json.Unmarshal([]byte(r.stdout), &sum)
	const bound = 3*(4+1)*(8<<20) + 64<<20 // as TestMemoryBounded: jobs x (concurrency+1) x part + overhead
	t.Logf("%d objects, peak RSS %.1f MiB (unpartitioned bound %.0f MiB)", sum.Objects, float64(sum.PeakRSS)/(1<<20), float64(bound)/(1<<20))
	if sum.PeakRSS > bound {
		t.Errorf("peak RSS %d exceeds the unpartitioned bound %d", sum.PeakRSS, bound)
	}

	objs := readManifest(t, client, "s3://"+bucket+"/"+prefix+"manifest.json").Objects
	values := map[string]bool{}
	var lines []string
	chunks := map[int]bool{}
	for _, o := range objs {
		v := o.Partition[0].Value
		want := "cat=" + engine.HiveDefault
		if v != nil && *v != "" {
			want = "cat=" + hiveEscapeForTest(*v)
		}
		if !strings.Contains(o.URL, "/public.part_src/"+want+"/") {
			t.Fatalf("object %s is not under %s", o.URL, want)
		}
		key := "<null>"
		if v != nil {
			key = *v
		}
		values[key] = true
		chunks[o.Chunk] = true
		body := testenv.GetURL(t, client, o.URL)
		recs, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
		if err != nil {
			t.Fatalf("%s: %v", o.URL, err)
		}
		if int64(len(recs)) != o.Rows {
			t.Errorf("%s: %d rows, the manifest says %d", o.URL, len(recs), o.Rows)
		}
		for _, rec := range recs { // NULL and '' are told apart by the byte comparison below
			if (v == nil && rec[1] != "") || (v != nil && rec[1] != *v) {
				t.Fatalf("%s holds a row of cat %q", o.URL, rec[1])
			}
		}
		lines = append(lines, strings.SplitAfter(string(body), "\n")...)
	}
	wantChunks := 2 // before PostgreSQL 14 there is no TID Range Scan: a table is one chunk
	if v := testenv.ServerVersionNum(t); v < 140000 {
		wantChunks = 1
	}
	if len(values) != 1000 || len(chunks) < wantChunks {
		t.Errorf("%d partition values over %d chunks; want 1000 over at least %d", len(values), len(chunks), wantChunks)
	}
	// The union is the table: the same CSV lines as psql's, as a multiset.
	want := strings.SplitAfter(string(testenv.Psql(t, "COPY part_src TO STDOUT WITH (FORMAT csv)")), "\n")
	slices.Sort(lines)
	slices.Sort(want)
	lines, want = slices.DeleteFunc(lines, func(s string) bool { return s == "" }), slices.DeleteFunc(want, func(s string) bool { return s == "" })
	if !slices.Equal(lines, want) {
		t.Errorf("the objects hold %d lines, the table %d, and they differ", len(lines), len(want))
	}

	// Parquet, the partition column dropped (Hive's convention): DuckDB's hive_partitioning reads
	// the value from the path, with the same count per value ('' and NULL are both Hive's default).
	pqPrefix := testenv.Key(t) + "/"
	r = pg2s3(t, nil, "export", "-t", "part_src", "--to", "s3://"+bucket+"/"+pqPrefix, "--partition-by", "cat",
		"--partition-drop-columns", "--format", "parquet", "--chunk-size", "40MiB", "--jobs", "2", "--quiet")
	if r.code != 0 {
		t.Fatalf("parquet: exit %d: %s", r.code, r.stderr)
	}
	dir := t.TempDir()
	for _, o := range readManifest(t, client, "s3://"+bucket+"/"+pqPrefix+"manifest.json").Objects {
		u, _ := upload.ParseObject(o.URL)
		local := filepath.Join(dir, strings.TrimPrefix(u.Key, pqPrefix))
		os.MkdirAll(filepath.Dir(local), 0o755)
		if err := os.WriteFile(local, testenv.Get(t, client, bucket, u.Key), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(fmt.Sprintf(`SELECT coalesce(cat, '<null>'), count(*), count(DISTINCT id) FROM read_parquet('%s/**/*.parquet', hive_partitioning = true, hive_types_autocast = false) GROUP BY 1`, dir))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	duck := map[string]int{}
	for rows.Next() {
		var cat string
		var n, ids int
		rows.Scan(&cat, &n, &ids)
		duck[cat] = n
	}
	pgCounts := map[string]int{}
	for _, l := range strings.Split(strings.TrimSpace(testenv.PsqlValue(t,
		`SELECT k || E'\t' || n FROM (SELECT coalesce(nullif(cat, ''), '<null>') AS k, count(*) AS n FROM part_src GROUP BY 1) s`)), "\n") {
		k, n, _ := strings.Cut(l, "\t")
		var c int
		fmt.Sscan(n, &c)
		pgCounts[k] = c
	}
	for k, n := range pgCounts {
		if strings.Contains(k, "\t") { // psql -At cannot show a tab inside a value apart from the separator
			continue
		}
		if duck[k] != n {
			t.Errorf("partition %q: DuckDB reads %d rows, PostgreSQL has %d", k, duck[k], n)
		}
	}
	if len(duck) != 999 { // '' joined NULL
		t.Errorf("DuckDB sees %d partition values, want 999", len(duck))
	}
}

// hiveEscapeForTest is Hive's escaping of the characters the test's values hold, written out.
var hiveEscapeForTest = strings.NewReplacer("/", "%2F", "=", "%3D", "?", "%3F", "#", "%23", ":", "%3A", "%", "%25",
	`"`, "%22", "'", "%27", "\t", "%09").Replace

// The guards: a table without the column, and more partitions than --max-partitions by the
// planner's estimate (before anything is uploaded), exit 2 with the flag named; more than that
// found as the run goes (an expression the planner cannot estimate) is a failed run, exit 1, with
// the flag named and nothing left.
func TestPartitionGuards(t *testing.T) {
	bucket, client := testenv.Stack(t)
	testenv.Psql(t, `DROP TABLE IF EXISTS part_guard; CREATE TABLE part_guard AS SELECT g AS id, g % 500 AS k FROM generate_series(1, 20000) g; ANALYZE part_guard;`)
	prefix := testenv.Key(t) + "/"
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--partition-by", "nope"}, 2, `--partition-by nope: table "public"."part_guard" has no column "nope"`},
		{[]string{"--partition-by", "k", "--max-partitions", "100"}, 2, "--max-partitions 100: the planner estimates 500"},
		{[]string{"--partition-by", "b=k % 200", "--max-partitions", "150"}, 1, "--max-partitions 150: "},
		{[]string{"--partition-by", "b=k +"}, 2, `--partition-by b=k +: on "public"."part_guard": ERROR: syntax error`},
	} {
		r := pg2s3(t, nil, append([]string{"export", "-t", "part_guard", "--to", "s3://" + bucket + "/" + prefix}, c.args...)...)
		if r.code != c.code || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%v: exit %d, %s; want %d and %q", c.args, r.code, r.stderr, c.code, c.want)
		}
		if c.code == 1 && (!strings.Contains(r.stderr, "the run found more partition values than the limit of 150") ||
			strings.Contains(r.stderr, "for usage")) {
			t.Errorf("%v: a failed run, not a usage error: %s", c.args, r.stderr)
		}
		if keys := testenv.ListKeys(t, client, bucket, prefix); len(keys) > 0 {
			t.Errorf("%v: left %v", c.args, keys)
		}
	}
}

// The other shapes: a query (with a repeated column name) to Parquet, partitioned by an expression
// and split by rows; a table in COPY's text format with a header line in every object.
func TestPartitionShapes(t *testing.T) {
	bucket, client := testenv.Stack(t)
	prefix := testenv.Key(t) + "/"
	r := pg2s3(t, nil, "export", "-c", "SELECT g AS id, g % 7 AS k, 'x' AS c, 'y' AS c FROM generate_series(1, 10000) g",
		"--to", "s3://"+bucket+"/"+prefix, "--format", "parquet", "--partition-by", "b=k % 3", "--max-rows", "1000", "--quiet")
	if r.code != 0 {
		t.Fatalf("query to parquet: exit %d: %s", r.code, r.stderr)
	}
	m := readManifest(t, client, "s3://"+bucket+"/"+prefix+"manifest.json")
	dir := t.TempDir()
	for i, o := range m.Objects {
		u, _ := upload.ParseObject(o.URL)
		local := filepath.Join(dir, strings.TrimPrefix(filepath.Dir(u.Key), strings.TrimSuffix(prefix, "/")), fmt.Sprintf("%d.parquet", i))
		os.MkdirAll(filepath.Dir(local), 0o755)
		os.WriteFile(local, testenv.Get(t, client, bucket, u.Key), 0o644)
	}
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n, bad, parts int
	q := fmt.Sprintf(`SELECT count(*), count(*) FILTER (WHERE CAST(b AS INT) <> k %% 3 OR c <> 'x' OR c_2 <> 'y'), count(DISTINCT b)
		FROM read_parquet('%s/**/*.parquet', hive_partitioning = true)`, dir)
	if err := db.QueryRow(q).Scan(&n, &bad, &parts); err != nil {
		t.Fatal(err)
	}
	if n != 10000 || bad != 0 || parts != 3 || len(m.Objects) != 11 { // 4285, 2858 and 2857 rows in objects of 1,000
		t.Errorf("DuckDB: %d rows, %d misplaced, %d partitions in %d objects; want 10000, 0, 3 in 11", n, bad, parts, len(m.Objects))
	}
	for _, o := range m.Objects {
		if !strings.HasPrefix(o.URL, "s3://"+bucket+"/"+prefix+"b=") {
			t.Errorf("a query's partitions are the prefix's folders: %s", o.URL)
		}
	}

	testenv.Psql(t, `DROP TABLE IF EXISTS part_text; CREATE TABLE part_text AS SELECT g AS id, 'v' || (g % 4) AS v, E'a\tb' AS t FROM generate_series(1, 4000) g; ANALYZE part_text;`)
	prefix = testenv.Key(t) + "/"
	args := []string{"export", "-t", "part_text", "--to", "s3://" + bucket + "/" + prefix, "--format", "text", "--partition-by", "v", "--quiet"}
	header := true // COPY's text format has HEADER from PostgreSQL 15
	if v := testenv.ServerVersionNum(t); v < 150000 {
		header = false
	} else {
		args = append(args, "--header")
	}
	r = pg2s3(t, nil, args...)
	if r.code != 0 {
		t.Fatalf("text: exit %d: %s", r.code, r.stderr)
	}
	m = readManifest(t, client, "s3://"+bucket+"/"+prefix+"manifest.json")
	rows := 0
	for _, o := range m.Objects {
		lines := strings.Split(strings.TrimSuffix(string(testenv.GetURL(t, client, o.URL)), "\n"), "\n")
		if header {
			if lines[0] != "id\tv\tt" {
				t.Errorf("%s starts with %q, want the header", o.URL, lines[0])
			}
			lines = lines[1:]
		}
		for _, l := range lines {
			if f := strings.Split(l, "\t"); len(f) != 3 || f[1] != *o.Partition[0].Value || f[2] != `a\tb` { // text COPY escapes the tab
				t.Errorf("%s: line %q", o.URL, l)
				break
			}
			rows++
		}
	}
	if rows != 4000 || len(m.Objects) != 4 {
		t.Errorf("%d rows in %d objects, want 4000 in 4", rows, len(m.Objects))
	}
}

// leafTable is a natively partitioned table with every kind of member: LIST leaves of one value
// (one Hive must escape, one NULL), of two values, a DEFAULT leaf (holding ” and others), a leaf
// attached with its own column order and a dropped column, a LIST leaf partitioned again by RANGE
// on a date (leaves of one day, of two days, from MINVALUE and to 'infinity'), an empty leaf, and a generated
// column (which COPY of a table leaves out and SELECT * has).
const leafTable = `DROP TABLE IF EXISTS leaf_src, leaf_gen CASCADE;
DROP ROLE IF EXISTS pg2s3_parent_only;
CREATE TABLE leaf_src (id int, region text, d date, payload text, twice bigint GENERATED ALWAYS AS (id * 2) STORED) PARTITION BY LIST (region);
CREATE TABLE leaf_src_eu PARTITION OF leaf_src FOR VALUES IN ('eu');
CREATE TABLE leaf_src_odd PARTITION OF leaf_src FOR VALUES IN ('it''s/a=b?');
CREATE TABLE leaf_src_null PARTITION OF leaf_src FOR VALUES IN (NULL);
CREATE TABLE leaf_src_xy PARTITION OF leaf_src FOR VALUES IN ('x', 'y');
CREATE TABLE leaf_src_empty PARTITION OF leaf_src FOR VALUES IN ('none');
CREATE TABLE leaf_src_def PARTITION OF leaf_src DEFAULT;
CREATE TABLE leaf_src_us (gone int, payload text, d date, region text, id int, twice bigint GENERATED ALWAYS AS (id * 2) STORED);
ALTER TABLE leaf_src_us DROP COLUMN gone;
ALTER TABLE leaf_src ATTACH PARTITION leaf_src_us FOR VALUES IN ('us');
CREATE TABLE leaf_src_sub PARTITION OF leaf_src FOR VALUES IN ('sub') PARTITION BY RANGE (d);
CREATE TABLE leaf_src_sub_d1 PARTITION OF leaf_src_sub FOR VALUES FROM ('2026-01-01') TO ('2026-01-02');
CREATE TABLE leaf_src_sub_d2 PARTITION OF leaf_src_sub FOR VALUES FROM ('2026-01-02') TO ('2026-01-04');
CREATE TABLE leaf_src_sub_old PARTITION OF leaf_src_sub FOR VALUES FROM (MINVALUE) TO ('2026-01-01');
CREATE TABLE leaf_src_sub_new PARTITION OF leaf_src_sub FOR VALUES FROM ('2026-01-04') TO ('infinity');
INSERT INTO leaf_src (id, region, d, payload)
SELECT g, (ARRAY['eu', 'us', 'it''s/a=b?', NULL, 'x', 'y', 'sub', 'sub', '', 'zz'])[1 + g % 10], DATE '2025-12-30' + g % 7, md5(g::text)
FROM generate_series(1, 300000) g;
ANALYZE leaf_src;
CREATE TABLE leaf_gen (id int, twice bigint GENERATED ALWAYS AS (id * 2) STORED, payload text);
INSERT INTO leaf_gen (id, payload) SELECT g, md5(g::text) FROM generate_series(1, 100000) g;
CREATE ROLE pg2s3_parent_only LOGIN PASSWORD 'parent-only';
GRANT SELECT ON leaf_src TO pg2s3_parent_only;`

// A partitioned table is read leaf by leaf (in chunks, in parallel) and its objects hold the
// parent's rows in the parent's columns, whatever a leaf's own column order; with --partition-by
// on the partition key, the leaves whose bounds fix the value are read without a computed key or
// a sort, and every row still sits under its own value. A role that may read only the parent
// reads it through the parent.
func TestPartitionedTableLeaves(t *testing.T) {
	bucket, client := testenv.Stack(t)
	testenv.Psql(t, leafTable)
	t.Cleanup(func() { testenv.Psql(t, "DROP OWNED BY pg2s3_parent_only; DROP ROLE pg2s3_parent_only") })
	want := sortedLines(testenv.Psql(t, "COPY (SELECT * FROM leaf_src) TO STDOUT WITH (FORMAT csv)"))
	header := "id,region,d,payload,twice\n"

	// union reads a run's objects: their lines without headers (each must be the parent's), and
	// the chunks they came from.
	union := func(t *testing.T, prefix string, check func(engine.Object, [][]string)) (lines []string, chunks map[int]bool) {
		t.Helper()
		chunks = map[int]bool{}
		for _, o := range readManifest(t, client, "s3://"+bucket+"/"+prefix+"manifest.json").Objects {
			body := string(testenv.GetURL(t, client, o.URL))
			if !strings.HasPrefix(body, header) {
				t.Fatalf("%s does not start with the parent's header %q: %.60q", o.URL, header, body)
			}
			body = strings.TrimPrefix(body, header)
			if check != nil {
				recs, err := csv.NewReader(strings.NewReader(body)).ReadAll()
				if err != nil {
					t.Fatalf("%s: %v", o.URL, err)
				}
				check(o, recs)
			}
			chunks[o.Chunk] = true
			lines = append(lines, sortedLines([]byte(body))...)
		}
		slices.Sort(lines)
		return lines, chunks
	}
	run := func(t *testing.T, env []string, args ...string) (prefix, log string) {
		t.Helper()
		prefix = testenv.Key(t) + "/"
		r := pg2s3(t, env, append([]string{"export", "--to", "s3://" + bucket + "/" + prefix, "--header", "-v"}, args...)...)
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		return prefix, r.stderr
	}
	wantChunks := 5 // before PostgreSQL 14 a leaf is not cut into page ranges, but leaves are still chunks of their own
	if testenv.ServerVersionNum(t) < 140000 {
		wantChunks = 4
	}

	t.Run("unpartitioned", func(t *testing.T) {
		prefix, log := run(t, nil, "-t", "leaf_src", "--chunk-size", "1MiB", "--jobs", "3")
		lines, chunks := union(t, prefix, nil)
		if !slices.Equal(lines, want) {
			t.Errorf("the objects hold %d lines, the table %d, and they differ", len(lines), len(want))
		}
		if len(chunks) < wantChunks || !strings.Contains(log, `FROM \"public\".\"leaf_src_us\"`) {
			t.Errorf("%d chunks; want at least %d, reading the leaves on their own:\n%s", len(chunks), wantChunks, log)
		}
	})

	t.Run("partition key", func(t *testing.T) {
		prefix, log := run(t, nil, "-t", "leaf_src", "--chunk-size", "1MiB", "--jobs", "2", "--partition-by", "region", "--partition-by", "d")
		lines, _ := union(t, prefix, func(o engine.Object, recs [][]string) {
			for _, rec := range recs {
				path := "region=" + engine.HiveDefault
				if rec[1] != "" {
					path = "region=" + hiveEscapeForTest(rec[1])
				}
				if !strings.Contains(o.URL, "/public.leaf_src/"+path+"/d="+rec[2]+"/") {
					t.Fatalf("%s holds a row of region %q, d %s", o.URL, rec[1], rec[2])
				}
			}
		})
		if !slices.Equal(lines, want) {
			t.Errorf("the objects hold %d lines, the table %d, and they differ", len(lines), len(want))
		}
		// The leaf whose bounds fix both levels and those fixing one level are told apart in the
		// COPYs: a fixed leaf has a constant key; no COPY sorts (pg2s3 groups the rows).
		copies := 0
		for _, stmt := range strings.Split(log, "\n") {
			if !strings.Contains(stmt, "running COPY") {
				continue
			}
			copies++
			fixed := strings.Contains(stmt, `leaf_src_sub_d1\"`)
			if strings.Contains(stmt, "ORDER BY") || fixed == strings.Contains(stmt, "(region)") {
				t.Errorf("leaf_src_sub_d1 is the one leaf whose bounds fix both levels (its COPY alone has a constant key), and no COPY sorts:\n%s", stmt)
			}
		}
		if copies == 0 {
			t.Errorf("the log shows no COPY: nothing above was checked")
		}
	})

	t.Run("one level", func(t *testing.T) {
		prefix, log := run(t, nil, "-t", "leaf_src", "--chunk-size", "1MiB", "--partition-by", "region")
		lines, _ := union(t, prefix, nil)
		if !slices.Equal(lines, want) {
			t.Errorf("the objects hold %d lines, the table %d, and they differ", len(lines), len(want))
		}
		computed := 0
		for _, stmt := range strings.Split(log, "\n") {
			if !strings.Contains(stmt, "running COPY") || !strings.Contains(stmt, "(region)") {
				continue
			}
			computed++
			for _, leaf := range []string{"leaf_src_eu", "leaf_src_us", "leaf_src_odd", "leaf_src_null", "leaf_src_sub_"} {
				if strings.Contains(stmt, leaf) {
					t.Errorf("%s's bound fixes its region, but its COPY computes the key:\n%s", leaf, stmt)
				}
			}
		}
		if computed == 0 {
			t.Errorf("no COPY computed the key: the DEFAULT and two-value leaves' must")
		}
		// A prefix of its own: plan fails (exit 1) on one that holds the run above.
		r := pg2s3(t, nil, "plan", "-t", "leaf_src", "--to", "s3://"+bucket+"/"+testenv.Key(t)+"/", "--chunk-size", "1MiB", "--partition-by", "region")
		if r.code != 0 || !strings.Contains(r.stdout, "/public.leaf_src/region=it%27s%2Fa%3Db%3F/part-") {
			t.Errorf("plan does not show the escaped value a leaf's bound fixes:\n%s%s", r.stdout, r.stderr)
		}
	})

	// Athena's statement (not run here: no Athena) declares the data columns with their Parquet
	// types, the partition column in PARTITIONED BY only, and the table's folder as LOCATION.
	t.Run("athena", func(t *testing.T) {
		prefix := testenv.Key(t) + "/"
		r := pg2s3(t, nil, "export", "-t", "leaf_src", "--to", "s3://"+bucket+"/"+prefix, "--format", "parquet", "--preset", "athena",
			"--partition-by", "region", "--chunk-size", "4MiB")
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		want := "CREATE EXTERNAL TABLE IF NOT EXISTS `public`.`leaf_src` (\n  `id` int,\n  `d` date,\n  `payload` string,\n  `twice` bigint\n)\n" +
			"PARTITIONED BY (`region` string)\nSTORED AS PARQUET\nLOCATION 's3://" + bucket + "/" + prefix + "public.leaf_src/';\n" +
			"MSCK REPAIR TABLE `public`.`leaf_src`;"
		if !strings.Contains(r.stdout+r.stderr, want) {
			t.Errorf("the summary does not hold\n%s\n%s%s", want, r.stdout, r.stderr)
		}
	})

	t.Run("parent only", func(t *testing.T) {
		prefix, log := run(t, nil, "--dsn", testenv.AsRole(t, "pg2s3_parent_only", "parent-only"), "-t", "leaf_src", "--chunk-size", "1MiB")
		lines, _ := union(t, prefix, nil)
		if !slices.Equal(lines, want) {
			t.Errorf("the objects hold %d lines, the table %d, and they differ", len(lines), len(want))
		}
		if !strings.Contains(log, "through its parent") || strings.Contains(log, `FROM \"public\".\"leaf_src_`) {
			t.Errorf("a role without SELECT on the leaves must read through the parent:\n%s", log)
		}
	})

	// A table with a generated column has it in every object, whether the table is one chunk
	// (COPY of a table would leave it out) or cut into page ranges.
	t.Run("generated column", func(t *testing.T) {
		wantGen := sortedLines(testenv.Psql(t, "COPY (SELECT * FROM leaf_gen) TO STDOUT WITH (FORMAT csv)"))
		for _, size := range []string{"1GiB", "512KiB"} {
			prefix := testenv.Key(t) + "/"
			r := pg2s3(t, nil, "export", "-t", "leaf_gen", "--to", "s3://"+bucket+"/"+prefix, "--chunk-size", size, "-q")
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			var lines []string
			for _, o := range readManifest(t, client, "s3://"+bucket+"/"+prefix+"manifest.json").Objects {
				lines = append(lines, sortedLines(testenv.GetURL(t, client, o.URL))...)
			}
			slices.Sort(lines)
			if !slices.Equal(lines, wantGen) {
				t.Errorf("chunk size %s: %d lines, want SELECT *'s %d (with the generated column)", size, len(lines), len(wantGen))
			}
		}
		r := pg2s3(t, nil, "export", "-t", "leaf_gen", "--to", "-")
		if r.code != 0 || len(wantGen) == 0 {
			t.Fatalf("to stdout: exit %d (%d rows wanted): %s", r.code, len(wantGen), r.stderr)
		}
		if got := sortedLines([]byte(r.stdout)); !slices.Equal(got, wantGen) {
			t.Errorf("to stdout: %d lines, want SELECT *'s %d (with the generated column)", len(got), len(wantGen))
		}
	})
}

// manySrc: 1M rows over 10,000 values of cat, interleaved row by row (the worst case for grouping
// rows: every value is open at once, all through the table).
const manySrc = `DROP TABLE IF EXISTS many_src;
CREATE TABLE many_src AS SELECT g AS id, 'c' || (g % 10000) AS cat, md5(g::text) AS payload FROM generate_series(1, 1000000) g;
DROP TABLE IF EXISTS many500;
CREATE TABLE many500 AS SELECT id, 'c' || (id % 500) AS cat, payload FROM many_src;
ANALYZE many_src, many500;`

// 10,000 values in one chunk, interleaved, within the memory limit: the server sends the rows as it
// reads them (no sort), pg2s3 groups them in its memory and a spill file, and each value gets one
// object holding exactly its rows. Without a spill file (TMPDIR missing), the rows are the same, in
// more objects.
func TestPartitionRouter(t *testing.T) {
	bucket, client := testenv.Stack(t)
	testenv.Psql(t, manySrc)
	type summary struct {
		Objects, Partitions int
		Most                int   `json:"max_objects_per_partition"`
		Spilled             int64 `json:"spilled_bytes"`
		PeakRSS             int64 `json:"peak_rss_bytes"`
	}
	export := func(t *testing.T, env []string, args ...string) (summary, engine.Manifest) {
		prefix := "s3://" + bucket + "/" + testenv.Key(t) + "/"
		r := pg2s3(t, env, append([]string{"export", "--to", prefix, "--partition-by", "cat", "--chunk-size", "0",
			"--jobs", "2", "--part-size", "8MiB", "--concurrency", "4", "--memory-limit", "64MiB", "--max-partitions", "20000", "--json"}, args...)...)
		if r.code != 0 || r.stdout == "" {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		var s summary
		if err := json.Unmarshal([]byte(r.stdout), &s); err != nil {
			t.Fatal(err)
		}
		return s, readManifest(t, client, prefix+"manifest.json")
	}
	// every row once, under its own value
	check := func(t *testing.T, m engine.Manifest) {
		seen := make([]bool, 1000001)
		var mu sync.Mutex
		var g errgroup.Group
		g.SetLimit(8)
		for _, o := range m.Objects {
			g.Go(func() error {
				recs, err := csv.NewReader(bytes.NewReader(testenv.GetURL(t, client, o.URL))).ReadAll()
				if err != nil {
					return fmt.Errorf("%s: %w", o.URL, err)
				}
				mu.Lock()
				defer mu.Unlock()
				for _, rec := range recs {
					id, _ := strconv.Atoi(rec[0])
					if rec[1] != *o.Partition[0].Value || rec[1] != fmt.Sprintf("c%d", id%10000) || seen[id] {
						return fmt.Errorf("%s (cat %s) holds row %v, or holds it twice", o.URL, *o.Partition[0].Value, rec)
					}
					seen[id] = true
				}
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			t.Fatal(err)
		}
		if i := slices.Index(seen[1:], false); i >= 0 {
			t.Fatalf("row %d is in no object", i+1)
		}
	}

	t.Run("csv", func(t *testing.T) {
		s, m := export(t, nil, "-t", "many_src")
		const bound = 2*(4+1)*(8<<20) + 64<<20 // the unpartitioned bound, as in TestPartitionBy
		t.Logf("%d objects, %d partitions, %.1f MiB spilled, peak RSS %.1f MiB (bound %.0f MiB)",
			s.Objects, s.Partitions, float64(s.Spilled)/(1<<20), float64(s.PeakRSS)/(1<<20), float64(bound)/(1<<20))
		if s.Objects != 10000 || s.Partitions != 10000 || s.Most != 1 || s.Spilled == 0 {
			t.Errorf("%d objects over %d partitions (at most %d each), %d bytes spilled; want one object per value, and rows spilled", s.Objects, s.Partitions, s.Most, s.Spilled)
		}
		if s.PeakRSS > bound {
			t.Errorf("peak RSS %d exceeds the unpartitioned bound %d", s.PeakRSS, bound)
		}
		check(t, m)
	})
	t.Run("no spill file", func(t *testing.T) {
		s, m := export(t, []string{"TMPDIR=" + filepath.Join(t.TempDir(), "missing")}, "-t", "many500")
		if s.Objects <= 500 || s.Partitions != 500 || s.Spilled != 0 {
			t.Errorf("%d objects over %d partitions, %d bytes spilled; want more objects than the 500 values, and nothing spilled", s.Objects, s.Partitions, s.Spilled)
		}
		t.Logf("%d objects for 500 values", s.Objects)
		seenIDs := 0
		for _, o := range m.Objects {
			seenIDs += int(o.Rows)
		}
		if seenIDs != 1000000 {
			t.Errorf("the objects hold %d rows, want 1000000", seenIDs)
		}
	})
	t.Run("parquet", func(t *testing.T) { // DuckDB reads each value's rows under its own path
		s, m := export(t, nil, "-t", "many500", "--format", "parquet", "--partition-drop-columns")
		if s.Objects != 500 || s.Spilled == 0 {
			t.Errorf("%d objects, %d bytes spilled; want one object per value, and rows spilled", s.Objects, s.Spilled)
		}
		dir := t.TempDir()
		for i, o := range m.Objects {
			v := *o.Partition[0].Value
			if err := os.MkdirAll(filepath.Join(dir, "cat="+v), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "cat="+v, fmt.Sprintf("%d.parquet", i)), testenv.GetURL(t, client, o.URL), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		db, err := sql.Open("duckdb", "")
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var rows, ids, wrong int
		err = db.QueryRow(fmt.Sprintf(`SELECT count(*), count(DISTINCT id), count(*) FILTER (WHERE 'c' || (id %% 500) <> cat)
			FROM read_parquet('%s/**/*.parquet', hive_partitioning = true, hive_types_autocast = false)`, dir)).Scan(&rows, &ids, &wrong)
		if err != nil || rows != 1000000 || ids != 1000000 || wrong != 0 {
			t.Errorf("DuckDB reads %d rows, %d ids, %d under another value's path (%v); want 1000000, 1000000, 0", rows, ids, wrong, err)
		}
	})
}
