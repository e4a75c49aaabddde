// Package columnar turns PostgreSQL's binary COPY into typed Parquet files: the opt-in stage
// behind the Parquet format. The CSV path does not come here; it stays the server's bytes.
//
// How a column gets its type: [Describe] asks the server for the statement's row description (no
// row is read), resolves domains to their base types and enums to text through the catalog, and
// maps each column to its natural Parquet type ([Column.ParquetType]). A type without a natural
// mapping (numeric without a declared precision, interval, inet, ranges, geometric and extension
// types, multi-dimensional arrays) is cast to text in the COPY's select list, so that the server
// renders it as its canonical text form. [Statement] builds that COPY.
//
// How a row becomes Parquet: the [Encoder] stage reads the binary tuples (the format of COPY ...
// (FORMAT binary), without its header and trailer, which the engine's [Framer] strips), decodes
// each field into a Parquet value, and flushes a row group whenever the tuples it holds reach
// RowGroupSize bytes. Values the target type cannot hold (numeric NaN or infinity in a DECIMAL,
// infinite dates and timestamps) stop the export with an error naming the table, the column and
// the row; nothing is changed silently.
package columnar

import (
	"fmt"
	"strings"

	"github.com/pg2s3/pg2s3/copyout"
)

// kind is how a column's binary values are decoded.
type kind int

const (
	kindText kind = iota // text, varchar, char(n), name, "char", enums, and every cast to text
	kindBool
	kindInt16
	kindInt32
	kindInt64
	kindOid
	kindFloat32
	kindFloat64
	kindBytea
	kindDate
	kindTime
	kindTimestamp
	kindTimestampTZ
	kindUUID
	kindJSON
	kindJSONB
	kindDecimal
)

var kindNames = [...]string{"STRING", "BOOLEAN", "INT(16)", "INT(32)", "INT(64)", "UINT(32)", "FLOAT", "DOUBLE",
	"BYTE_ARRAY", "DATE", "TIME(MICROS)", "TIMESTAMP(MICROS)", "TIMESTAMP(MICROS, UTC)", "UUID", "JSON", "JSON", "DECIMAL"}

// Column is one column of the output.
type Column struct {
	Name      string // the Parquet field name (the PostgreSQL name; repeated names get _2, _3, ...)
	PGType    string // the column's PostgreSQL type, as format_type prints it
	kind      kind
	Array     bool // a one-dimensional array of its kind: a Parquet LIST
	Precision int  // Decimal
	Scale     int  // Decimal
	// Output, for a type without a natural Parquet mapping (and an array of one), is the type's
	// output function: the select list reads the column as textin(output(column)), its canonical
	// text form, exactly what psql shows. (A cast to text would not do: inet's and cidr's casts
	// print the netmask where the output function does not, boolean's prints true for t.)
	Output string
	// FieldID, when not 0, is written as the Parquet field's ID, and ElementID as a list's
	// element's: a table format (Iceberg) finds columns by ID, not by name.
	FieldID, ElementID int
	// JSONAsString writes json and jsonb as plain STRING, for a table format without a JSON type.
	JSONAsString bool
	// Required writes a column that is never NULL (a primary key's) as a REQUIRED field: a table
	// format's identifier fields must be. A NULL in it is an error.
	Required bool
	// Dictionary encodes a string column of few distinct values (the planner's n_distinct) as a
	// dictionary and its indexes: each value is stored once per row group. A column with many
	// (a hash) stays PLAIN, which a dictionary would only grow; one whose dictionary outgrows
	// dictionaryMaxBytes after all (stale statistics) falls back to PLAIN.
	Dictionary bool

	source string // the column's name in the statement's FROM
}

// ParquetType names the column's Parquet (logical) type, for the manifest and the docs.
func (c Column) ParquetType() string {
	t := kindNames[c.kind]
	if c.JSONAsString && (c.kind == kindJSON || c.kind == kindJSONB) {
		t = "STRING"
	}
	if c.kind == kindDecimal {
		t = fmt.Sprintf("DECIMAL(%d,%d)", c.Precision, c.Scale)
	}
	if c.Array {
		return "LIST<" + t + ">"
	}
	return t
}

// Built-in type OIDs (src/include/catalog/pg_type.dat); they are fixed across versions.
const (
	oidBool        = 16
	oidBytea       = 17
	oidName        = 19
	oidInt8        = 20
	oidInt2        = 21
	oidInt4        = 23
	oidText        = 25
	oidOid         = 26
	oidJSON        = 114
	oidFloat4      = 700
	oidFloat8      = 701
	oidBpchar      = 1042
	oidVarchar     = 1043
	oidDate        = 1082
	oidTime        = 1083
	oidTimestamp   = 1114
	oidTimestampTZ = 1184
	oidNumeric     = 1700
	oidUUID        = 2950
	oidJSONB       = 3802
)

var builtinKinds = map[uint32]kind{
	oidBool: kindBool, oidBytea: kindBytea, oidName: kindText, oidInt8: kindInt64, oidInt2: kindInt16, oidInt4: kindInt32,
	oidText: kindText, oidOid: kindOid, oidJSON: kindJSON, oidFloat4: kindFloat32, oidFloat8: kindFloat64, oidBpchar: kindText,
	oidVarchar: kindText, oidDate: kindDate, oidTime: kindTime, oidTimestamp: kindTimestamp, oidTimestampTZ: kindTimestampTZ,
	oidUUID: kindUUID, oidJSONB: kindJSONB,
}

// maxDecimalPrecision is the largest numeric precision written as a Parquet DECIMAL: what the
// common readers (DuckDB, Spark, Redshift, BigQuery's NUMERIC/BIGNUMERIC split aside) accept.
// A wider numeric is written as text.
const maxDecimalPrecision = 38

// numericTypmod decodes numeric's type modifier: precision and scale (scale may be negative, or
// larger than the precision, since PostgreSQL 15).
func numericTypmod(typmod int32) (precision, scale int, ok bool) {
	if typmod < 4 {
		return 0, 0, false
	}
	t := typmod - 4
	precision = int(t>>16) & 0xffff
	scale = ((int(t) & 0x7ff) ^ 1024) - 1024
	return precision, scale, true
}

// mapType gives the decoding of a base type (domains already resolved), or ok=false when the type
// has no natural Parquet mapping and is read as text.
func mapType(oid uint32, typmod int32, enum bool) (k kind, precision, scale int, ok bool) {
	if enum {
		return kindText, 0, 0, true
	}
	if oid == oidNumeric {
		p, s, ok := numericTypmod(typmod)
		if !ok || s < 0 || s > p || p > maxDecimalPrecision {
			return 0, 0, 0, false
		}
		return kindDecimal, p, s, true
	}
	k, ok = builtinKinds[oid]
	return k, 0, 0, ok
}

// PlainList is a select list of the columns as they are (the CSV path's, when a list is needed).
func PlainList(cols []Column) string {
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = copyout.QuoteIdent(c.source)
	}
	return strings.Join(names, ", ")
}

// SelectList is the statement's select list: every column, as text where its type needs it.
func SelectList(cols []Column) string {
	var b strings.Builder
	for i, c := range cols {
		if i > 0 {
			b.WriteString(", ")
		}
		if c.Output != "" {
			b.WriteString("pg_catalog.textin(" + c.Output + "(" + copyout.QuoteIdent(c.source) + "))")
		} else {
			b.WriteString(copyout.QuoteIdent(c.source))
		}
	}
	return b.String()
}
