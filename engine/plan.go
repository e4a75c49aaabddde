package engine

import (
	"context"
	"fmt"
	"hash/fnv"
	"path"
	"sort"
	"strconv"

	"github.com/pg2s3/pg2s3/columnar"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pg2s3/pg2s3/copyout"
	"github.com/pg2s3/pg2s3/lakehouse"
)

// Column is a table column and its PostgreSQL type.
type Column struct {
	Name    string `json:"name"`
	Type    string `json:"type"`
	Parquet string `json:"parquet,omitempty"` // the column's Parquet type, on the Parquet path
}

// Table is a relation to export.
type Table struct {
	copyout.Table
	OID       uint32   `json:"-"`
	Pages     int64    `json:"pages"`      // heap pages (pg_relation_size / block_size)
	SizeBytes int64    `json:"size_bytes"` // pg_relation_size, or the partitions' sum
	Columns   []Column `json:"columns"`
	Select    bool     `json:"select_privilege"`

	Parquet       []columnar.Column `json:"-"` // the described columns that are written
	described     int               // the columns of the described statement
	EstPartitions int64             `json:"est_partitions,omitempty"` // the planner's estimate, with PartitionBy
	filter        string            // an incremental run's condition on the rows
	rangeScan     bool              // the filter is an index range: one chunk, not page ranges
	columnNames   []string          // the table's columns, in its order
	leaves        []*leaf           // a partitioned table read leaf by leaf (nil: through the parent)
	iceberg       *lakehouse.Table  // the table's Iceberg table, as the plan found it (TableFormat iceberg)
	// merge adds an incremental run's changed rows to the Iceberg table (else they replace it), and
	// deletes, when the table has a primary key, is the chunk's table of their keys: the equality
	// delete files that remove the rows' earlier versions.
	merge      bool
	deletes    *Table
	keysOf     *Table // on a deletes table: the table whose keys it holds
	icebergRun string // the incremental run the Iceberg table held at the plan ("": none)
}

// Chunk is a part of a table that one COPY exports.
type Chunk struct {
	Table    *Table `json:"-"`
	Index    int    `json:"chunk"`
	FromPage int64  `json:"from_page"` // ctid >= (FromPage,0)
	ToPage   int64  `json:"to_page"`   // ctid < (ToPage,0); 0 = to the end
	Ranged   bool   `json:"ranged"`    // false: the whole table
	EstBytes int64  `json:"est_bytes"`

	stmt  *copyout.Statement // a query's COPY
	parts []copyout.Part     // a partitioned table's leaves (or pages of one) this chunk reads
}

// Statement is the chunk's COPY.
func (c Chunk) Statement(o copyout.Options) copyout.Statement {
	if c.stmt != nil {
		return *c.stmt
	}
	if len(c.parts) > 0 {
		return copyout.PartsStatement(c.parts, c.Table.columnNames, o)
	}
	if !c.Ranged {
		return copyout.TableStatement(c.Table.Table, o)
	}
	return copyout.RangeStatement(c.Table.Table, c.FromPage, c.ToPage, o)
}

// Range renders the chunk's ctid range for people.
func (c Chunk) Range() string {
	if len(c.parts) > 0 {
		return partsRange(c.parts)
	}
	if !c.Ranged {
		return "whole table"
	}
	if c.ToPage == 0 {
		return fmt.Sprintf("pages %d-end", c.FromPage)
	}
	return fmt.Sprintf("pages %d-%d", c.FromPage, c.ToPage-1)
}

const listSQL = `SELECT c.oid, n.nspname, c.relname, c.relkind::text,
  CASE WHEN c.relkind = 'p' THEN coalesce((SELECT sum(greatest(p.reltuples, 0)) FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhrelid WHERE i.inhparent = c.oid), -1)::bigint
       ELSE c.reltuples::bigint END,
  CASE WHEN c.relkind = 'p' THEN coalesce((SELECT sum(pg_relation_size(i.inhrelid)) FROM pg_inherits i WHERE i.inhparent = c.oid), 0)::bigint
       ELSE pg_relation_size(c.oid) END,
  pg_relation_size(c.oid) / current_setting('block_size')::bigint,
  has_table_privilege(c.oid, 'SELECT'), ` + copyout.GeneratedSQL + `
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE `

// listTables resolves Tables and the tables of Schemas, minus the Exclude patterns
// patterns, inside the coordinator's snapshot.
func listTables(ctx context.Context, conn *pgconn.PgConn, names, schemas, exclude []string) ([]*Table, error) {
	var tables []*Table
	seen := map[uint32]bool{}
	add := func(rows [][][]byte) error {
		for _, r := range rows {
			oid, _ := strconv.ParseUint(string(r[0]), 10, 32)
			if seen[uint32(oid)] {
				continue
			}
			seen[uint32(oid)] = true
			est, _ := strconv.ParseInt(string(r[4]), 10, 64)
			size, _ := strconv.ParseInt(string(r[5]), 10, 64)
			pages, _ := strconv.ParseInt(string(r[6]), 10, 64)
			t := &Table{Table: copyout.Table{Schema: string(r[1]), Name: string(r[2]), Kind: string(r[3]), EstRows: est, Generated: string(r[8]) == "t"},
				OID: uint32(oid), SizeBytes: size, Pages: pages, Select: string(r[7]) == "t"}
			if excluded(t, exclude) {
				continue
			}
			tables = append(tables, t)
		}
		return nil
	}
	for _, name := range names {
		t, err := copyout.ResolveTable(ctx, conn, name)
		if err != nil {
			return nil, err
		}
		res := conn.ExecParams(ctx, listSQL+"n.nspname = $1 AND c.relname = $2", [][]byte{[]byte(t.Schema), []byte(t.Name)}, nil, nil, nil).Read()
		if res.Err != nil {
			return nil, fmt.Errorf("listing table %s: %w", t, res.Err)
		}
		add(res.Rows)
	}
	for _, schema := range schemas {
		res := conn.ExecParams(ctx, listSQL+"n.nspname = $1 AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND NOT c.relispartition ORDER BY c.relname",
			[][]byte{[]byte(schema)}, nil, nil, nil).Read()
		if res.Err != nil {
			return nil, fmt.Errorf("listing the tables of schema %q: %w", schema, res.Err)
		}
		if len(res.Rows) == 0 {
			return nil, fmt.Errorf("schema %q has no tables (or does not exist)", schema)
		}
		add(res.Rows)
	}
	for _, t := range tables {
		res := conn.ExecParams(ctx, `SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute
			WHERE attrelid = $1::oid AND attnum > 0 AND NOT attisdropped ORDER BY attnum`,
			[][]byte{[]byte(strconv.FormatUint(uint64(t.OID), 10))}, nil, nil, nil).Read()
		if res.Err != nil {
			return nil, fmt.Errorf("reading the columns of %s: %w", t, res.Err)
		}
		for _, r := range res.Rows {
			t.Columns = append(t.Columns, Column{Name: string(r[0]), Type: string(r[1])})
			t.columnNames = append(t.columnNames, string(r[0]))
		}
	}
	return tables, nil
}

// excluded says whether t matches an Exclude pattern: a shell glob on schema.table or on
// the table's name alone.
func excluded(t *Table, patterns []string) bool {
	for _, p := range patterns {
		if ok, _ := path.Match(p, t.Schema+"."+t.Name); ok {
			return true
		}
		if ok, _ := path.Match(p, t.Name); ok {
			return true
		}
	}
	return false
}

// Shard is this process's share of a run spread over several processes: shard Index of Count.
type Shard struct {
	Index int `json:"index"`
	Count int `json:"count"`
}

// ParseShard reads i/N (0 <= i < N).
func ParseShard(s string) (Shard, error) {
	var sh Shard
	if _, err := fmt.Sscanf(s, "%d/%d", &sh.Index, &sh.Count); err != nil || sh.Count < 1 || sh.Index < 0 || sh.Index >= sh.Count {
		return Shard{}, fmt.Errorf("want i/N with 0 <= i < N, e.g. 0/4")
	}
	return sh, nil
}

func (s Shard) enabled() bool { return s.Count > 1 }

// owns says whether this shard exports chunk k of table t.
func (s Shard) owns(t *Table, k int) bool {
	if !s.enabled() {
		return true
	}
	h := fnv.New32a()
	h.Write([]byte(t.String()))
	return (int(h.Sum32()%uint32(s.Count))+k)%s.Count == s.Index
}

// chunks splits the tables into ctid page ranges of about chunkBytes of heap each (ordinary tables
// on PostgreSQL 14 and later, where such a range is a TID Range Scan); everything else is one chunk.
// They come largest first, the order the workers take them in.
//
// The ranges are closed, [k*P, (k+1)*P), and cover every page below the relation's size as measured
// now, inside the snapshot. Every row the snapshot sees lies below that size whenever it is measured
// (pages are only added, and VACUUM truncates only pages without any tuple, which it cannot do for
// tuples the snapshot still sees), so processes that measure at different times (shards) still
// cover every row between them, each exactly once. With shards, every ordinary table is ranged, so
// that all processes agree on how it is cut, and chunk k of table t belongs to one shard.
// A resumable run (rangeAll) ranges every ordinary table too, so that its attempts agree.
func chunks(tables []*Table, chunkBytes, blockSize int64, tidRange bool, shard Shard, rangeAll bool) []Chunk {
	var out []Chunk
	pagesPerChunk := max(chunkBytes/blockSize, 1)
	for _, t := range tables {
		if t.leaves != nil {
			for _, c := range leafChunks(t, chunkBytes, blockSize, tidRange) {
				if shard.owns(t, c.Index) {
					out = append(out, c)
				}
			}
			continue
		}
		ranged := t.Kind == "r" && tidRange && chunkBytes > 0 && !t.rangeScan && (t.Pages > pagesPerChunk || shard.enabled() || rangeAll)
		if !ranged {
			if shard.owns(t, 0) {
				out = append(out, Chunk{Table: t, EstBytes: t.SizeBytes})
			}
			continue
		}
		for k := 0; int64(k)*pagesPerChunk < max(t.Pages, 1); k++ {
			if shard.owns(t, k) {
				from := int64(k) * pagesPerChunk
				out = append(out, Chunk{Table: t, Index: k, FromPage: from, ToPage: from + pagesPerChunk, Ranged: true,
					EstBytes: min(pagesPerChunk, t.Pages-from) * blockSize})
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].EstBytes > out[j].EstBytes })
	return out
}

// dictionaryValues is the most distinct values (the planner's estimate) a string column may have
// to be written with a dictionary.
const dictionaryValues = 10000

// markDictionaries gives t's Parquet columns of few distinct values a dictionary, by the
// planner's statistics (pg_stats' n_distinct: a count, or minus a fraction of the rows). A
// column without statistics (never analyzed, or not readable by the role) gets none.
func (p *Plan) markDictionaries(ctx context.Context, t *Table) error {
	res := p.coord.ExecParams(ctx, `SELECT attname, max(CASE WHEN n_distinct >= 0 THEN n_distinct
			ELSE -n_distinct * greatest(c.reltuples, 0) END)::float8::text
		FROM pg_stats s JOIN pg_class c ON c.oid = $1::regclass
		WHERE s.schemaname = $2 AND s.tablename = $3 GROUP BY attname`,
		[][]byte{[]byte(t.String()), []byte(t.Schema), []byte(t.Name)}, nil, nil, nil).Read()
	if res.Err != nil {
		return fmt.Errorf("reading %s's column statistics: %w", t, res.Err)
	}
	few := map[string]bool{}
	for _, row := range res.Rows {
		if n, err := strconv.ParseFloat(string(row[1]), 64); err == nil && n > 0 && n <= dictionaryValues {
			few[string(row[0])] = true
		}
	}
	for i := range t.Parquet {
		t.Parquet[i].Dictionary = few[t.Parquet[i].Name]
	}
	return nil
}
