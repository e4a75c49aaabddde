package lakehouse

import (
	"encoding/json"
	"fmt"
	"maps"
	"strconv"
	"time"

	"github.com/apache/iceberg-go"
)

// partitionSpec is the spec of a table partitioned by the columns named (identity transforms), with
// field IDs from 1000 on, after lastID, the table's last partition field ID (999 for none).
func partitionSpec(schema *iceberg.Schema, columns []string, lastID int) (iceberg.PartitionSpec, error) {
	fields := make([]iceberg.PartitionField, len(columns))
	for i, name := range columns {
		f, ok := schema.FindFieldByName(name)
		if !ok {
			return iceberg.PartitionSpec{}, fmt.Errorf("partition column %q is not a column of the table", name)
		}
		switch f.Type.(type) {
		case iceberg.Int32Type, iceberg.Int64Type, iceberg.StringType, iceberg.DateType, iceberg.BooleanType:
		default:
			return iceberg.PartitionSpec{}, fmt.Errorf("partition column %q is of type %s: identity partitions are written for int, long, string, date and boolean columns", name, f.Type)
		}
		fields[i] = iceberg.PartitionField{SourceIDs: []int{f.ID}, FieldID: lastID + 1 + i, Name: name, Transform: iceberg.IdentityTransform{}}
	}
	return iceberg.NewPartitionSpec(fields...), nil
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
		switch typ.(type) {
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
	specs, err := m.list("partition-specs")
	if err != nil {
		return nil, err
	}
	for _, b := range specs {
		var s iceberg.PartitionSpec
		if err := json.Unmarshal(b, &s); err != nil {
			return nil, fmt.Errorf("metadata partition-specs: %w", err)
		}
		if sameSpec(s, spec) {
			return &s, nil
		}
	}
	return nil, nil
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

func (m *metadata) lastPartitionID() int {
	id := 999
	json.Unmarshal(m.raw["last-partition-id"], &id)
	return id
}

// withSpec is the metadata with spec as its default spec: the table's equal spec, or spec added
// with the next spec ID. It returns the spec with its ID.
func (m *metadata) withSpec(spec iceberg.PartitionSpec) (*metadata, iceberg.PartitionSpec, error) {
	found, err := m.findSpec(spec)
	if err != nil {
		return nil, spec, err
	}
	n := &metadata{raw: maps.Clone(m.raw), LastSequenceNumber: m.LastSequenceNumber}
	if found != nil { // its field IDs are the table's
		var cur int
		json.Unmarshal(m.raw["default-spec-id"], &cur)
		if cur == found.ID() {
			return m, *found, nil
		}
		return n, *found, n.set(map[string]any{"default-spec-id": found.ID()})
	}
	specs, err := m.list("partition-specs")
	if err != nil {
		return nil, spec, err
	}
	next := 0
	for _, b := range specs {
		var s struct {
			ID int `json:"spec-id"`
		}
		json.Unmarshal(b, &s)
		next = max(next, s.ID+1)
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
