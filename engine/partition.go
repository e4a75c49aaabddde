package engine

import (
	"errors"
	"regexp"
	"strings"

	"github.com/pg2s3/pg2s3/copyout"
)

// Partition is one level of Hive-style partitioning: the name in the key (name=value/) and the SQL
// expression whose value it is, evaluated by the server for every row.
type Partition struct {
	Name string
	Expr string
	// Column is the bare column the expression is, "" for another expression: a table without it
	// is refused by name, and DropColumns leaves it out of the data.
	Column string
	// Transform, for a time transform of a column (year, month, day or hour of Source), is its
	// name: Expr computes it as Iceberg's spec defines it (the years, months, days or hours from
	// 1970-01-01 00:00 UTC; a timestamp's wall time is taken as UTC).
	Transform, Source string
}

var timeTransform = regexp.MustCompile(`^(?i)(year|month|day|hour)\(\s*([A-Za-z_][A-Za-z0-9_$]*)\s*\)$`)

// transformSQL computes a time transform of a date, timestamp or timestamptz column in SQL,
// whatever the session's TimeZone: extract(epoch) is a timestamptz's seconds from the epoch, and a
// timestamp's or a date's wall time taken as UTC, which is what Iceberg's transforms count from.
// Whole seconds: no boundary is inside a second.
func transformSQL(transform, column string) string {
	epoch := "pg_catalog.floor(pg_catalog.date_part('epoch', " + copyout.QuoteIdent(column) + "))"
	wall := "(pg_catalog.to_timestamp(" + epoch + ") AT TIME ZONE 'UTC')"
	switch transform {
	case "hour":
		return "pg_catalog.floor(" + epoch + " / 3600)::int"
	case "day":
		return "pg_catalog.floor(" + epoch + " / 86400)::int"
	case "month":
		return "((pg_catalog.date_part('year', " + wall + ")::int - 1970) * 12 + pg_catalog.date_part('month', " + wall + ")::int - 1)"
	}
	return "(pg_catalog.date_part('year', " + wall + ")::int - 1970)"
}

var simpleName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_$]*$`)

// ParsePartition reads one PartitionBy level: a column name, a time transform of a column
// (year(col), month(col), day(col), hour(col): its level is named col_day), or NAME=EXPRESSION.
func ParsePartition(s string) (Partition, error) {
	s = strings.TrimSpace(s)
	if m := timeTransform.FindStringSubmatch(s); m != nil {
		tf, col := strings.ToLower(m[1]), strings.ToLower(m[2])
		return Partition{Name: col + "_" + tf, Expr: transformSQL(tf, col), Transform: tf, Source: col}, nil
	}
	if simpleName.MatchString(s) {
		return Partition{Name: strings.ToLower(s), Expr: s, Column: strings.ToLower(s)}, nil
	}
	name, expr, ok := strings.Cut(s, "=")
	name, expr = strings.TrimSpace(name), strings.TrimSpace(expr)
	if !ok || !simpleName.MatchString(name) || expr == "" {
		return Partition{}, errors.New("want a column name, year(COLUMN), month(COLUMN), day(COLUMN), hour(COLUMN), or NAME=EXPRESSION (NAME of letters, digits and _)")
	}
	if _, err := copyout.CheckQuery(expr); err != nil || strings.Contains(expr, ";") {
		return Partition{}, errors.New("the expression must be one SQL expression")
	}
	p := Partition{Name: name, Expr: expr}
	if simpleName.MatchString(expr) {
		p.Column = strings.ToLower(expr)
	}
	return p, nil
}

// DefaultMaxPartitions is the default of Config.MaxPartitions.
const DefaultMaxPartitions = 10000

// partitionOrderSQL lists the partition expressions (to group by them).
func partitionOrderSQL(ps []Partition) string {
	exprs := make([]string, len(ps))
	for i, p := range ps {
		exprs[i] = "(" + p.Expr + ")"
	}
	return strings.Join(exprs, ", ")
}

// PartitionValue is one level of an object's partition: Value is nil for NULL.
type PartitionValue struct {
	Name  string  `json:"name"`
	Value *string `json:"value"`
}

// HiveDefault is Hive's directory for a NULL (or empty) partition value.
const HiveDefault = "__HIVE_DEFAULT_PARTITION__"

// hivePath renders the values as Hive's name=value/ directories, escaping as Hive's
// FileUtils.escapePathName does: control characters and "#%'*/:=?\{[]^ and DEL become %XX.
func hivePath(vs []PartitionValue) string {
	var b strings.Builder
	for i, v := range vs {
		if i > 0 {
			b.WriteByte('/')
		}
		b.WriteString(hiveEscape(v.Name) + "=")
		if v.Value == nil || *v.Value == "" {
			b.WriteString(HiveDefault)
			continue
		}
		b.WriteString(hiveEscape(*v.Value))
	}
	return b.String()
}

func hiveEscape(s string) string { return percentEscape(s, "\"#%'*/:=?\\{[]^") }

// levelsOf are the partition levels chunk c's rows are split by: none for equality delete files,
// which are global.
func (p *Plan) levelsOf(c Chunk) []Partition {
	if c.Table.keysOf != nil {
		return nil
	}
	return p.cfg.PartitionBy
}
