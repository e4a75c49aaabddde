package lakehouse

import (
	"fmt"
	"maps"
	"strconv"
	"time"

	"github.com/apache/iceberg-go"
)

// PartitionField is a level of a table's partitioning: Transform (identity, year, month, day or
// hour) of the column Source, named Name.
type PartitionField struct {
	Name      string `json:"name"`
	Source    string `json:"source"`
	Transform string `json:"transform"`
}

var transforms = map[string]iceberg.Transform{
	"identity": iceberg.IdentityTransform{}, "year": iceberg.YearTransform{}, "month": iceberg.MonthTransform{},
	"day": iceberg.DayTransform{}, "hour": iceberg.HourTransform{},
}

// partitionSpec is the spec of a table partitioned by fields, with field IDs after lastID, the
// table's last partition field ID (999 for none).
func partitionSpec(schema *iceberg.Schema, fields []PartitionField, lastID int) (iceberg.PartitionSpec, error) {
	out := make([]iceberg.PartitionField, len(fields))
	for i, pf := range fields {
		f, ok := schema.FindFieldByName(pf.Source)
		if !ok {
			return iceberg.PartitionSpec{}, fmt.Errorf("partition column %q is not a column of the table", pf.Source)
		}
		tf, ok := transforms[pf.Transform]
		if !ok {
			return iceberg.PartitionSpec{}, fmt.Errorf("partition transform %q (want identity, year, month, day or hour)", pf.Transform)
		}
		if !partitionable(pf.Transform, f.Type) {
			return iceberg.PartitionSpec{}, fmt.Errorf("partition column %q is of type %s: %s partitions are written for %s columns",
				pf.Source, f.Type, pf.Transform, map[bool]string{true: "int, long, string, date and boolean", false: "date, timestamp and timestamptz (hour: not date)"}[pf.Transform == "identity"])
		}
		out[i] = iceberg.PartitionField{SourceIDs: []int{f.ID}, FieldID: lastID + 1 + i, Name: pf.Name, Transform: tf}
	}
	return iceberg.NewPartitionSpec(out...), nil
}

// partitionable says whether pg2s3 writes a transform of a column of type t.
func partitionable(transform string, t iceberg.Type) bool {
	switch t.(type) {
	case iceberg.Int32Type, iceberg.Int64Type, iceberg.StringType, iceberg.BooleanType:
		return transform == "identity"
	case iceberg.DateType:
		return transform != "hour"
	case iceberg.TimestampType, iceberg.TimestampTzType:
		return transform != "identity"
	}
	return false
}

// partitionValues are a file's partition values, typed for its spec, from their text (PostgreSQL's
// output form; nil is NULL).
func partitionValues(schema *iceberg.Schema, spec iceberg.PartitionSpec, texts []*string) (map[int]any, error) {
	if len(texts) != spec.NumFields() {
		return nil, fmt.Errorf("%d partition values for a spec of %d fields", len(texts), spec.NumFields())
	}
	vals := map[int]any{}
	for i, pf := range spec.Fields() {
		if texts[i] == nil {
			vals[pf.FieldID] = nil
			continue
		}
		s := *texts[i]
		typ, _ := schema.FindTypeByID(pf.SourceID())
		var v any
		var err error
		if _, identity := pf.Transform.(iceberg.IdentityTransform); !identity { // an int the server computed
			var n int64
			n, err = strconv.ParseInt(s, 10, 32)
			v = int32(n)
			if _, day := pf.Transform.(iceberg.DayTransform); day {
				v = iceberg.Date(n)
			}
			typ = nil
		}
		switch typ.(type) {
		case nil:
		case iceberg.Int32Type:
			var n int64
			n, err = strconv.ParseInt(s, 10, 32)
			v = int32(n)
		case iceberg.Int64Type:
			v, err = strconv.ParseInt(s, 10, 64)
		case iceberg.StringType:
			v = s
		case iceberg.BooleanType:
			v, err = strconv.ParseBool(s)
		case iceberg.DateType:
			var d time.Time
			d, err = time.Parse(time.DateOnly, s)
			v = iceberg.Date(d.Unix() / 86400)
		default:
			err = fmt.Errorf("type %s", typ)
		}
		if err != nil {
			return nil, fmt.Errorf("partition value %q of %s: %w", s, pf.Name, err)
		}
		vals[pf.FieldID] = v
	}
	return vals, nil
}

// findSpec is the table's spec equal to spec (its fields' sources, transforms and names), if any.
func (m *metadata) findSpec(spec iceberg.PartitionSpec) (*iceberg.PartitionSpec, error) {
	return find(m, "partition-specs", func(s *iceberg.PartitionSpec) bool { return sameSpec(*s, spec) })
}

func sameSpec(a, b iceberg.PartitionSpec) bool {
	if a.NumFields() != b.NumFields() {
		return false
	}
	for i := range a.NumFields() {
		fa, fb := a.Field(i), b.Field(i)
		if fa.SourceID() != fb.SourceID() || fa.Name != fb.Name || fa.Transform.String() != fb.Transform.String() {
			return false
		}
	}
	return true
}

func (m *metadata) lastPartitionID() int { return int(m.number("last-partition-id", 999)) }

// withSpec is the metadata with spec as its default spec: the table's equal spec, or spec added
// with the next spec ID. It returns the spec with its ID.
func (m *metadata) withSpec(spec iceberg.PartitionSpec) (*metadata, iceberg.PartitionSpec, error) {
	found, err := m.findSpec(spec)
	if err != nil {
		return nil, spec, err
	}
	n := &metadata{raw: maps.Clone(m.raw), LastSequenceNumber: m.LastSequenceNumber}
	if found != nil { // its field IDs are the table's
		if int(m.number("default-spec-id", 0)) == found.ID() {
			return m, *found, nil
		}
		return n, *found, n.set(map[string]any{"default-spec-id": found.ID()})
	}
	specs, err := m.list("partition-specs")
	if err != nil {
		return nil, spec, err
	}
	next, err := m.nextID("partition-specs", "spec-id")
	if err != nil {
		return nil, spec, err
	}
	spec = iceberg.NewPartitionSpecID(next, specFields(spec)...)
	last := m.lastPartitionID()
	for _, f := range spec.Fields() {
		last = max(last, f.FieldID)
	}
	return n, spec, n.set(map[string]any{"partition-specs": append(specs, mustJSON(spec)), "default-spec-id": next, "last-partition-id": last})
}

func specFields(spec iceberg.PartitionSpec) []iceberg.PartitionField {
	var fs []iceberg.PartitionField
	for _, f := range spec.Fields() {
		fs = append(fs, f)
	}
	return fs
}
