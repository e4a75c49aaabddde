package lakehouse

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/apache/iceberg-go"

	"github.com/pg2s3/pg2s3/columnar"
)

// Schema is the Iceberg schema of the columns, from the Parquet types pg2s3 writes them as
// (json as string: Iceberg has no JSON type). Field IDs are given in order; a new table's
// metadata assigns its own, which Open then writes into the files. The required columns (the
// primary key's) are its identifier fields: the key engines merge and delete rows by.
func Schema(cols []columnar.Column) (*iceberg.Schema, error) {
	fields := make([]iceberg.NestedField, len(cols))
	var ids []int
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
		fields[i] = iceberg.NestedField{ID: i + 1, Name: c.Name, Type: typ, Required: c.Required && !list}
		if fields[i].Required {
			ids = append(ids, i+1)
		}
	}
	return iceberg.NewSchemaWithIdentifiers(0, ids, fields...), nil
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

// sameColumns says whether two schemas have the same columns, by name, type and nullability, in
// order (their field IDs aside).
func sameColumns(a, b *iceberg.Schema) bool {
	fa, fb := a.Fields(), b.Fields()
	if len(fa) != len(fb) {
		return false
	}
	for i := range fa {
		if fa[i].Name != fb[i].Name || fa[i].Required != fb[i].Required || !sameType(fa[i].Type, fb[i].Type) {
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

// evolve is the schema a run writes a table with whose current schema is cur: want's columns, in
// want's order, each with the field ID cur has for its name; a column cur lacks gets the next
// unused ID (after lastID), a column want lacks is dropped (its ID is not used again), and a type
// Iceberg lets grow (int to long, float to double, a decimal's precision) is promoted. Any other
// type change is refused. A column stays required only if it was (Iceberg adds no required
// column to a table that has rows, nor makes an optional one required); the identifier fields
// are want's when every one of them is still required, else none. It returns the new last
// column ID.
func evolve(cur *iceberg.Schema, lastID int, want *iceberg.Schema, table string) (*iceberg.Schema, int, error) {
	fields := want.Fields()
	for i, f := range fields {
		old, ok := cur.FindFieldByName(f.Name)
		if !ok {
			lastID++
			fields[i].ID, fields[i].Required = lastID, false
			if l, isList := f.Type.(*iceberg.ListType); isList {
				lastID++
				fields[i].Type = &iceberg.ListType{ElementID: lastID, Element: l.Element}
			}
			continue
		}
		typ, err := promote(old.Type, f.Type)
		if err != nil {
			return nil, 0, &SchemaChangeError{Table: table, Column: f.Name, From: old.Type.String(), To: f.Type.String(), Reason: err.Error()}
		}
		fields[i].ID, fields[i].Type, fields[i].Required = old.ID, typ, f.Required && old.Required
	}
	var ids []int
	for _, f := range fields {
		if f.Required {
			ids = append(ids, f.ID)
		}
	}
	if len(ids) != len(want.IdentifierFieldIDs) {
		ids = nil
	}
	return iceberg.NewSchemaWithIdentifiers(cur.ID, ids, fields...), lastID, nil
}

// promote is the type a column of type from becomes when it is written as to: to, where Iceberg
// allows the change (with a list's element ID kept), or an error.
func promote(from, to iceberg.Type) (iceberg.Type, error) {
	lf, fromList := from.(*iceberg.ListType)
	lt, toList := to.(*iceberg.ListType)
	switch {
	case fromList && toList:
		elem, err := promote(lf.Element, lt.Element)
		if err != nil {
			return nil, err
		}
		return &iceberg.ListType{ElementID: lf.ElementID, Element: elem, ElementRequired: lf.ElementRequired}, nil
	case fromList || toList:
		return nil, fmt.Errorf("a list and a single value are different types")
	case from.Equals(to):
		return to, nil
	}
	switch f := from.(type) {
	case iceberg.Int32Type:
		if _, ok := to.(iceberg.Int64Type); ok {
			return to, nil
		}
	case iceberg.Float32Type:
		if _, ok := to.(iceberg.Float64Type); ok {
			return to, nil
		}
	case iceberg.DecimalType:
		if t, ok := to.(iceberg.DecimalType); ok && t.Scale() == f.Scale() && t.Precision() >= f.Precision() {
			return to, nil
		}
	}
	return nil, fmt.Errorf("a column's type may change only from int to long, float to double, " +
		"or to a decimal of the same scale and a larger precision (Iceberg's promotions)")
}

// sameSchema says whether two schemas have the same fields, IDs included, in order, and the same
// identifier fields.
func sameSchema(a, b *iceberg.Schema) bool {
	if !sameColumns(a, b) || !slices.Equal(a.IdentifierFieldIDs, b.IdentifierFieldIDs) {
		return false
	}
	fa, fb := a.Fields(), b.Fields()
	for i := range fa {
		if fa[i].ID != fb[i].ID {
			return false
		}
		la, aList := fa[i].Type.(*iceberg.ListType)
		lb, _ := fb[i].Type.(*iceberg.ListType)
		if aList && la.ElementID != lb.ElementID {
			return false
		}
	}
	return true
}
