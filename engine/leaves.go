package engine

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/pg2s3/pg2s3/copyout"
)

// leaf is a leaf partition of a partitioned table. A partitioned table is read leaf by leaf: big
// leaves in page ranges and small ones together, so that it is cut into chunks (and read by
// several workers) like an ordinary table, and with PartitionBy a leaf whose bounds fix the
// partition's value is read without computing a key or grouping rows.
type leaf struct {
	copyout.Table
	Pages, SizeBytes int64
	// key is the partition values every row of the leaf has (per level its text, nil for NULL),
	// when its bounds (and its parents') fix every PartitionBy level; nil when the key is computed
	// row by row.
	key []*string
}

// leavesSQL lists the partition tree of a partitioned table ($1) with, for each member, the key of
// the table it is a partition of when that key can fix a value: one column, LIST or RANGE, of a
// type whose equal values always print alike (so a bound's value is the text of every row it
// holds) under a deterministic collation and the type's default btree class.
const leavesSQL = `SELECT c.oid, t.isleaf, coalesce(t.parentrelid::oid, 0), n.nspname, c.relname, c.relkind::text,
  pg_relation_size(c.oid), pg_relation_size(c.oid) / current_setting('block_size')::bigint,
  has_table_privilege(c.oid, 'SELECT'), c.relrowsecurity, coalesce(pg_get_expr(c.relpartbound, c.oid), ''),
  coalesce(k.strat, ''), coalesce(k.attname, ''), coalesce(k.typ, ''), coalesce(k.discrete, false)
FROM pg_partition_tree($1::oid) t
JOIN pg_class c ON c.oid = t.relid JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN LATERAL (
  SELECT pt.partstrat::text AS strat, a.attname::text AS attname, format_type(a.atttypid, a.atttypmod) AS typ,
    a.atttypid IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype, 'date'::regtype) AS discrete
  FROM pg_partitioned_table pt
  JOIN pg_attribute a ON a.attrelid = pt.partrelid AND a.attnum = pt.partattrs[0]
  JOIN pg_type ty ON ty.oid = a.atttypid
  WHERE pt.partrelid = t.parentrelid AND pt.partnatts = 1 AND pt.partstrat IN ('l', 'r')
    AND (ty.typtype = 'e' OR a.atttypid IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype, 'oid'::regtype,
      'text'::regtype, 'varchar'::regtype, '"char"'::regtype, 'bool'::regtype, 'uuid'::regtype, 'date'::regtype,
      'timestamp'::regtype, 'timestamptz'::regtype))
    AND (pt.partcollation[0] = 0 OR (SELECT co.collisdeterministic FROM pg_collation co WHERE co.oid = pt.partcollation[0]))
    AND pt.partclass[0] IN (SELECT oc.oid FROM pg_opclass oc JOIN pg_am am ON am.oid = oc.opcmethod
      WHERE oc.opcdefault AND am.amname = 'btree' AND oc.opcnamespace = 'pg_catalog'::regnamespace)
) k ON true
ORDER BY t.level, c.relname`

// treeNode is a member of a partition tree, and what its bound fixes (a column's value).
type treeNode struct {
	parent uint32
	col    string // the column the bound fixes, "" for none
	lit    string // its value, as the server printed the bound
	typ    string // the column's type
	check  string // a condition the server must find true for the value to be fixed (a RANGE of one value)
}

// loadLeaves reads t's leaf partitions into t.leaves, or leaves t to be read through its parent
// (t.leaves nil) when a leaf cannot be read on its own as the parent would read it: a leaf the
// role may not SELECT (it may read the parent), or row-level security on any member (the parent's
// policies do not apply to a leaf read directly).
func (p *Plan) loadLeaves(ctx context.Context, t *Table) error {
	res := p.coord.ExecParams(ctx, leavesSQL, [][]byte{[]byte(strconv.FormatUint(uint64(t.OID), 10))}, nil, nil, nil).Read()
	if res.Err != nil {
		return fmt.Errorf("listing the partitions of %s: %w", t, res.Err)
	}
	nodes := map[uint32]treeNode{}
	var leaves []*leaf
	var leafOIDs []uint32
	for _, row := range res.Rows {
		oid, _ := strconv.ParseUint(string(row[0]), 10, 32)
		parent, _ := strconv.ParseUint(string(row[2]), 10, 32)
		if string(row[8]) != "t" || string(row[9]) == "t" {
			p.cfg.Logger.Debug("reading the partitioned table through its parent", "table", t.String(), "partition", string(row[4]),
				"select_privilege", string(row[8]) == "t", "row_security", string(row[9]) == "t")
			return nil
		}
		n := treeNode{parent: uint32(parent)}
		n.col, n.lit, n.typ, n.check = fixedBound(string(row[10]), string(row[11]), string(row[12]), string(row[13]), string(row[14]) == "t")
		nodes[uint32(oid)] = n
		if string(row[1]) != "t" || uint32(oid) == t.OID {
			continue
		}
		size, _ := strconv.ParseInt(string(row[6]), 10, 64)
		pages, _ := strconv.ParseInt(string(row[7]), 10, 64)
		leaves = append(leaves, &leaf{Table: copyout.Table{Schema: string(row[3]), Name: string(row[4]), Kind: string(row[5]), EstRows: -1},
			Pages: pages, SizeBytes: size})
		leafOIDs = append(leafOIDs, uint32(oid))
	}
	if len(leaves) == 0 {
		return nil // no partitions: the parent's one (empty) chunk
	}
	if len(p.cfg.PartitionBy) > 0 {
		if err := p.fixKeys(ctx, t, leaves, leafOIDs, nodes); err != nil {
			return err
		}
	}
	t.leaves = leaves
	return nil
}

// fixedBound reads what a partition bound fixes: the column of a one-column key (strat l or r) and
// its one value, or "" when the bound allows more than one value (or is DEFAULT, or the key is not
// one that can fix a value: attname "").
func fixedBound(bound, strat, attname, typ string, discrete bool) (col, lit, ty, check string) {
	if attname == "" {
		return "", "", "", ""
	}
	switch strat {
	case "l":
		vals, ok := boundList(bound, "FOR VALUES IN ")
		if !ok || len(vals) != 1 {
			return "", "", "", ""
		}
		return attname, vals[0], typ, ""
	case "r":
		if !discrete {
			return "", "", "", ""
		}
		rest, ok := strings.CutPrefix(bound, "FOR VALUES FROM ")
		from, ok1 := boundList(rest, "")
		i := strings.Index(rest, ") TO (")
		if !ok || !ok1 || i < 0 || len(from) != 1 {
			return "", "", "", ""
		}
		to, ok2 := boundList(rest[i+len(") TO "):], "")
		if !ok2 || len(to) != 1 || isBoundKeyword(from[0]) || isBoundKeyword(to[0]) {
			return "", "", "", ""
		}
		// to = from + 1 cannot fail: date + 1 keeps an infinite date infinite (a subtraction would
		// raise), and an integer bound below TO cannot overflow by one.
		return attname, from[0], typ, fmt.Sprintf("(%s)::%s = (%s)::%s + 1", to[0], typ, from[0], typ)
	}
	return "", "", "", ""
}

func isBoundKeyword(s string) bool { return s == "MINVALUE" || s == "MAXVALUE" }

// boundList reads the parenthesised, comma-separated constants at the start of s (after prefix),
// as ruleutils prints them: 'quoted' (quotes doubled), bare numbers and keywords, (-5).
func boundList(s, prefix string) ([]string, bool) {
	s, ok := strings.CutPrefix(s, prefix)
	if !ok || !strings.HasPrefix(s, "(") {
		return nil, false
	}
	var vals []string
	depth, start, quoted := 0, 1, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quoted:
			if c == '\'' {
				if i+1 < len(s) && s[i+1] == '\'' {
					i++
				} else {
					quoted = false
				}
			}
		case c == '\'':
			quoted = true
		case c == '(':
			depth++
		case c == ')':
			depth--
			if depth == 0 {
				return append(vals, strings.TrimSpace(s[start:i])), true
			}
		case c == ',' && depth == 1:
			vals = append(vals, strings.TrimSpace(s[start:i]))
			start = i + 1
		}
	}
	return nil, false
}

// fixKeys gives each leaf whose bounds (its own and its parents') fix every PartitionBy level
// the key its rows have, computed by the server from the bounds' values with the same expression
// the rows' keys would be computed with.
func (p *Plan) fixKeys(ctx context.Context, t *Table, leaves []*leaf, oids []uint32, nodes map[uint32]treeNode) error {
	ps := p.cfg.PartitionBy
	var rows []string
	var which []*leaf
	for i, l := range leaves {
		vals := make([]string, len(ps))
		checks := []string{"true"}
		for n, ok := nodes[oids[i]]; ok; n, ok = nodes[n.parent] {
			for j, lvl := range ps {
				if vals[j] == "" && n.col != "" && lvl.Column != "" && n.col == strings.ToLower(lvl.Expr) {
					vals[j] = "(" + n.lit + ")::" + n.typ
					if n.check != "" {
						checks = append(checks, n.check)
					}
				}
			}
		}
		if slices.Contains(vals, "") { // a level the bounds do not fix
			continue
		}
		rows = append(rows, fmt.Sprintf("(%d, %s, %s)", len(which), strings.Join(checks, " AND "), strings.Join(vals, ", ")))
		which = append(which, l)
	}
	if len(rows) == 0 {
		return nil
	}
	names := make([]string, len(ps))
	for i, lvl := range ps {
		names[i] = copyout.QuoteIdent(strings.ToLower(lvl.Expr))
	}
	texts := make([]string, len(ps))
	for i, lvl := range ps {
		texts[i] = textSQL(lvl.Expr) // the text the rows' keys would send
	}
	sql := "SELECT i, ok, " + strings.Join(texts, ", ") + " FROM (VALUES " + strings.Join(rows, ", ") + ") AS s(i, ok, " + strings.Join(names, ", ") + ")"
	res := p.coord.ExecParams(ctx, sql, nil, nil, nil, nil).Read()
	if res.Err != nil {
		return fmt.Errorf("reading the partition values of %s's partitions from their bounds: %w", t, res.Err)
	}
	for _, row := range res.Rows {
		i, _ := strconv.Atoi(string(row[0]))
		if string(row[1]) == "t" && i < len(which) {
			key := make([]*string, len(ps))
			for j, v := range row[2:] {
				if v != nil {
					s := string(v)
					key[j] = &s
				}
			}
			which[i].key = key
		}
	}
	return nil
}

// leafChunks cuts a partitioned table read leaf by leaf: a leaf bigger than a chunk into page
// ranges (as an ordinary table), the others together up to a chunk's size (chunkBytes 0: no
// limit), those with a fixed partition key apart from those whose key is computed (the branches
// of one COPY send keys of one type).
func leafChunks(t *Table, chunkBytes, blockSize int64, tidRange bool) []Chunk {
	var out []Chunk
	pagesPerChunk := max(chunkBytes/blockSize, 1)
	add := func(parts []copyout.Part, est int64) {
		out = append(out, Chunk{Table: t, Index: len(out), EstBytes: est, parts: parts})
	}
	var group []copyout.Part
	var groupBytes int64
	groupFixed := false
	flush := func() {
		if len(group) > 0 {
			add(group, groupBytes)
		}
		group, groupBytes = nil, 0
	}
	for _, l := range t.leaves {
		if l.Kind == "r" && tidRange && chunkBytes > 0 && l.Pages > pagesPerChunk {
			for from := int64(0); from < l.Pages; from += pagesPerChunk {
				add([]copyout.Part{{Table: l.Table, Ranged: true, FromPage: from, ToPage: from + pagesPerChunk, Key: l.key}},
					min(pagesPerChunk, l.Pages-from)*blockSize)
			}
			continue
		}
		fixed := l.key != nil
		if len(group) > 0 && ((chunkBytes > 0 && groupBytes+l.SizeBytes > chunkBytes) || fixed != groupFixed) {
			flush()
		}
		group, groupBytes, groupFixed = append(group, copyout.Part{Table: l.Table, Key: l.key}), groupBytes+l.SizeBytes, fixed
	}
	flush()
	return out
}

// partsRange renders a leaf chunk's partitions and pages for people.
func partsRange(parts []copyout.Part) string {
	s := "partition " + parts[0].Table.String()
	if len(parts) > 1 {
		s = fmt.Sprintf("partitions %s ... %s (%d)", parts[0].Table, parts[len(parts)-1].Table, len(parts))
	}
	if p := parts[0]; p.Ranged {
		if p.ToPage == 0 {
			return fmt.Sprintf("%s, pages %d-end", s, p.FromPage)
		}
		return fmt.Sprintf("%s, pages %d-%d", s, p.FromPage, p.ToPage-1)
	}
	return s
}
