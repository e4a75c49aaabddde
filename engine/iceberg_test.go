package engine

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/pg2s3/pg2s3/columnar"
	"github.com/pg2s3/pg2s3/internal/testenv"
)

// icebergRows is what PostgreSQL holds of icetest.t, as the Iceberg reader renders it (dates and
// timestamps in ISO 8601 at UTC, numerics as numbers, json as its text, arrays as arrays).
func icebergRows(t *testing.T) []map[string]any {
	t.Helper()
	out := testenv.PsqlValue(t, `SELECT coalesce(json_agg(json_build_object(
		'id', id, 'name', name, 'amount', amount::float8, 'ok', ok, 'doc', doc::text, 'tags', tags,
		'day', to_char(day, 'YYYY-MM-DD"T00:00:00.000Z"'),
		'at', to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')) ORDER BY id), '[]') FROM icetest.t`)
	var rows []map[string]any
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("PostgreSQL's rows: %v", err)
	}
	return rows
}

// sameRows compares the reader's rows (any order) with PostgreSQL's, ordered by id.
func sameRows(t *testing.T, got, want []map[string]any) {
	t.Helper()
	if len(got) == 0 || len(got) != len(want) {
		t.Fatalf("the reader sees %d rows, PostgreSQL has %d", len(got), len(want))
	}
	norm := func(v any) string { b, _ := json.Marshal(v); return string(b) }
	slices.SortFunc(got, func(a, b map[string]any) int { return strings.Compare(norm(a["id"]), norm(b["id"])) })
	slices.SortFunc(want, func(a, b map[string]any) int { return strings.Compare(norm(a["id"]), norm(b["id"])) })
	bad := 0
	for i := range want {
		for k, w := range want[i] {
			if g := got[i][k]; norm(g) != norm(w) && !sameNumber(g, w) {
				if bad++; bad <= 5 {
					t.Errorf("row id=%v, column %s: the reader has %s, PostgreSQL %s", want[i]["id"], k, norm(g), norm(w))
				}
			}
		}
	}
}

// sameNumber: the reader prints numbers through json.Number, 64-bit integers as strings;
// PostgreSQL's through float64.
func sameNumber(a, b any) bool {
	var f float64
	var err error
	switch v := a.(type) {
	case json.Number:
		f, err = v.Float64()
	case string:
		f, err = strconv.ParseFloat(v, 64)
	default:
		return false
	}
	w, ok := b.(float64)
	return err == nil && ok && f == w
}

// A run with TableFormat iceberg commits each table as an Iceberg table that a reader pg2s3 did
// not write (icebird, and avsc for the manifests) reads back equal to PostgreSQL; a second run
// replaces its contents in one new snapshot, and every file the manifests name exists, with its
// size and record count.
func TestIcebergTables(t *testing.T) {
	bucket, client := testenv.Stack(t)
	testenv.PsqlValue(t, `DROP SCHEMA IF EXISTS icetest CASCADE; CREATE SCHEMA icetest;
		CREATE TABLE icetest.t (id int PRIMARY KEY, name text, amount numeric(10,2), ok boolean, doc jsonb, tags int[],
			day date, at timestamptz);
		INSERT INTO icetest.t SELECT g, CASE WHEN g % 7 = 0 THEN NULL ELSE 'name ' || g || E' é\n"q"' END, g * 1.25, g % 2 = 0,
			CASE WHEN g % 5 = 0 THEN NULL ELSE jsonb_build_object('g', g, 'a', 'b') END,
			CASE WHEN g % 3 = 0 THEN NULL ELSE ARRAY[g, NULL, -g] END,
			date '2024-01-01' + g, timestamptz '2024-01-01 00:00:00.123+00' + g * interval '1 minute'
		FROM generate_series(1, 30000) g;
		CREATE TABLE icetest.empty (id bigint);
		ANALYZE icetest.t;`)
	prefix := testenv.Prefix(t, client, bucket)
	cfg := config(t, prefix)
	cfg.Schemas, cfg.Parquet, cfg.TableFormat, cfg.ChunkSize = []string{"icetest"}, &columnar.Options{}, "iceberg", 256<<10
	ctx := context.Background()
	m, err := Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	table := "s3://" + bucket + "/" + prefix + "icetest/t"
	first := checkIceberg(t, client, m, `"icetest"."t"`, table, 1)
	if chunked(t) && first < 2 {
		t.Errorf("the table's run wrote %d data files, want several (chunks)", first)
	}
	checkIceberg(t, client, m, `"icetest"."empty"`, "s3://"+bucket+"/"+prefix+"icetest/empty", 1)

	testenv.PsqlValue(t, `DELETE FROM icetest.t WHERE id > 20000; UPDATE icetest.t SET name = 'changed' WHERE id = 1`)
	if m, err = Run(ctx, cfg); err != nil {
		t.Fatalf("the second run: %v", err)
	}
	checkIceberg(t, client, m, `"icetest"."t"`, table, 2)
}

// checkIceberg reads table (the manifest's table name) with the Iceberg reader and checks it is
// at version, holds PostgreSQL's rows, and that its manifests name exactly the run's files, each
// there with its size; it returns the number of data files.
func checkIceberg(t *testing.T, client *s3.Client, m *Manifest, name, tableURL string, version int) int {
	t.Helper()
	var mt *ManifestTable
	for i := range m.Tables {
		if m.Tables[i].Name == name {
			mt = &m.Tables[i]
		}
	}
	if mt == nil || mt.Iceberg == nil || mt.Iceberg.Version != version {
		t.Fatalf("the manifest's table %s: %+v, want an Iceberg commit of version %d (tables %+v)", name, mt, version, m.Tables)
	}
	got := testenv.ReadIceberg(t, client, tableURL)
	// The reader parses the metadata's 64-bit IDs as JavaScript numbers: compared as doubles.
	if got.Snapshot == nil {
		t.Fatalf("the reader sees %s without a current snapshot", got.Version)
	}
	if id, err := got.Snapshot.ID.Float64(); got.Version != fmt.Sprintf("v%d", version) || err != nil || id != float64(mt.Iceberg.Snapshot) {
		t.Errorf("the reader sees %s, snapshot %+v; the run committed version %d, snapshot %d", got.Version, got.Snapshot, version, mt.Iceberg.Snapshot)
	}
	if got.Snapshot.Summary["pg2s3.pg-snapshot"] != m.Snapshot.ID {
		t.Errorf("the snapshot's summary %v does not name the PostgreSQL snapshot %s", got.Snapshot.Summary, m.Snapshot.ID)
	}
	if name == `"icetest"."t"` {
		sameRows(t, got.Rows, icebergRows(t))
		checkMetrics(t, got)
		// The primary key is the identifier field, required; the other columns are optional.
		var required []int
		for _, f := range got.Schema.Fields {
			if f.Required {
				required = append(required, f.ID)
			}
		}
		if len(got.Schema.Fields) == 0 || got.Schema.Fields[0].Name != "id" || !slices.Equal(required, []int{got.Schema.Fields[0].ID}) ||
			!slices.Equal(got.Schema.Identifiers, required) {
			t.Errorf("the schema %+v: want id, alone, required and the identifier field", got.Schema)
		}
	} else if len(got.Rows) != 0 {
		t.Errorf("the empty table reads %d rows", len(got.Rows))
	}
	var live []string
	var records int64
	for _, man := range got.Manifests {
		for _, e := range man.Entries {
			if e.Status == 2 {
				continue
			}
			live = append(live, e.Path)
			records += e.Records
			u := strings.TrimPrefix(e.Path, "s3://")
			b, k, _ := strings.Cut(u, "/")
			h, err := client.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &b, Key: &k})
			if err != nil {
				t.Errorf("the manifest names %s: %v", e.Path, err)
			} else if aws.ToInt64(h.ContentLength) != e.Size {
				t.Errorf("%s has %d bytes, the manifest says %d", e.Path, aws.ToInt64(h.ContentLength), e.Size)
			}
		}
	}
	var wrote []string
	for _, o := range m.Objects {
		if o.Table == name {
			wrote = append(wrote, o.URL)
		}
	}
	slices.Sort(live)
	slices.Sort(wrote)
	if !slices.Equal(live, wrote) {
		t.Errorf("the current snapshot's files %q are not the run's %q", live, wrote)
	}
	if records != mt.Rows {
		t.Errorf("the manifests count %d records, the run exported %d rows", records, mt.Rows)
	}
	return len(live)
}

// checkMetrics holds the manifests' column metrics of icetest.t against PostgreSQL: null counts
// summed over the files, and the smallest lower and largest upper bounds of an integer, a decimal
// and a date column, decoded from Iceberg's single-value form.
func checkMetrics(t *testing.T, got testenv.IcebergRead) {
	t.Helper()
	ids := map[string]int{}
	for _, f := range got.Schema.Fields {
		ids[f.Name] = f.ID
	}
	decode := func(col, h string) int64 {
		b, err := hex.DecodeString(h)
		if err != nil || len(b) == 0 {
			t.Fatalf("column %s: bound %q", col, h)
		}
		if col == "amount" { // big-endian two's complement, the unscaled value
			return new(big.Int).SetBytes(b).Int64() - map[bool]int64{true: 1 << (8 * len(b)), false: 0}[b[0]&0x80 != 0]
		}
		padded := make([]byte, 8)
		copy(padded, b)
		if b[len(b)-1]&0x80 != 0 {
			for i := len(b); i < 8; i++ {
				padded[i] = 0xff
			}
		}
		return int64(binary.LittleEndian.Uint64(padded))
	}
	var nulls int64
	lo, hi := map[string]int64{}, map[string]int64{}
	for _, man := range got.Manifests {
		for _, e := range man.Entries {
			n, _ := e.Nulls[ids["name"]].Int64()
			nulls += n
			for _, col := range []string{"id", "amount", "day"} {
				l, lok := e.Lower[ids[col]]
				u, uok := e.Upper[ids[col]]
				if !lok || !uok {
					t.Fatalf("file %s has no bounds for %s: %v %v", e.Path, col, e.Lower, e.Upper)
				}
				if v := decode(col, l); lo[col] == 0 || v < lo[col] {
					lo[col] = v
				}
				if v := decode(col, u); v > hi[col] {
					hi[col] = v
				}
			}
		}
	}
	want := testenv.PsqlValue(t, `SELECT count(*) - count(name), min(id), max(id), min(amount * 100)::bigint, max(amount * 100)::bigint,
		min(day - date '1970-01-01'), max(day - date '1970-01-01') FROM icetest.t`)
	if g := fmt.Sprintf("%d|%d|%d|%d|%d|%d|%d", nulls, lo["id"], hi["id"], lo["amount"], hi["amount"], lo["day"], hi["day"]); g != strings.TrimSpace(want) {
		t.Errorf("the manifests' metrics (null names|id|amount|day bounds) are %s, PostgreSQL's %s", g, want)
	}
}

// A table's schema evolves across runs, as PostgreSQL's does: a column added, one dropped, one
// widened (integer to bigint). Every version is read back equal to PostgreSQL by the reader, and
// the columns keep their field IDs (the dropped one's is not used again).
func TestIcebergSchemaEvolves(t *testing.T) {
	bucket, client := testenv.Stack(t)
	testenv.PsqlValue(t, `DROP SCHEMA IF EXISTS icevo CASCADE; CREATE SCHEMA icevo;
		CREATE TABLE icevo.t AS SELECT g AS id, 'a' || g AS a, g * 2 AS b FROM generate_series(1, 500) g;`)
	prefix := testenv.Prefix(t, client, bucket)
	cfg := config(t, prefix)
	cfg.Tables, cfg.Parquet, cfg.TableFormat = []string{"icevo.t"}, &columnar.Options{}, "iceberg"
	table := "s3://" + bucket + "/" + prefix + "icevo/t"
	steps := []struct{ alter, ids string }{
		{"", "id=1 a=2 b=3"},
		{"ALTER TABLE icevo.t ADD COLUMN c text; UPDATE icevo.t SET c = 'c' || id WHERE id % 2 = 0", "id=1 a=2 b=3 c=4"},
		{"ALTER TABLE icevo.t DROP COLUMN a", "id=1 b=3 c=4"},
		{"ALTER TABLE icevo.t ALTER COLUMN b TYPE bigint; UPDATE icevo.t SET b = b * 10000000000 WHERE id = 7", "id=1 b=3 c=4"},
		{"ALTER TABLE icevo.t ADD COLUMN a text", "id=1 b=3 c=4 a=5"},
	}
	for i, step := range steps {
		if step.alter != "" {
			testenv.PsqlValue(t, step.alter)
		}
		if _, err := Run(context.Background(), cfg); err != nil {
			t.Fatalf("step %d (%s): %v", i, step.alter, err)
		}
		got := testenv.ReadIceberg(t, client, table)
		var ids []string
		for _, f := range got.Schema.Fields {
			ids = append(ids, fmt.Sprintf("%s=%d", f.Name, f.ID))
		}
		if strings.Join(ids, " ") != step.ids || got.Version != fmt.Sprintf("v%d", i+1) {
			t.Errorf("step %d (%s): version %s, field IDs %s; want v%d, %s", i, step.alter, got.Version, ids, i+1, step.ids)
		}
		var want []map[string]any
		if err := json.Unmarshal([]byte(testenv.PsqlValue(t, `SELECT json_agg(t ORDER BY id) FROM icevo.t`)), &want); err != nil {
			t.Fatal(err)
		}
		sameRows(t, got.Rows, want)
	}
}

// A partitioned Iceberg table (identity on a text and a date column): every file's partition
// values in the manifest, as avsc decodes them, are the values its rows hold, as hyparquet reads
// them from the file, and the table reads back equal to PostgreSQL, NULLs included.
func TestIcebergPartitions(t *testing.T) {
	bucket, client := testenv.Stack(t)
	testenv.PsqlValue(t, `DROP SCHEMA IF EXISTS icepart CASCADE; CREATE SCHEMA icepart;
		CREATE TABLE icepart.t AS SELECT g AS id, (ARRAY['eu', 'us', NULL, 'a/b=c'])[g % 4 + 1] AS region,
			date '2024-02-27' + g % 5 AS day, g * 3 AS v FROM generate_series(1, 4000) g;`)
	prefix := testenv.Prefix(t, client, bucket)
	cfg := config(t, prefix)
	cfg.Tables, cfg.Parquet, cfg.TableFormat = []string{"icepart.t"}, &columnar.Options{}, "iceberg"
	cfg.PartitionBy = []Partition{{Name: "region", Expr: "region", Column: "region"}, {Name: "day", Expr: "day", Column: "day"}}
	if _, err := Run(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	got := testenv.ReadIceberg(t, client, "s3://"+bucket+"/"+prefix+"icepart/t")
	var want []map[string]any
	if err := json.Unmarshal([]byte(testenv.PsqlValue(t, `SELECT json_agg(json_build_object('id', id, 'region', region,
		'day', to_char(day, 'YYYY-MM-DD"T00:00:00.000Z"'), 'v', v) ORDER BY id) FROM icepart.t`)), &want); err != nil {
		t.Fatal(err)
	}
	sameRows(t, got.Rows, want)
	files, seen := 0, map[string]bool{}
	for _, man := range got.Manifests {
		for _, e := range man.Entries {
			files++
			region, day := e.Partition["region"], e.Partition["day"]
			days, ok := day.(json.Number)
			if !ok {
				t.Fatalf("%s: partition %v, want a day number", e.Path, e.Partition)
			}
			n, _ := days.Int64()
			date := time.Unix(n*86400, 0).UTC().Format("2006-01-02T15:04:05.000Z")
			if len(e.RowValues["region"]) != 1 || e.RowValues["region"][0] != region || len(e.RowValues["day"]) != 1 || e.RowValues["day"][0] != date {
				t.Errorf("%s: the manifest says region %v, day %v (%s); its rows hold %v", e.Path, region, day, date, e.RowValues)
			}
			seen[fmt.Sprint(region, date)] = true
		}
	}
	if files != 20 || len(seen) != 20 {
		t.Errorf("%d files over %d partitions, want 20 of each (4 regions, NULL included, x 5 days)", files, len(seen))
	}
}

// Iceberg's time transforms, computed by the server whatever its session's TimeZone (New York
// here): every file's year, month, day or hour in its manifest is the transform of each of its
// rows' values, as hyparquet reads them from the file, before 1970 and across day boundaries too
// (a millisecond before them at most: the reader's JavaScript dates hold milliseconds).
func TestIcebergTimeTransforms(t *testing.T) {
	bucket, client := testenv.Stack(t)
	testenv.PsqlValue(t, `DROP SCHEMA IF EXISTS icetime CASCADE; CREATE SCHEMA icetime;
		CREATE TABLE icetime.t AS SELECT g AS id, timestamptz '1969-12-30 22:30:00.5+00' + g * interval '97 minutes 13.25 seconds' AS at,
			date '1969-11-25' + g * 3 AS d, timestamp '1969-12-31 23:59:59.999' + g * interval '1 hour' AS wall
		FROM generate_series(0, 300) g;`)
	for _, tt := range []struct {
		by   []string
		unit map[string]string // partition field: year, month, day or hour
	}{
		{[]string{"day(at)", "month(d)"}, map[string]string{"at_day": "day", "d_month": "month"}},
		{[]string{"hour(wall)", "year(at)"}, map[string]string{"wall_hour": "hour", "at_year": "year"}},
	} {
		prefix := testenv.Prefix(t, client, bucket)
		cfg := config(t, prefix)
		cfg.Tables, cfg.Parquet, cfg.TableFormat = []string{"icetime.t"}, &columnar.Options{}, "iceberg"
		cfg.Conn.Session.TimeZone = "America/New_York"
		for _, s := range tt.by {
			p, err := ParsePartition(s)
			if err != nil {
				t.Fatal(err)
			}
			cfg.PartitionBy = append(cfg.PartitionBy, p)
		}
		if _, err := Run(context.Background(), cfg); err != nil {
			t.Fatalf("%v: %v", tt.by, err)
		}
		got := testenv.ReadIceberg(t, client, "s3://"+bucket+"/"+prefix+"icetime/t")
		if len(got.Rows) != 301 {
			t.Errorf("%v: the reader sees %d rows, want 301", tt.by, len(got.Rows))
		}
		files := 0
		for _, man := range got.Manifests {
			for _, e := range man.Entries {
				files++
				for field, unit := range tt.unit {
					want, _ := e.Partition[field].(json.Number).Int64()
					for _, v := range e.RowValues[field] {
						ts, err := time.Parse(time.RFC3339Nano, fmt.Sprint(v))
						if err != nil {
							t.Fatalf("%s: a row's %s is %v", e.Path, field, v)
						}
						if got := transform(unit, ts); got != want {
							t.Errorf("%s: %s is %d in the manifest; a row holds %s, whose %s is %d", e.Path, field, want, ts, unit, got)
						}
					}
				}
			}
		}
		if files < 10 {
			t.Errorf("%v: %d files, want one per partition (more than 10)", tt.by, files)
		}
	}
}

// transform is Iceberg's year, month, day or hour transform of a UTC time, as its spec defines it.
func transform(unit string, ts time.Time) int64 {
	ts = ts.UTC()
	switch unit {
	case "year":
		return int64(ts.Year() - 1970)
	case "month":
		return int64((ts.Year()-1970)*12 + int(ts.Month()) - 1)
	case "day":
		return int64(math.Floor(float64(ts.Unix()) / 86400))
	}
	return int64(math.Floor(float64(ts.Unix()) / 3600))
}

// A run whose Iceberg commits stop between two tables (the store refuses the second table's
// metadata file): the first table holds the run's files and reads back whole; the second is not
// created and its files are deleted; no manifest is written; the error says which is which.
func TestIcebergCommitStopsBetweenTables(t *testing.T) {
	bucket, client := testenv.Stack(t)
	testenv.PsqlValue(t, `DROP SCHEMA IF EXISTS icefail CASCADE; CREATE SCHEMA icefail;
		CREATE TABLE icefail.a AS SELECT g AS id FROM generate_series(1, 1000) g;
		CREATE TABLE icefail.b AS SELECT g AS id FROM generate_series(1, 1000) g;`)
	prefix := testenv.Prefix(t, client, bucket)
	proxy := newS3Proxy(t)
	proxy.fault = func(w http.ResponseWriter, r *http.Request, kind string, _, _ int) bool {
		if kind == "PutObject" && strings.HasSuffix(r.URL.Path, "/icefail/b/metadata/v1.metadata.json") {
			s3Error(w, r, http.StatusForbidden, "AccessDenied", "fault: denied")
			return true
		}
		return false
	}
	cfg := config(t, prefix)
	cfg.S3Client, cfg.S3.Endpoint = nil, proxy.URL
	cfg.Schemas, cfg.Parquet, cfg.TableFormat = []string{"icefail"}, &columnar.Options{}, "iceberg"
	_, err := Run(context.Background(), cfg)
	var ie *IcebergCommitError
	if !errors.As(err, &ie) || !slices.Equal(ie.Committed, []string{`"icefail"."a"`}) || ie.Table != `"icefail"."b"` || len(ie.Left) > 0 {
		t.Fatalf("the run: %v, want an IcebergCommitError: a committed, b not, nothing left", err)
	}
	if got := testenv.ReadIceberg(t, client, "s3://"+bucket+"/"+prefix+"icefail/a"); got.Version != "v1" || len(got.Rows) != 1000 {
		t.Errorf("table a: %s with %d rows, want v1 with 1000", got.Version, len(got.Rows))
	}
	if keys := testenv.ListKeys(t, client, bucket, prefix+"icefail/b/data/"); len(keys) > 0 {
		t.Errorf("table b's files are still there: %q", keys)
	}
	if keys := testenv.ListKeys(t, client, bucket, prefix+"icefail/b/metadata/v"); len(keys) > 0 {
		t.Errorf("table b has metadata: %q", keys)
	}
	if keys := testenv.ListKeys(t, client, bucket, prefix+"manifest.json"); len(keys) > 0 {
		t.Errorf("the run's manifest was written: %q", keys)
	}
}

// Incremental runs into Iceberg tables: after each of three runs, with inserts and updates
// between them (rows updated twice, rows moved to another partition), the reader sees exactly
// PostgreSQL's table. A table with a primary key gets the changed rows and an equality delete
// file of their keys, which removes their earlier versions; one without a key gets the changed
// rows appended. The delete files are global (unpartitioned): a row that changed partition is
// deleted where it was.
func TestIcebergIncremental(t *testing.T) {
	bucket, client := testenv.Stack(t)
	testenv.PsqlValue(t, `DROP SCHEMA IF EXISTS iceinc CASCADE; CREATE SCHEMA iceinc;
		CREATE TABLE iceinc.orders (id int PRIMARY KEY, v text, part int, updated_at timestamptz NOT NULL DEFAULT now());
		INSERT INTO iceinc.orders SELECT g, 'v' || g, g % 3, now() - interval '1 day' + g * interval '1 ms' FROM generate_series(1, 3000) g;
		CREATE INDEX ON iceinc.orders (updated_at);
		CREATE TABLE iceinc.events (id int, part int, updated_at timestamptz NOT NULL DEFAULT now());
		INSERT INTO iceinc.events SELECT g, g % 3, now() - interval '1 day' FROM generate_series(1, 100) g;
		CREATE TABLE iceinc.pairs (a int, b int, part int, v text, updated_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (a, b));
		INSERT INTO iceinc.pairs SELECT g % 10, g / 10, g % 3, 'p' || g, now() - interval '1 day' FROM generate_series(1, 200) g;
		CREATE TABLE iceinc.lookup (id int PRIMARY KEY, part int, name text);
		INSERT INTO iceinc.lookup SELECT g, g % 3, 'n' || g FROM generate_series(1, 50) g;
		ANALYZE iceinc.orders, iceinc.events;`)
	prefix := testenv.Prefix(t, client, bucket)
	cfg := config(t, prefix)
	cfg.Schemas, cfg.Parquet, cfg.TableFormat = []string{"iceinc"}, &columnar.Options{}, "iceberg"
	cfg.Incremental = []Incremental{{Column: "updated_at"}}
	cfg.PartitionBy = []Partition{{Name: "part", Expr: "part", Column: "part"}}
	changes := []string{
		"",
		`INSERT INTO iceinc.orders (id, v, part) SELECT g, 'new' || g, g % 3 FROM generate_series(3001, 3100) g;
		 UPDATE iceinc.orders SET v = 'upd2', updated_at = now() WHERE id % 100 = 0;
		 UPDATE iceinc.orders SET part = part + 10, updated_at = now() WHERE id % 250 = 1;
		 INSERT INTO iceinc.events (id, part) SELECT g, g % 3 FROM generate_series(101, 110) g;
		 UPDATE iceinc.lookup SET name = 'renamed' WHERE id = 7; DELETE FROM iceinc.lookup WHERE id = 8;
		 UPDATE iceinc.pairs SET v = 'two', updated_at = now() WHERE a = 3 OR b = 3;`,
		`UPDATE iceinc.orders SET v = 'upd3', updated_at = now() WHERE id % 200 = 0 OR id = 3050;
		 INSERT INTO iceinc.orders (id, v, part) VALUES (5000, 'late', 7);
		 INSERT INTO iceinc.events (id, part) VALUES (111, 1);`,
	}
	ctx := context.Background()
	for run, change := range changes {
		if change != "" {
			testenv.PsqlValue(t, change)
		}
		m, err := Run(ctx, cfg)
		if err != nil {
			t.Fatalf("run %d: %v", run+1, err)
		}
		if m.Incremental == nil || m.Incremental.Run != run+1 {
			t.Fatalf("run %d: the manifest's incremental run %+v", run+1, m.Incremental)
		}
		// lookup has no updated_at: each run replaces it whole (and sees its deleted row go).
		lookup := testenv.ReadIceberg(t, client, "s3://"+bucket+"/"+prefix+"iceinc/lookup")
		var names []map[string]any
		json.Unmarshal([]byte(testenv.PsqlValue(t, `SELECT json_agg(json_build_object('id', id, 'name', name) ORDER BY id) FROM iceinc.lookup`)), &names)
		sameRows(t, lookup.Rows, names)
		// pairs' key has two columns: both are the delete files' equality fields.
		pairs := testenv.ReadIceberg(t, client, "s3://"+bucket+"/"+prefix+"iceinc/pairs")
		var pv []map[string]any
		json.Unmarshal([]byte(testenv.PsqlValue(t, `SELECT json_agg(json_build_object('id', a * 1000 + b, 'v', v) ORDER BY a, b) FROM iceinc.pairs`)), &pv)
		for _, row := range pairs.Rows {
			a, _ := row["a"].(json.Number).Int64()
			b, _ := row["b"].(json.Number).Int64()
			row["id"] = a*1000 + b
		}
		sameRows(t, pairs.Rows, pv)
		for _, table := range []string{"orders", "events"} {
			got := testenv.ReadIceberg(t, client, "s3://"+bucket+"/"+prefix+"iceinc/"+table)
			var want []map[string]any
			if err := json.Unmarshal([]byte(testenv.PsqlValue(t, `SELECT json_agg(json_build_object('id', id, 'part', part,
				'updated_at', to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')) ORDER BY id) FROM iceinc.`+table)), &want); err != nil {
				t.Fatal(err)
			}
			sameRows(t, got.Rows, want)
			if table == "orders" {
				deletes := 0
				for _, man := range got.Manifests {
					for _, e := range man.Entries {
						if e.Content == 2 {
							deletes++
							if man.Content != 1 || len(e.EqualityIDs) != 1 || e.EqualityIDs[0] != got.Schema.Identifiers[0] || len(e.Partition) != 0 {
								t.Errorf("run %d: the delete file %s: manifest content %d, equality IDs %v (identifier fields %v), partition %v",
									run+1, e.Path, man.Content, e.EqualityIDs, got.Schema.Identifiers, e.Partition)
							}
						}
					}
				}
				if deletes != run {
					t.Errorf("run %d: %d equality delete files, want one per run after the first", run+1, deletes)
				}
				if got.Snapshot.Summary["pg2s3.incremental-run"] != fmt.Sprint(run+1) {
					t.Errorf("run %d: the snapshot's summary %v", run+1, got.Snapshot.Summary)
				}
			}
		}
		var vs []map[string]any
		json.Unmarshal([]byte(testenv.PsqlValue(t, `SELECT json_agg(json_build_object('id', id, 'v', v) ORDER BY id) FROM iceinc.orders`)), &vs)
		got := testenv.ReadIceberg(t, client, "s3://"+bucket+"/"+prefix+"iceinc/orders")
		sameRows(t, got.Rows, vs)
	}
}
