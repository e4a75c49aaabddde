package copyout

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5/pgconn"
)

// Table is a relation resolved on the server.
type Table struct {
	Schema  string
	Name    string
	Kind    string // pg_class.relkind: r table, p partitioned table, v view, m materialized view, f foreign table
	EstRows int64  // pg_class.reltuples (summed over partitions); -1 when never analyzed
	// Generated says the table has generated columns, which COPY schema.name leaves out: it is
	// read with SELECT *, which has them.
	Generated bool `json:"-"`
}

// GeneratedSQL is true for a relation (pg_class c) with generated columns.
const GeneratedSQL = `EXISTS (SELECT FROM pg_catalog.pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated <> '')`

// String is the table's quoted, fully qualified name, and "(query)" for a query's result, which
// has no table (""."query" was what messages said).
func (t Table) String() string {
	if t.Schema == "" {
		return "(query)"
	}
	return QuoteIdent(t.Schema) + "." + QuoteIdent(t.Name)
}

var kindNames = map[string]string{
	"i": "an index", "I": "a partitioned index", "S": "a sequence", "t": "a TOAST table", "c": "a composite type",
}

const resolveSQL = `SELECT n.nspname, c.relname, c.relkind::text,
  CASE WHEN c.relkind = 'p' THEN (SELECT coalesce(sum(greatest(p.reltuples, 0)), -1)::bigint
    FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhrelid WHERE i.inhparent = c.oid)
  ELSE c.reltuples::bigint END, ` + GeneratedSQL + `
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.oid = to_regclass($1)`

// ResolveTable finds the relation named by name, as PostgreSQL would read it in SQL
// ([schema.]name, unquoted parts folded to lower case, "quoted" parts kept, the search_path
// consulted), and failing that, the relation whose name is exactly name (so a table named 'My Table'
// works without inner quotes). The name only ever travels as a query parameter.
func ResolveTable(ctx context.Context, conn *pgconn.PgConn, name string) (Table, error) {
	if name == "" {
		return Table{}, errors.New("the table name is empty")
	}
	t, found, err := resolve(ctx, conn, name)
	if err != nil || !found {
		var literalErr error
		t, found, literalErr = resolve(ctx, conn, QuoteIdent(name))
		if literalErr != nil {
			return Table{}, fmt.Errorf("looking up table %q: %w", name, literalErr)
		}
	}
	if !found {
		path := "?"
		if res := conn.ExecParams(ctx, "SELECT current_setting('search_path')", nil, nil, nil, nil).Read(); res.Err == nil && len(res.Rows) == 1 {
			path = string(res.Rows[0][0])
		}
		return Table{}, fmt.Errorf("table %q does not exist (search_path is %s); name it as schema.table, with \"double quotes\" around mixed-case parts", name, path)
	}
	switch t.Kind {
	case "r", "p", "v", "m", "f":
		return t, nil
	}
	return Table{}, fmt.Errorf("%s is %s, not a table or view", t, kindNames[t.Kind])
}

func resolve(ctx context.Context, conn *pgconn.PgConn, name string) (Table, bool, error) {
	// to_regclass raises on a name it cannot parse; inside a transaction (a multi-table export plans
	// in its snapshot), a savepoint keeps that error from aborting the transaction.
	inTx := conn.TxStatus() == 'T'
	if inTx {
		if _, err := conn.Exec(ctx, "SAVEPOINT pg2s3_resolve").ReadAll(); err != nil {
			return Table{}, false, err
		}
	}
	res := conn.ExecParams(ctx, resolveSQL, [][]byte{[]byte(name)}, nil, nil, nil).Read()
	if inTx {
		end := "RELEASE SAVEPOINT pg2s3_resolve"
		if res.Err != nil {
			end = "ROLLBACK TO SAVEPOINT pg2s3_resolve"
		}
		if _, err := conn.Exec(ctx, end).ReadAll(); err != nil && res.Err == nil {
			return Table{}, false, err
		}
	}
	if res.Err != nil {
		return Table{}, false, res.Err
	}
	if len(res.Rows) == 0 {
		return Table{}, false, nil
	}
	row := res.Rows[0]
	est, _ := strconv.ParseInt(string(row[3]), 10, 64)
	return Table{Schema: string(row[0]), Name: string(row[1]), Kind: string(row[2]), EstRows: est, Generated: string(row[4]) == "t"}, true, nil
}
