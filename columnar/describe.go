package columnar

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// Describe returns the columns of query's result, mapped to Parquet, without running it: the
// server parses and describes the statement (an unnamed prepared statement), and the catalog says
// what each type is. positional names the columns "1", "2", ... in the select list, for a user's
// query whose result is renamed by position (its own names may repeat or be "?column?"); a table's
// columns are selected by name.
func Describe(ctx context.Context, conn *pgconn.PgConn, query string, positional bool) ([]Column, error) {
	sd, err := conn.Prepare(ctx, "", query, nil)
	if err != nil {
		return nil, fmt.Errorf("describing the columns for Parquet: %w", err)
	}
	types, err := resolveTypes(ctx, conn, sd.Fields)
	if err != nil {
		return nil, err
	}
	cols := make([]Column, len(sd.Fields))
	names := uniqueNames(sd.Fields)
	for i, f := range sd.Fields {
		t := types[f.DataTypeOID]
		typmod := f.TypeModifier
		c := Column{Name: f.Name, source: f.Name, PGType: t.format}
		if positional {
			c.source = strconv.Itoa(i + 1)
		}
		c.Name = names[i]
		base := t
		if t.array {
			base = types[t.elem]
			c.Array = true
		}
		if base.domain && typmod < 0 {
			typmod = base.typmod
		}
		if f.DataTypeOID == oidNumeric || base.oid == oidNumeric {
			c.PGType = formatNumeric(typmod, c.Array)
		}
		k, p, s, ok := mapType(base.base, typmod, base.enum)
		if ok {
			c.kind, c.Precision, c.Scale = k, p, s
		} else { // the whole value (a whole array too) as its text form
			c.kind, c.Array, c.Output = kindText, false, t.output
		}
		cols[i] = c
	}
	return cols, nil
}

// uniqueNames names the Parquet columns of fields. Readers that find columns by name (most of them
// without regard to case: DuckDB, Spark, Trino, Athena) need each name once. A column keeps its
// name unless an earlier column has it, in any case; then it is NAME_2, NAME_3, ..., the first that
// no column of the result has: a, a, a_2 become a, a_3, a_2.
func uniqueNames(fields []pgconn.FieldDescription) []string {
	own := map[string]bool{} // the names the columns have, in lower case
	for _, f := range fields {
		own[strings.ToLower(f.Name)] = true
	}
	given := map[string]bool{}
	out := make([]string, len(fields))
	for i, f := range fields {
		name := f.Name
		for n := 2; given[strings.ToLower(name)]; n++ {
			if c := fmt.Sprintf("%s_%d", f.Name, n); !own[strings.ToLower(c)] {
				name = c
			}
		}
		given[strings.ToLower(name)] = true
		out[i] = name
	}
	return out
}

func formatNumeric(typmod int32, array bool) string {
	t := "numeric"
	if p, s, ok := numericTypmod(typmod); ok {
		t = fmt.Sprintf("numeric(%d,%d)", p, s)
	}
	if array {
		t += "[]"
	}
	return t
}

// pgType is what the catalog says about one type OID.
type pgType struct {
	oid    uint32
	format string // format_type(oid, NULL)
	array  bool   // a (one-dimensional or not) array type
	elem   uint32 // the element type of an array
	domain bool
	base   uint32 // the type itself, or a domain's base type (through nested domains)
	typmod int32  // a domain's type modifier (numeric(10,2) of a domain over it)
	enum   bool
	output string // the output function, as a regproc name
}

// resolveTypes reads the catalog rows of the fields' types, their arrays' element types and their
// domains' base types.
func resolveTypes(ctx context.Context, conn *pgconn.PgConn, fields []pgconn.FieldDescription) (map[uint32]pgType, error) {
	types := map[uint32]pgType{}
	want := map[uint32]bool{}
	for _, f := range fields {
		want[f.DataTypeOID] = true
	}
	for round := 0; len(want) > 0; round++ {
		if round > 32 {
			return nil, fmt.Errorf("resolving column types: domains nested too deeply")
		}
		var ids []string
		for oid := range want {
			ids = append(ids, strconv.FormatUint(uint64(oid), 10))
		}
		want = map[uint32]bool{}
		res := conn.ExecParams(ctx, `SELECT t.oid, format_type(t.oid, NULL), t.typelem <> 0 AND t.typlen = -1 AND t.typcategory = 'A',
			t.typelem, t.typtype = 'd', t.typbasetype, t.typtypmod, t.typtype = 'e', t.typoutput::regproc::text
			FROM pg_catalog.pg_type t WHERE t.oid = ANY($1::oid[])`,
			[][]byte{[]byte("{" + strings.Join(ids, ",") + "}")}, nil, nil, nil).Read()
		if res.Err != nil {
			return nil, fmt.Errorf("resolving column types: %w", res.Err)
		}
		for _, r := range res.Rows {
			t := pgType{
				oid: parseOID(r[0]), format: string(r[1]), array: string(r[2]) == "t", elem: parseOID(r[3]),
				domain: string(r[4]) == "t", base: parseOID(r[5]), typmod: int32(parseInt(r[6])), enum: string(r[7]) == "t", output: string(r[8]),
			}
			if !t.domain {
				t.base = t.oid
			}
			types[t.oid] = t
			if t.array {
				if _, ok := types[t.elem]; !ok {
					want[t.elem] = true
				}
			}
			if t.domain {
				if _, ok := types[t.base]; !ok {
					want[t.base] = true
				}
			}
		}
	}
	// A domain over a domain (or over an array) takes its base's resolution.
	for changed := true; changed; {
		changed = false
		for oid, t := range types {
			if !t.domain {
				continue
			}
			b := types[t.base]
			if b.domain || b.array || b.enum {
				if b.typmod >= 0 && t.typmod < 0 {
					t.typmod = b.typmod
				}
				t.base, t.array, t.elem, t.enum, t.domain = b.base, b.array, b.elem, b.enum, b.domain
				types[oid] = t
				changed = true
			}
		}
	}
	return types, nil
}

func parseOID(b []byte) uint32 { n, _ := strconv.ParseUint(string(b), 10, 32); return uint32(n) }

func parseInt(b []byte) int64 { n, _ := strconv.ParseInt(string(b), 10, 64); return n }
