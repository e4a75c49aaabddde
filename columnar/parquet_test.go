package columnar_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/hex"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	_ "github.com/duckdb/duckdb-go/v2" // DuckDB as a real third-party reader (test-only)

	"github.com/pg2s3/pg2s3/columnar"
	"github.com/pg2s3/pg2s3/copyout"
	"github.com/pg2s3/pg2s3/engine"
	"github.com/pg2s3/pg2s3/internal/testenv"
	"github.com/pg2s3/pg2s3/upload"
)

// everyType is a table with a column of every built-in type family pg2s3 maps, and of several it
// reads as text, with edge values and NULLs.
const everyType = `
DROP TABLE IF EXISTS pq_every; DROP DOMAIN IF EXISTS pq_price; DROP TYPE IF EXISTS pq_mood;
CREATE TYPE pq_mood AS ENUM ('sad', 'happy', 'a "quoted", label');
CREATE DOMAIN pq_price AS numeric(10,2);
CREATE TABLE pq_every (
  id int PRIMARY KEY, i2 int2, i4 int4, i8 int8, f4 float4, f8 float8, b bool, t text, vc varchar(10), bp char(3),
  nm name, ch "char", e pq_mood, ba bytea, d date, tm time, ts timestamp, tstz timestamptz, u uuid, j json, jb jsonb,
  n9 numeric(9,4), n18 numeric(18,0), n30 numeric(30,5), n38 numeric(38,38), dom pq_price, o oid,
  raw numeric, iv interval, ip inet, tz timetz, pt point, r int4range, bits bit(4), mo money,
  ai int4[], at text[], an numeric(5,1)[], ab bool[], ad date[], au uuid[], af float8[], ai8 int8[], aiv interval[], "dup" int);
INSERT INTO pq_every VALUES
 (1, -32768, -2147483648, -9223372036854775808, 1.5, 2.25, true, 'héllo 中文 🎉', 'v', 'ab', 'nm', 'x', 'happy', '\x00ff10',
  '2024-02-29', '12:34:56.789', '2024-01-01 10:00:00.123456', '2024-02-29 23:59:59.123456+05:30', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
  '{"a": 1,  "a": 2}', '{"b": [1, 2, {"c": null}]}', -12345.6789, 999999999999999999, -1234567890123456789012345.12345,
  0.12345678901234567890123456789012345678, 99.99, 4294967295,
  3.14159, '1 year 2 mons 3 days 04:05:06.789', '10.0.0.1/8', '12:00+02', '(1,2)', '[1,10)', B'1010', 12.34,
  '{1,NULL,3}', '{"a,b",NULL,"","q\"t","NULL"}', '{1.5,-2.0,NULL}', '{t,f}', '{2024-01-01,NULL}', '{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}',
  '{NaN,-Infinity,0.1}', '{9223372036854775807}', '{"1 day",NULL}', 7),
 (2, 32767, 2147483647, 9223372036854775807, 'NaN', '-Infinity', false, '', '', '', '', '', 'a "quoted", label', '',
  '4713-01-01 BC', '00:00:00', '1970-01-01 00:00:00', '0001-01-01 00:00:00+00', '00000000-0000-0000-0000-000000000000',
  'null', '"x"', 0, -999999999999999999, 0.00001, -0.00000000000000000000000000000000000001, -0.5, 0,
  'NaN', '-1 days', '::1', '00:00:00-12', '(-1.5,2.5)', 'empty', B'0000', -0.01,
  '{}', '{}', '{}', '{NULL}', '{}', '{}', '{}', '{}', '{}', NULL),
 (3, 0, 0, 0, '-0', '5e-324', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, '5874897-12-31', '24:00:00',
  '9999-12-31 23:59:59.999999', '1999-12-31 23:59:59.999999-01', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
INSERT INTO pq_every (id, f4, f8, t) SELECT g, g / 7.0, g / 3.0, repeat('x', g % 50) FROM generate_series(4, 3000) g;`

// session is the export's own session, so that text forms (casts included) are rendered alike.
func session(t *testing.T) copyout.Conn { return copyout.Conn{DSN: testenv.DSN(t)} }

// pgText returns every row of query as PostgreSQL's text forms (nil for NULL), in pg2s3's session.
func pgText(t *testing.T, query string) [][]*string {
	t.Helper()
	ctx := context.Background()
	conn, err := session(t).Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	res := conn.ExecParams(ctx, query, nil, nil, nil, nil).Read()
	if res.Err != nil {
		t.Fatalf("%s: %v", query, res.Err)
	}
	var rows [][]*string
	for _, r := range res.Rows {
		row := make([]*string, len(r))
		for i, v := range r {
			if v != nil {
				s := string(v)
				row[i] = &s
			}
		}
		rows = append(rows, row)
	}
	return rows
}

// duckRows reads the Parquet files with DuckDB, each column as text (a list as a list of texts),
// a bytea column as its bytes, ordered by the first column.
func duckRows(t *testing.T, files []string, cols []engine.Column) ([][]any, []string) {
	t.Helper()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.Exec("SET TimeZone = 'UTC'")
	var sel []string
	for _, c := range cols {
		q := `"` + strings.ReplaceAll(c.Name, `"`, `""`) + `"`
		switch {
		case c.Parquet == "BYTE_ARRAY":
			sel = append(sel, q)
		case strings.HasPrefix(c.Parquet, "LIST<"):
			sel = append(sel, fmt.Sprintf("list_transform(%s, x -> CAST(x AS VARCHAR))", q))
		default:
			sel = append(sel, fmt.Sprintf("CAST(%s AS VARCHAR)", q))
		}
	}
	list := "['" + strings.Join(files, "', '") + "']"
	first := `"` + strings.ReplaceAll(cols[0].Name, `"`, `""`) + `"`
	rows, err := db.Query(fmt.Sprintf("SELECT %s FROM read_parquet(%s) ORDER BY %s", strings.Join(sel, ", "), list, first))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out [][]any
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		out = append(out, vals)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out, duckTypes(t, db, list)
}

func duckTypes(t *testing.T, db *sql.DB, list string) []string {
	rows, err := db.Query("SELECT column_name || ' ' || column_type FROM (DESCRIBE SELECT * FROM read_parquet(" + list + "))")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		rows.Scan(&s)
		out = append(out, s)
	}
	return out
}

// same compares DuckDB's rendering of one value with PostgreSQL's text form.
func same(kind string, pg string, duck any) bool {
	switch {
	case kind == "BYTE_ARRAY":
		b, _ := hex.DecodeString(strings.TrimPrefix(pg, `\x`))
		d, _ := duck.([]byte)
		return bytes.Equal(b, d)
	case kind == "FLOAT" || kind == "DOUBLE":
		bits := 64
		if kind == "FLOAT" {
			bits = 32
		}
		a, err1 := strconv.ParseFloat(pg, bits)
		b, err2 := strconv.ParseFloat(fmt.Sprint(duck), bits)
		return err1 == nil && err2 == nil && (math.Float64bits(a) == math.Float64bits(b) || math.IsNaN(a) && math.IsNaN(b))
	case kind == "BOOLEAN":
		return pg == map[string]string{"true": "t", "false": "f"}[fmt.Sprint(duck)]
	}
	d := fmt.Sprint(duck)
	switch {
	case kind == "DATE" || strings.HasPrefix(kind, "TIMESTAMP"):
		d = strings.Replace(d, " (BC)", " BC", 1)
	case strings.HasPrefix(kind, "DECIMAL"): // DuckDB prints DECIMAL(38,38) without the leading zero
		if strings.HasPrefix(d, ".") || strings.HasPrefix(d, "-.") {
			d = strings.Replace(d, ".", "0.", 1)
		}
	}
	return pg == d
}

// pgArray splits PostgreSQL's text form of a one-dimensional array into its elements.
func pgArray(s string) []*string {
	s = strings.TrimSuffix(strings.TrimPrefix(s, "{"), "}")
	if s == "" {
		return []*string{}
	}
	var out []*string
	for len(s) > 0 {
		var e strings.Builder
		quoted := s[0] == '"'
		i := 0
		if quoted {
			for i = 1; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' {
					i++
				}
				e.WriteByte(s[i])
			}
			i++
		} else {
			for ; i < len(s) && s[i] != ','; i++ {
				e.WriteByte(s[i])
			}
		}
		v := e.String()
		if !quoted && v == "NULL" {
			out = append(out, nil)
		} else {
			out = append(out, &v)
		}
		s = strings.TrimPrefix(s[i:], ",")
	}
	return out
}

// compare checks every value of every row, and says which differ.
func compare(t *testing.T, cols []engine.Column, pg [][]*string, duck [][]any) {
	t.Helper()
	if len(pg) != len(duck) {
		t.Fatalf("DuckDB reads %d rows, PostgreSQL has %d", len(duck), len(pg))
	}
	bad := 0
	for r := range pg {
		for i, c := range cols {
			p, d := pg[r][i], duck[r][i]
			ok := true
			switch {
			case p == nil || d == nil:
				ok = p == nil && d == nil
			case strings.HasPrefix(c.Parquet, "LIST<"):
				elems, dl := pgArray(*p), d.([]any)
				kind := strings.TrimSuffix(strings.TrimPrefix(c.Parquet, "LIST<"), ">")
				ok = len(elems) == len(dl)
				for k := 0; ok && k < len(elems); k++ {
					if elems[k] == nil || dl[k] == nil {
						ok = elems[k] == nil && dl[k] == nil
					} else {
						ok = same(kind, *elems[k], dl[k])
					}
				}
			default:
				ok = same(c.Parquet, *p, d)
			}
			if !ok && bad < 20 {
				bad++
				pv := "NULL"
				if p != nil {
					pv = *p
				}
				t.Errorf("row %d, column %s (%s, %s): PostgreSQL %q, DuckDB %#v", r+1, c.Name, c.Type, c.Parquet, pv, d)
			}
		}
	}
}

// runParquet runs cfg in the export's session against the stack's store.
func runParquet(t *testing.T, cfg engine.Config) (*engine.Manifest, error) {
	t.Helper()
	cfg.Conn = session(t)
	cfg.S3 = upload.ClientConfig{Endpoint: testenv.Endpoint()}
	cfg.Upload = upload.Options{PartSize: upload.MinPartSize, Concurrency: 2}
	return engine.Run(context.Background(), cfg)
}

func exportParquet(t *testing.T, cfg engine.Config) *engine.Manifest {
	t.Helper()
	m, err := runParquet(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// Every column's values read back by DuckDB equal PostgreSQL's, whether the table goes to one file
// or to many objects (chunks of the heap, and splits by rows): the union of the objects is the table.
func TestParquetEveryTypeMatchesPostgres(t *testing.T) {
	bucket, client := testenv.Stack(t)
	testenv.Psql(t, everyType)
	want := pgText(t, "SELECT * FROM pq_every ORDER BY id")

	t.Run("one file", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "every.parquet")
		m := exportParquet(t, engine.Config{Tables: []string{"pq_every"}, To: dest(t, file), Parquet: &columnar.Options{}})
		cols := m.Tables[0].Columns
		for _, c := range cols {
			if c.Parquet == "" {
				t.Fatalf("column %s has no Parquet type in the manifest", c.Name)
			}
		}
		got, types := duckRows(t, []string{file}, cols)
		t.Logf("DuckDB's types: %s", strings.Join(types, ", "))
		for _, typ := range []string{"i2 SMALLINT", "o UINTEGER", "f4 FLOAT", "ba BLOB", "d DATE", "tm TIME", "ts TIMESTAMP",
			"tstz TIMESTAMP WITH TIME ZONE", "u UUID", "jb JSON", "n9 DECIMAL(9,4)", "n30 DECIMAL(30,5)", "dom DECIMAL(10,2)",
			"raw VARCHAR", "ai INTEGER[]", "an DECIMAL(5,1)[]", "au UUID[]", "aiv VARCHAR"} {
			if !slices.Contains(types, typ) {
				t.Errorf("DuckDB does not see %s", typ)
			}
		}
		compare(t, cols, want, got)
	})
	t.Run("chunks and splits", func(t *testing.T) {
		prefix := testenv.Prefix(t, client, bucket)
		m := exportParquet(t, engine.Config{Tables: []string{"pq_every"}, To: dest(t, "s3://"+bucket+"/"+prefix),
			ChunkSize: 32 << 10, MaxRows: 500, Jobs: 3, Parquet: &columnar.Options{Codec: "snappy", RowGroupSize: 16 << 10}})
		if len(m.Objects) < 4 {
			t.Fatalf("%d objects: the test wants several chunks and splits", len(m.Objects))
		}
		dir := t.TempDir()
		var files []string
		var rows int64
		for i, o := range m.Objects {
			f := filepath.Join(dir, fmt.Sprintf("%d.parquet", i))
			if err := os.WriteFile(f, testenv.GetURL(t, client, o.URL), 0o600); err != nil {
				t.Fatal(err)
			}
			files = append(files, f)
			rows += o.Rows
		}
		if rows != int64(len(want)) {
			t.Errorf("the manifest counts %d rows, the table has %d", rows, len(want))
		}
		got, _ := duckRows(t, files, m.Tables[0].Columns)
		compare(t, m.Tables[0].Columns, want, got)
	})
}

// The hard-values query (every CSV trap, infinities included) through --query: with the opt-in
// mapping of infinities, DuckDB reads every value as PostgreSQL has it; without it, the export
// stops with an error naming the column and the row, and leaves nothing behind.
func TestParquetHardValues(t *testing.T) {
	bucket, client := testenv.Stack(t)
	query := strings.TrimSpace(testenv.HardValues(t))
	want := pgText(t, query+" ORDER BY 1")
	key := testenv.Key(t) + ".parquet"
	testenv.Remove(t, client, bucket, key)

	_, err := runParquet(t, engine.Config{Query: query, To: dest(t, "s3://"+bucket+"/"+key), Parquet: &columnar.Options{}})
	if err == nil || !strings.Contains(err.Error(), "row 2") || !strings.Contains(err.Error(), "InfinityExtremes") {
		t.Fatalf("err = %v; want the infinite value's row and the way out", err)
	}
	testenv.AssertNothingLeft(t, client, bucket, key)

	m := exportParquet(t, engine.Config{Query: query, To: dest(t, "s3://"+bucket+"/"+key), Parquet: &columnar.Options{InfinityExtremes: true}})
	file := filepath.Join(t.TempDir(), "hard.parquet")
	if err := os.WriteFile(file, testenv.GetURL(t, client, m.Objects[0].URL), 0o600); err != nil {
		t.Fatal(err)
	}
	cols := m.Tables[0].Columns
	got, types := duckRows(t, []string{file}, cols)
	t.Logf("DuckDB's types: %s", strings.Join(types, ", "))
	compare(t, cols, want, got)
}

func dest(t *testing.T, to string) engine.Destination {
	t.Helper()
	d, err := engine.ParseDestination(to)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// A query's repeated column names become unique without regard to case, as documented, and DuckDB
// reads each value under its name; an array whose subscripts do not start at 1 is refused (a LIST
// cannot keep its lower bound), not written without it.
func TestParquetNamesAndArrayBounds(t *testing.T) {
	bucket, client := testenv.Stack(t)
	file := filepath.Join(t.TempDir(), "names.parquet")
	m := exportParquet(t, engine.Config{Query: `SELECT 1 AS a, 2 AS a, 3 AS a_2, 4 AS "A"`, To: dest(t, file), Parquet: &columnar.Options{}})
	var names []string
	for _, c := range m.Tables[0].Columns {
		names = append(names, c.Name)
	}
	if want := []string{"a", "a_3", "a_2", "A_4"}; !slices.Equal(names, want) {
		t.Fatalf("columns %v, want %v", names, want)
	}
	got, _ := duckRows(t, []string{file}, m.Tables[0].Columns)
	if len(got) != 1 || fmt.Sprint(got[0]) != "[1 2 3 4]" {
		t.Errorf("DuckDB reads %v, want [[1 2 3 4]]", got)
	}

	key := testenv.Key(t) + ".parquet"
	testenv.Remove(t, client, bucket, key)
	_, err := runParquet(t, engine.Config{Query: `SELECT '{1,2}'::int[] AS ok, '[0:2]={1,2,3}'::int[] AS zero`,
		To: dest(t, "s3://"+bucket+"/"+key), Parquet: &columnar.Options{}})
	if err == nil || !strings.Contains(err.Error(), "start at 0") || !strings.Contains(err.Error(), "zero") {
		t.Fatalf("err = %v; want the lower bound and the column named", err)
	}
	testenv.AssertNothingLeft(t, client, bucket, key)
}
