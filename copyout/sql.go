package copyout

import (
	"cmp"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/pg2s3/pg2s3/setting"
)

// Options are the COPY options pg2s3 passes through. Zero values mean COPY's defaults; every value
// reaches SQL as a quoted literal or identifier.
type Options struct {
	Format     string   // csv (default) or text
	Header     bool     // HEADER: the first line names the columns
	Delimiter  string   // DELIMITER (one character)
	Null       *string  // NULL: the string that marks a NULL (nil: the format's default)
	Quote      string   // QUOTE (csv)
	Escape     string   // ESCAPE (csv)
	ForceQuote []string // FORCE_QUOTE: column names, or just "*" (csv)
	Encoding   string   // ENCODING: the output's character set (default: UTF8)

	// Projection, when set, replaces SELECT * with a select list (the Parquet path selects every
	// column and casts some to text), and may put partition keys first.
	Projection *Projection
	// Filter, when set, is a condition on a table's rows (an incremental run's): only the rows it
	// holds for are exported. It is SQL pg2s3 builds, never a user's text.
	Filter string
}

// Projection is what a COPY selects: a list over Columns columns ("" for all of them), and, when
// Keys are set, those expressions first (as pg2s3_partition, pg2s3_partition_2, ...), one per
// partition level. The rows come in the order the server reads them (the reader groups them by
// key). A query's result is renamed by position, AS q("1", "2", ...), when a list is given, so that
// the list can name columns whose names repeat; Keys are evaluated over the query's own column
// names.
type Projection struct {
	List    string
	Columns int
	Keys    []string
}

// keyColumn is the name of a partitioned COPY's leading key column i (from 0).
func keyColumn(i int) string {
	if i == 0 {
		return "pg2s3_partition"
	}
	return "pg2s3_partition_" + strconv.Itoa(i+1)
}

// keyNames are the key columns' names, joined (prefix before each).
func (p *Projection) keyNames(prefix string) string {
	names := make([]string, len(p.Keys))
	for i := range p.Keys {
		names[i] = prefix + keyColumn(i)
	}
	return strings.Join(names, ", ")
}

// keySelect selects keys (SQL expressions) as the key columns.
func keySelect(keys []string) string {
	items := make([]string, len(keys))
	for i, k := range keys {
		items[i] = k + " AS " + keyColumn(i)
	}
	return strings.Join(items, ", ")
}

// Binary is COPY's binary format: the Parquet path decodes it. It is not a format a user chooses.
const Binary = "binary"

// Validate checks what can be checked without the server; PostgreSQL checks the rest (an invalid
// combination, such as QUOTE equal to DELIMITER, comes back as its own error message).
func (o Options) Validate() error {
	switch o.Format {
	case "", "csv", "text":
	default:
		return &OptionError{Name: "FORMAT", Value: o.Format, Reason: "want csv or text"}
	}
	for _, c := range []struct{ opt, v string }{{"DELIMITER", o.Delimiter}, {"QUOTE", o.Quote}, {"ESCAPE", o.Escape}} {
		if c.v != "" && len(c.v) != 1 {
			return &OptionError{Name: c.opt, Value: c.v, Reason: "must be a single one-byte character"}
		}
	}
	for _, col := range o.ForceQuote {
		if col == "" {
			return &OptionError{Name: "FORCE_QUOTE", Value: col, Reason: "empty column name"}
		}
	}
	return nil
}

// OptionError is a COPY option with a value COPY cannot take; Name is COPY's name for it (FORMAT,
// DELIMITER, ...).
type OptionError = setting.Error

// FormatName is the COPY format: csv or text.
func (o Options) FormatName() string {
	if o.Format == "" {
		return "csv"
	}
	return o.Format
}

func (o Options) with() string {
	if o.Format == Binary {
		return " TO STDOUT WITH (FORMAT binary)"
	}
	parts := []string{"FORMAT " + o.FormatName()}
	if o.Header {
		parts = append(parts, "HEADER")
	}
	if o.Delimiter != "" {
		parts = append(parts, "DELIMITER "+QuoteLiteral(o.Delimiter))
	}
	if o.Null != nil {
		parts = append(parts, "NULL "+QuoteLiteral(*o.Null))
	}
	if o.Quote != "" {
		parts = append(parts, "QUOTE "+QuoteLiteral(o.Quote))
	}
	if o.Escape != "" {
		parts = append(parts, "ESCAPE "+QuoteLiteral(o.Escape))
	}
	if len(o.ForceQuote) == 1 && o.ForceQuote[0] == "*" {
		parts = append(parts, "FORCE_QUOTE *")
	} else if len(o.ForceQuote) > 0 {
		cols := make([]string, len(o.ForceQuote))
		for i, c := range o.ForceQuote {
			cols[i] = QuoteIdent(c)
		}
		parts = append(parts, "FORCE_QUOTE ("+strings.Join(cols, ", ")+")")
	}
	if o.Encoding != "" {
		parts = append(parts, "ENCODING "+QuoteLiteral(o.Encoding))
	}
	return " TO STDOUT WITH (" + strings.Join(parts, ", ") + ")"
}

// QuoteLiteral quotes a string as an escape-string literal (E'...'), which means the same whatever
// standard_conforming_strings says. A NUL byte, which PostgreSQL cannot store, is dropped.
func QuoteLiteral(s string) string {
	s = strings.ReplaceAll(s, "\x00", "")
	s = strings.ReplaceAll(s, `\`, `\\`)
	return "E'" + strings.ReplaceAll(s, "'", `\'`) + "'"
}

// Statement is a COPY statement and, for a query, where the user's query starts inside it (so that the
// position of a syntax error can be shown in the user's text).
type Statement struct {
	SQL         string
	Query       string // the user's query
	QueryOffset int    // characters of SQL before Query
}

const queryPrefix = "COPY (\n"

// QueryStatement wraps query as COPY (query) TO STDOUT WITH (FORMAT csv ...). The query is checked to
// be one statement (a trailing semicolon is dropped) so that nothing but the COPY runs. It is put on its
// own lines, so a trailing -- comment cannot swallow the closing parenthesis.
func QueryStatement(query string, o Options) (Statement, error) {
	q, err := CheckQuery(query)
	if err != nil {
		return Statement{}, err
	}
	if p := o.Projection; p != nil {
		prefix, suffix := "COPY (SELECT * FROM (\n", "\n) AS q"
		if len(p.Keys) > 0 {
			prefix = "COPY (SELECT " + keySelect(p.Keys) + ", q.* FROM (\n"
		}
		if p.List != "" {
			names := make([]string, p.Columns)
			for i := range names {
				names[i] = QuoteIdent(strconv.Itoa(i + 1))
			}
			if len(p.Keys) > 0 {
				prefix = "COPY (SELECT " + p.keyNames("q2.") + ", " + p.List + " FROM (SELECT " + keySelect(p.Keys) + ", q.* FROM (\n"
				suffix = "\n) AS q) AS q2(" + p.keyNames("") + ", " + strings.Join(names, ", ") + ")"
			} else {
				prefix = "COPY (SELECT " + p.List + " FROM (\n"
				suffix = "\n) AS q(" + strings.Join(names, ", ") + ")"
			}
		}
		return Statement{SQL: prefix + q + suffix + ")" + o.with(), Query: q, QueryOffset: len([]rune(prefix))}, nil
	}
	return Statement{SQL: queryPrefix + q + "\n)" + o.with(), Query: q, QueryOffset: len([]rune(queryPrefix))}, nil
}

// selectList is the projection's list (after its key), or cols (* when empty).
func (o Options) selectList(cols string) string {
	p := o.Projection
	list := cmp.Or(cols, "*")
	if p != nil && p.List != "" {
		list = p.List
	}
	if p != nil && len(p.Keys) > 0 {
		return keySelect(p.Keys) + ", " + list
	}
	return list
}

// TableStatement is COPY schema.name TO STDOUT ... for an ordinary table without generated
// columns, and COPY (SELECT * FROM schema.name) TO STDOUT ... for anything else: what COPY cannot
// read directly (views, materialized views, foreign and partitioned tables), and a table with
// generated columns, which COPY schema.name would leave out (SELECT * has them, as a query and a
// ranged chunk do). Both names are quoted.
func TableStatement(t Table, o Options) Statement {
	if t.Kind == "r" && !t.Generated && o.Projection == nil && o.Filter == "" {
		return Statement{SQL: "COPY " + t.String() + o.with()}
	}
	return PartsStatement([]Part{{Table: t}}, nil, o)
}

// RangeStatement is COPY (SELECT * FROM schema.name WHERE ctid >= '(from,0)' [AND ctid < '(to,0)'])
// TO STDOUT ...: the heap pages [from, to) of a table (to = 0: to the end), which PostgreSQL 14 and
// later read with a TID Range Scan.
func RangeStatement(t Table, fromPage, toPage int64, o Options) Statement {
	return PartsStatement([]Part{{Table: t, FromPage: fromPage, ToPage: toPage, Ranged: true}}, nil, o)
}

// Part is a relation one COPY reads, or some of its heap pages: a table, or a leaf partition of a
// partitioned table read on its own.
type Part struct {
	Table            Table
	Ranged           bool  // only the pages [FromPage, ToPage) (ToPage 0: to the end)
	FromPage, ToPage int64 //
	// Key, when set, is the partition key every row of the part has (a leaf whose bounds fix the
	// partition's values): per level the value's text, or nil for NULL. It is sent as text
	// constants in place of the computed keys.
	Key []*string
}

// PartsStatement is COPY (SELECT list FROM part1 UNION ALL SELECT list FROM part2 ...) TO STDOUT:
// the rows of each part in turn, every part read with columns (quoted names; nil: *), so that leaf
// partitions whose own column order differs from their parent's all give the parent's. A part
// with a Key sends it in place of Options' Projection.Keys (the branches of one statement are all
// of one kind, so that the key columns' types match).
func PartsStatement(parts []Part, columns []string, o Options) Statement {
	cols := make([]string, len(columns))
	for i, c := range columns {
		cols[i] = QuoteIdent(c)
	}
	list := strings.Join(cols, ", ")
	var branches []string
	for _, p := range parts {
		var where []string
		if p.Ranged {
			where = append(where, fmt.Sprintf("ctid >= '(%d,0)'::tid", p.FromPage))
			if p.ToPage > 0 {
				where = append(where, fmt.Sprintf("ctid < '(%d,0)'::tid", p.ToPage))
			}
		}
		switch {
		case o.Filter == "":
		case len(where) > 0:
			where = append(where, "("+o.Filter+")")
		default:
			where = append(where, o.Filter)
		}
		sel := o.selectList(list)
		if p.Key != nil && o.Projection != nil && len(o.Projection.Keys) > 0 {
			c := *o.Projection
			c.Keys = make([]string, len(p.Key))
			for i, v := range p.Key {
				c.Keys[i] = "NULL::text"
				if v != nil {
					c.Keys[i] = QuoteLiteral(*v) + "::text"
				}
			}
			sel = Options{Projection: &c}.selectList(list)
		}
		b := "SELECT " + sel + " FROM " + p.Table.String()
		if len(where) > 0 {
			b += " WHERE " + strings.Join(where, " AND ")
		}
		branches = append(branches, b)
	}
	return Statement{SQL: "COPY (" + strings.Join(branches, " UNION ALL ") + ")" + o.with()}
}

// QuoteIdent quotes a PostgreSQL identifier: double quotes around it, inner double quotes doubled.
// Any string becomes exactly one identifier; a NUL byte, which PostgreSQL cannot store, is dropped.
func QuoteIdent(s string) string {
	s = strings.ReplaceAll(s, "\x00", "")
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

// CheckQuery makes sure query is a single SQL statement that can sit inside COPY ( ... ): not empty,
// no top-level semicolon except trailing ones (dropped), parentheses balanced, strings, quoted
// identifiers, dollar quotes and block comments closed. It returns the query without trailing
// semicolons and blanks. It does not parse SQL: the server does, and reports its own errors.
func CheckQuery(query string) (string, error) {
	end, err := scanQuery(query)
	if err != nil {
		return "", err
	}
	q := strings.TrimRight(query[:end], " \t\r\n\f;")
	if strings.TrimSpace(stripComments(q)) == "" {
		return "", errors.New("the query is empty")
	}
	return q, nil
}

// scanQuery returns the length of query up to its trailing semicolons, or an error if the query
// is not one closed statement.
func scanQuery(q string) (int, error) {
	depth := 0
	semi := -1 // position of the first top-level semicolon
	for i := 0; i < len(q); {
		c := q[i]
		switch {
		case c == '\'' || c == '"':
			j := closeQuote(q, i+1, c, c == '\'' && isEscapeString(q, i))
			if j < 0 {
				return 0, fmt.Errorf("the query has an unterminated %s starting at character %d", map[byte]string{'\'': "string", '"': "quoted identifier"}[c], runeIndex(q, i)+1)
			}
			i = j
			continue
		case c == '-' && strings.HasPrefix(q[i:], "--"):
			j := strings.IndexByte(q[i:], '\n')
			if j < 0 {
				i = len(q)
			} else {
				i += j + 1
			}
			continue
		case c == '/' && strings.HasPrefix(q[i:], "/*"):
			j := closeComment(q, i)
			if j < 0 {
				return 0, fmt.Errorf("the query has an unterminated /* comment starting at character %d", runeIndex(q, i)+1)
			}
			i = j
			continue
		case c == '$':
			if tag, ok := dollarTag(q, i); ok {
				j := strings.Index(q[i+len(tag):], tag)
				if j < 0 {
					return 0, fmt.Errorf("the query has an unterminated dollar quote %s starting at character %d", tag, runeIndex(q, i)+1)
				}
				i += len(tag) + j + len(tag)
				continue
			}
		}
		if semi >= 0 && !isSpaceOrSemi(c) {
			return 0, fmt.Errorf("the query holds more than one statement (a semicolon at character %d): give a single SELECT", runeIndex(q, semi)+1)
		}
		switch c {
		case '(':
			depth++
		case ')':
			depth--
			if depth < 0 {
				return 0, fmt.Errorf("the query has an unmatched ')' at character %d", runeIndex(q, i)+1)
			}
		case ';':
			if depth == 0 && semi < 0 {
				semi = i
			}
		}
		i++
	}
	if depth > 0 {
		return 0, errors.New("the query has an unclosed '('")
	}
	if semi >= 0 {
		return semi, nil
	}
	return len(q), nil
}

func isSpaceOrSemi(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == ';'
}

// isEscapeString says whether the quote at i opens an E'...' string (backslash escapes).
func isEscapeString(q string, i int) bool {
	if i == 0 || (q[i-1] != 'E' && q[i-1] != 'e') {
		return false
	}
	return i == 1 || !isIdentChar(q[i-2])
}

func isIdentChar(c byte) bool {
	return c == '_' || c == '$' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}

// closeQuote returns the index after the quote that closes a string or identifier opened before
// start, or -1. A doubled quote is an escaped quote; with backslash escapes, \' is too.
func closeQuote(q string, start int, quote byte, backslash bool) int {
	for i := start; i < len(q); i++ {
		switch q[i] {
		case '\\':
			if backslash {
				i++
			}
		case quote:
			if i+1 < len(q) && q[i+1] == quote {
				i++
				continue
			}
			return i + 1
		}
	}
	return -1
}

// closeComment returns the index after the */ that closes the (nesting) comment at start, or -1.
func closeComment(q string, start int) int {
	depth := 0
	for i := start; i+1 < len(q); i++ {
		switch {
		case q[i] == '/' && q[i+1] == '*':
			depth++
			i++
		case q[i] == '*' && q[i+1] == '/':
			depth--
			i++
			if depth == 0 {
				return i + 1
			}
		}
	}
	return -1
}

// dollarTag returns the $tag$ opening a dollar-quoted string at i, if there is one. A $ inside an
// identifier or a positional parameter ($1) is not one.
func dollarTag(q string, i int) (string, bool) {
	if i > 0 && isIdentChar(q[i-1]) {
		return "", false
	}
	for j := i + 1; j < len(q); j++ {
		c := q[j]
		if c == '$' {
			return q[i : j+1], true
		}
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80 || (j > i+1 && c >= '0' && c <= '9')) {
			return "", false
		}
	}
	return "", false
}

func stripComments(q string) string {
	var b strings.Builder
	for i := 0; i < len(q); {
		switch {
		case strings.HasPrefix(q[i:], "--"):
			j := strings.IndexByte(q[i:], '\n')
			if j < 0 {
				return b.String()
			}
			i += j + 1
		case strings.HasPrefix(q[i:], "/*"):
			j := closeComment(q, i)
			if j < 0 {
				return b.String()
			}
			i = j
		default:
			b.WriteByte(q[i])
			i++
		}
	}
	return b.String()
}

func runeIndex(s string, byteIndex int) int { return len([]rune(s[:byteIndex])) }
