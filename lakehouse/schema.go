package lakehouse

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/apache/iceberg-go"

	"github.com/pg2s3/pg2s3/columnar"
)

// Schema is the Iceberg schema of the columns, from the Parquet types pg2s3 writes them as
// (json as string: Iceberg has no JSON type). Field IDs are given in order; a new table's
// metadata assigns its own, which Open then writes into the files.
func Schema(cols []columnar.Column) (*iceberg.Schema, error) {
	fields := make([]iceberg.NestedField, len(cols))
	id := len(cols)
	for i, c := range cols {
		c.JSONAsString = true
		pt := c.ParquetType()
		elem, list := strings.CutPrefix(pt, "LIST<")
		if list {
			elem = strings.TrimSuffix(elem, ">")
		}
		typ, err := icebergType(elem)
		if err != nil {
			return nil, fmt.Errorf("column %q (%s): %w", c.Name, c.PGType, err)
		}
		if list {
			id++
			typ = &iceberg.ListType{ElementID: id, Element: typ}
		}
		fields[i] = iceberg.NestedField{ID: i + 1, Name: c.Name, Type: typ}
	}
	return iceberg.NewSchema(0, fields...), nil
}

// icebergType is the Iceberg type of a Parquet type as columnar names it (Iceberg's spec maps
// them one to one, but for the unsigned oid, which has no Iceberg type of its width).
func icebergType(parquetType string) (iceberg.Type, error) {
	switch parquetType {
	case "STRING":
		return iceberg.PrimitiveTypes.String, nil
	case "BOOLEAN":
		return iceberg.PrimitiveTypes.Bool, nil
	case "INT(16)", "INT(32)":
		return iceberg.PrimitiveTypes.Int32, nil
	case "INT(64)":
		return iceberg.PrimitiveTypes.Int64, nil
	case "FLOAT":
		return iceberg.PrimitiveTypes.Float32, nil
	case "DOUBLE":
		return iceberg.PrimitiveTypes.Float64, nil
	case "BYTE_ARRAY":
		return iceberg.PrimitiveTypes.Binary, nil
	case "DATE":
		return iceberg.PrimitiveTypes.Date, nil
	case "TIME(MICROS)":
		return iceberg.PrimitiveTypes.Time, nil
	case "TIMESTAMP(MICROS)":
		return iceberg.PrimitiveTypes.Timestamp, nil
	case "TIMESTAMP(MICROS, UTC)":
		return iceberg.PrimitiveTypes.TimestampTz, nil
	case "UUID":
		return iceberg.PrimitiveTypes.UUID, nil
	}
	if ps, ok := strings.CutPrefix(parquetType, "DECIMAL("); ok {
		p, s, _ := strings.Cut(strings.TrimSuffix(ps, ")"), ",")
		prec, perr := strconv.Atoi(p)
		scale, serr := strconv.Atoi(s)
		if perr != nil || serr != nil || prec < 1 || prec > 38 {
			return nil, fmt.Errorf("%s has no Iceberg decimal (precision 1 to 38)", parquetType)
		}
		return iceberg.DecimalTypeOf(prec, scale), nil
	}
	return nil, fmt.Errorf("%s has no Iceberg type: cast the column (to bigint, for an oid) in a view and export the view", parquetType)
}

// sameColumns says whether two schemas have the same columns, by name and type, in order (their
// field IDs aside).
func sameColumns(a, b *iceberg.Schema) bool {
	fa, fb := a.Fields(), b.Fields()
	if len(fa) != len(fb) {
		return false
	}
	for i := range fa {
		if fa[i].Name != fb[i].Name || !sameType(fa[i].Type, fb[i].Type) {
			return false
		}
	}
	return true
}

func sameType(a, b iceberg.Type) bool {
	la, aList := a.(*iceberg.ListType)
	lb, bList := b.(*iceberg.ListType)
	if aList || bList {
		return aList && bList && sameType(la.Element, lb.Element)
	}
	return a.Equals(b)
}
