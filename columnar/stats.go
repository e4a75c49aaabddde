package columnar

import (
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
)

// ColumnStats is what a written file holds of one leaf column (a list's element for a list), from
// its footer: a table format's metrics, by which engines skip files.
type ColumnStats struct {
	FieldID int   `json:"field_id"` // the leaf's field ID (a list's ElementID); 0 when the columns have none
	Values  int64 `json:"values"`   // values, nulls included
	Nulls   int64 `json:"nulls"`
	Bytes   int64 `json:"bytes"` // compressed, in every row group
	// Min and Max are the smallest and largest values in Parquet's plain encoding (Bounds says
	// whether there are any: not for strings, JSON and bytea, which carry none, nor for a column
	// of nulls only).
	Min    []byte `json:"min,omitempty"`
	Max    []byte `json:"max,omitempty"`
	Bounds bool   `json:"bounds,omitempty"`
}

// bounded says whether the column's bounds are kept: not a string's, JSON's or bytea's (which can
// be as long as the values: copying them would cost what the bound on memory does not allow for),
// nor a float's (a NaN must not be a bound).
func (c Column) bounded() bool {
	switch c.kind {
	case kindText, kindBytea, kindJSON, kindJSONB, kindFloat32, kindFloat64:
		return false
	}
	return true
}

// Stats is what the file the encoder wrote holds of each column, once its writer is closed; only
// for columns with field IDs (a table format's files).
func (e *Encoder) Stats() []ColumnStats { return e.stats }

// fileStats sums the footer's column chunks over the row groups, column by column.
func fileStats(schema *parquet.Schema, meta *format.FileMetaData, cols []Column) []ColumnStats {
	stats := make([]ColumnStats, len(cols))
	for i, c := range cols {
		stats[i].FieldID = c.FieldID
		if c.Array {
			stats[i].FieldID = c.ElementID
		}
	}
	paths := schema.Columns()
	for _, rg := range meta.RowGroups {
		for j, cc := range rg.Columns {
			if j >= len(stats) || j >= len(paths) {
				break
			}
			s, md := &stats[j], cc.MetaData
			s.Values += md.NumValues
			s.Nulls += md.Statistics.NullCount
			s.Bytes += md.TotalCompressedSize
			minV, maxV := md.Statistics.MinValue, md.Statistics.MaxValue
			if minV == nil || maxV == nil || !cols[j].bounded() {
				continue
			}
			leaf, ok := schema.Lookup(paths[j]...)
			if !ok {
				continue
			}
			typ := leaf.Node.Type()
			if !s.Bounds || typ.Compare(typ.Kind().Value(minV), typ.Kind().Value(s.Min)) < 0 {
				s.Min = append(s.Min[:0], minV...)
			}
			if !s.Bounds || typ.Compare(typ.Kind().Value(maxV), typ.Kind().Value(s.Max)) > 0 {
				s.Max = append(s.Max[:0], maxV...)
			}
			s.Bounds = true
		}
	}
	return stats
}
