package copyout

import (
	"strings"
	"testing"
)

func TestQuoteIdent(t *testing.T) {
	tests := []struct{ in, want string }{
		{"t", `"t"`},
		{"MixedCase", `"MixedCase"`},
		{"with space", `"with space"`},
		{`quo"te`, `"quo""te"`},
		{`x"; DROP TABLE t; --`, `"x""; DROP TABLE t; --"`},
		{"ünï 🎉", `"ünï 🎉"`},
		{"nul\x00byte", `"nulbyte"`},
		{"", `""`},
	}
	for _, tt := range tests {
		if got := QuoteIdent(tt.in); got != tt.want {
			t.Errorf("QuoteIdent(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestTableStatement(t *testing.T) {
	tbl := Table{Schema: "My Schema", Name: `a"b`, Kind: "r"}
	if got, want := TableStatement(tbl, Options{}).SQL, `COPY "My Schema"."a""b" TO STDOUT WITH (FORMAT csv)`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	tbl.Kind = "v"
	if got, want := TableStatement(tbl, Options{Header: true}).SQL, `COPY (SELECT * FROM "My Schema"."a""b") TO STDOUT WITH (FORMAT csv, HEADER)`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestCheckQuery(t *testing.T) {
	tests := []struct {
		in, want, err string
	}{
		{in: "SELECT 1", want: "SELECT 1"},
		{in: "SELECT 1;", want: "SELECT 1"},
		{in: "SELECT 1 ; ; \n", want: "SELECT 1"},
		{in: "SELECT ';' AS semi", want: "SELECT ';' AS semi"},
		{in: `SELECT ";" FROM t`, want: `SELECT ";" FROM t`},
		{in: "SELECT 'it''s; fine'", want: "SELECT 'it''s; fine'"},
		{in: `SELECT E'a\'; b'`, want: `SELECT E'a\'; b'`},
		{in: "SELECT $$ ; ) $$, $tag$ ; $$ $tag$", want: "SELECT $$ ; ) $$, $tag$ ; $$ $tag$"},
		{in: "SELECT $1", want: "SELECT $1"},
		{in: "SELECT 1 /* ; ( */ -- ; )\n", want: "SELECT 1 /* ; ( */ -- ; )"},
		{in: "SELECT /* nested /* ; */ ; */ 1", want: "SELECT /* nested /* ; */ ; */ 1"},
		{in: "SELECT (1)", want: "SELECT (1)"},
		{in: "SELECT 1 -- trailing comment", want: "SELECT 1 -- trailing comment"},
		{in: "", err: "empty"},
		{in: " ; ", err: "empty"},
		{in: "-- nothing", err: "empty"},
		{in: "SELECT 1; DROP TABLE t", err: "more than one statement"},
		{in: "SELECT 1) TO STDOUT; COPY (SELECT 1", err: "unmatched ')'"},
		{in: "SELECT (1", err: "unclosed '('"},
		{in: "SELECT 'open", err: "unterminated string"},
		{in: `SELECT "open`, err: "unterminated quoted identifier"},
		{in: "SELECT /* open", err: "unterminated /* comment"},
		{in: "SELECT $x$ open", err: "unterminated dollar quote"},
	}
	for _, tt := range tests {
		got, err := CheckQuery(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("CheckQuery(%q) = %q, %v; want an error containing %q", tt.in, got, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("CheckQuery(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestQueryStatementSurvivesTrailingComment(t *testing.T) {
	st, err := QueryStatement("SELECT 1 -- comment", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if want := "COPY (\nSELECT 1 -- comment\n) TO STDOUT WITH (FORMAT csv)"; st.SQL != want {
		t.Errorf("SQL = %q, want %q", st.SQL, want)
	}
}

func TestRedactDSN(t *testing.T) {
	tests := []struct{ in, want string }{
		{"postgres://bob:s3cret@db:5432/app?sslmode=require", "postgres://bob:xxxxx@db:5432/app?sslmode=require"},
		{"postgresql://bob:p%40ss@db/app", "postgresql://bob:xxxxx@db/app"},
		{"postgres://db/app?password=s3cret&sslmode=disable", "postgres://db/app?password=xxxxx&sslmode=disable"},
		{"postgres://bob@db/app", "postgres://bob@db/app"},
		{"host=db user=bob password=s3cret dbname=app", "host=db user=bob password=xxxxx dbname=app"},
		{"host=db password = 's3 cret\\' x' dbname=app", "host=db password = xxxxx dbname=app"},
		{"host=db dbname=app", "host=db dbname=app"},
	}
	for _, tt := range tests {
		got := redactDSN(tt.in)
		if got != tt.want {
			t.Errorf("RedactDSN(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if strings.Contains(got, "s3cret") || strings.Contains(got, "p%40ss") {
			t.Errorf("RedactDSN(%q) = %q still holds the password", tt.in, got)
		}
	}
}

func TestParseConfigErrorHidesPassword(t *testing.T) {
	for _, dsn := range []string{
		"postgres://bob:s3cret@db:notaport/app",
		"host=db password=s3cret port=notaport",
	} {
		_, err := Conn{DSN: dsn}.Config()
		if err == nil {
			t.Fatalf("ParseConfig(%q) succeeded", dsn)
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("error for %q shows the password: %v", dsn, err)
		}
	}
}

func TestPointAt(t *testing.T) {
	got := pointAt("SELECT 1,\n\tfoo bar", 16)
	want := "LINE 2 of the query: \tfoo bar\n" + strings.Repeat(" ", len("LINE 2 of the query: ")) + "\t    ^"
	if got != want {
		t.Errorf("pointAt = %q, want %q", got, want)
	}
	if pointAt("x", 5) != "" {
		t.Error("a position past the query should show nothing")
	}
}

// The shapes a projection gives: a select list, partition keys first, and a query renamed by
// position (its own names may repeat) with the keys over its own names.
func TestProjectionStatements(t *testing.T) {
	tbl := Table{Schema: "s", Name: "t", Kind: "r"}
	key := Projection{Keys: []string{"(x)", "k(y)"}}
	list := Projection{List: `"a", "b"`, Columns: 3}
	both := Projection{List: `"1", "3"`, Columns: 3, Keys: []string{"(x)"}}
	for _, c := range []struct{ got, want string }{
		{TableStatement(tbl, Options{Projection: &key}).SQL, `COPY (SELECT (x) AS pg2s3_partition, k(y) AS pg2s3_partition_2, * FROM "s"."t") TO STDOUT WITH (FORMAT csv)`},
		{TableStatement(tbl, Options{Format: Binary, Projection: &list}).SQL, `COPY (SELECT "a", "b" FROM "s"."t") TO STDOUT WITH (FORMAT binary)`},
		{RangeStatement(tbl, 1, 2, Options{Projection: &both}).SQL,
			`COPY (SELECT (x) AS pg2s3_partition, "1", "3" FROM "s"."t" WHERE ctid >= '(1,0)'::tid AND ctid < '(2,0)'::tid) TO STDOUT WITH (FORMAT csv)`},
	} {
		if c.got != c.want {
			t.Errorf("got  %s\nwant %s", c.got, c.want)
		}
	}
	for _, c := range []struct {
		p    Projection
		want string
	}{
		{key, "COPY (SELECT (x) AS pg2s3_partition, k(y) AS pg2s3_partition_2, q.* FROM (\nSELECT x, x\n) AS q) TO STDOUT WITH (FORMAT csv)"},
		{list, "COPY (SELECT \"a\", \"b\" FROM (\nSELECT x, x\n) AS q(\"1\", \"2\", \"3\")) TO STDOUT WITH (FORMAT csv)"},
		{both, "COPY (SELECT q2.pg2s3_partition, \"1\", \"3\" FROM (SELECT (x) AS pg2s3_partition, q.* FROM (\nSELECT x, x\n) AS q) AS q2(pg2s3_partition, \"1\", \"2\", \"3\")) TO STDOUT WITH (FORMAT csv)"},
	} {
		st, err := QueryStatement("SELECT x, x;", Options{Projection: &c.p})
		if err != nil || st.SQL != c.want {
			t.Errorf("got  %s (%v)\nwant %s", st.SQL, err, c.want)
		}
		if st.SQL[st.QueryOffset:st.QueryOffset+len("SELECT x, x")] != "SELECT x, x" {
			t.Errorf("QueryOffset %d does not point at the query in %s", st.QueryOffset, st.SQL)
		}
	}
}
