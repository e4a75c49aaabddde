package bench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pg2s3/pg2s3/copyout"
	"github.com/pg2s3/pg2s3/internal/testenv"
)

func connect(t testing.TB) *pgconn.PgConn {
	t.Helper()
	conn, err := copyout.Conn{DSN: testenv.DSN(t)}.Connect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func psqlCopy(t testing.TB, query string) []byte {
	t.Helper()
	return testenv.Psql(t, "COPY ("+query+") TO STDOUT WITH (FORMAT csv)")
}

// The three encoders (COPY itself, the cursor's and the in-memory one) agree byte for byte with psql.
func TestEncodersMatchPsql(t *testing.T) {
	queries := map[string]string{
		"hard values":           strings.TrimSpace(testenv.HardValues(t)),
		"every byte in bytea":   `SELECT decode(string_agg(lpad(to_hex(g), 2, '0'), '' ORDER BY g), 'hex') FROM generate_series(0, 255) g`,
		"backslash dot alone":   `SELECT E'\\.' UNION ALL SELECT 'x' UNION ALL SELECT NULL UNION ALL SELECT ''`,
		"backslash dot, 2 cols": `SELECT E'\\.', E'\\.'`,
		"one empty column":      `SELECT ''`,
		"many rows, batches":    `SELECT g, CASE WHEN g % 3 = 0 THEN NULL ELSE repeat('"', g % 4) END FROM generate_series(1, 2500) g`,
		"zero rows":             `SELECT 1 WHERE false`,
	}
	for name, q := range queries {
		t.Run(name, func(t *testing.T) {
			want := psqlCopy(t, q)
			var cur bytes.Buffer
			if _, err := cursorCSV(context.Background(), connect(t), q, 1000, &cur); err != nil {
				t.Fatal(err)
			}
			mem, _, err := memoryCSV(context.Background(), connect(t), q)
			if err != nil {
				t.Fatal(err)
			}
			var cp bytes.Buffer
			stmt, err := copyout.QueryStatement(q, copyout.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := copyout.Run(context.Background(), connect(t), stmt, &cp, nil); err != nil {
				t.Fatal(err)
			}
			for approach, got := range map[string][]byte{Copy: cp.Bytes(), Cursor: cur.Bytes(), Memory: mem} {
				if !bytes.Equal(got, want) {
					t.Errorf("%s differs from psql: %s", approach,
						firstDifference(bufio.NewReader(bytes.NewReader(want)), bufio.NewReader(bytes.NewReader(got)), "psql", approach))
				}
			}
		})
	}
}

func TestEncoderQuoting(t *testing.T) {
	var b bytes.Buffer
	bw := bufio.NewWriter(&b)
	e := newEncoder(bw)
	e.WriteRow([][]byte{nil, {}, []byte("a,b"), []byte(`q"t`), []byte("l\nf"), []byte("c\rr"), []byte(`\.`), []byte("plain"), []byte(" sp ")})
	e.WriteRow([][]byte{[]byte(`\.`)})
	e.Flush()
	want := ",\"\",\"a,b\",\"q\"\"t\",\"l\nf\",\"c\rr\",\\.,plain, sp \n\"\\.\"\n"
	if b.String() != want {
		t.Errorf("got %q\nwant %q", b.String(), want)
	}
}

func TestFirstDifference(t *testing.T) {
	got := firstDifference(bufio.NewReader(strings.NewReader("a\nb\nc\n")), bufio.NewReader(strings.NewReader("a\nB\nc\n")), "copy", "cursor")
	if !strings.Contains(got, "line 2 differs") || !strings.Contains(got, `"b\n"`) || !strings.Contains(got, `"B\n"`) {
		t.Errorf("got %q", got)
	}
}

// BenchmarkApproaches runs the three approaches in-process on one generated table, to io.Discard
// (the database side and the client's encoding; the S3 side is measured by `pg2s3 bench --to s3://`).
func BenchmarkApproaches(b *testing.B) {
	conn := connect(b)
	if _, err := conn.Exec(context.Background(), `CREATE TABLE IF NOT EXISTS bench_approaches AS
		SELECT g AS id, md5(g::text) AS s, g * 0.5 AS n, now() - g * interval '1 second' AS ts, CASE WHEN g % 5 = 0 THEN NULL ELSE 'x,y' END AS q
		FROM generate_series(1, 300000) g`).ReadAll(); err != nil {
		b.Fatal(err)
	}
	const query = "SELECT * FROM bench_approaches"
	stmt, _ := copyout.QueryStatement(query, copyout.Options{})
	run := map[string]func(w io.Writer) error{
		Copy: func(w io.Writer) error {
			_, err := copyout.Run(context.Background(), connect(b), stmt, w, nil)
			return err
		},
		Cursor: func(w io.Writer) error {
			_, err := cursorCSV(context.Background(), connect(b), query, 1000, w)
			return err
		},
		Memory: func(w io.Writer) error {
			csv, _, err := memoryCSV(context.Background(), connect(b), query)
			w.Write(csv)
			return err
		},
	}
	for _, a := range AllApproaches {
		b.Run(a, func(b *testing.B) { benchmarkApproach(b, run[a]) })
	}
}

func benchmarkApproach(b *testing.B, run func(io.Writer) error) {
	b.ReportAllocs()
	var n int64
	for b.Loop() {
		h := &countingHash{h: sha256.New()}
		if err := run(h); err != nil {
			b.Fatal(err)
		}
		n = h.n
	}
	b.SetBytes(n)
}

// When the outputs differ, the report says where: the two streams are read side by side through
// sinks, and the first differing line is named.
func TestExplainMismatch(t *testing.T) {
	spec := Spec{Conn: copyout.Conn{DSN: testenv.DSN(t)}, Batch: 1000,
		Query: "SELECT g, CASE WHEN g = 500 AND current_query() LIKE 'FETCH%' THEN 'cursor' ELSE 'same' END FROM generate_series(1, 100000) g"}
	rep := &Report{Approaches: []*Summary{{Approach: Copy, SHA256: "a"}, {Approach: Cursor, SHA256: "b"}}}
	got := explainMismatch(context.Background(), spec, rep)
	if want := `line 500 differs: copy wrote "500,same\n", cursor wrote "500,cursor\n"`; got != want {
		t.Errorf("explainMismatch = %q, want %q", got, want)
	}
}
