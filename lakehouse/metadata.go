package lakehouse

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strconv"

	"github.com/apache/iceberg-go"
	"github.com/google/uuid"
)

// metadata is a table's metadata file (format version 2), kept as read: pg2s3 changes the fields
// a commit changes (snapshots, refs, logs, sequence number) and leaves every other field as
// another writer left it. The schemas and specs inside are iceberg-go's. (iceberg-go's table
// package would do this too, but it costs every pg2s3 process 93 ms and 32 MB at start, for
// Substrait's extension tables, and 40 MB of binary.)
type metadata struct {
	raw                map[string]json.RawMessage
	LastSequenceNumber int64
}

// snapshot is one entry of the metadata's snapshots.
type snapshot struct {
	ID        int64             `json:"snapshot-id"`
	Parent    *int64            `json:"parent-snapshot-id,omitempty"`
	Sequence  int64             `json:"sequence-number"`
	Timestamp int64             `json:"timestamp-ms"`
	Manifests string            `json:"manifest-list"`
	Summary   map[string]string `json:"summary"`
	SchemaID  int               `json:"schema-id"`
}

func parseMetadata(b []byte) (*metadata, error) {
	m := &metadata{}
	if err := json.Unmarshal(b, &m.raw); err != nil {
		return nil, err
	}
	var version int
	if err := json.Unmarshal(m.raw["format-version"], &version); err != nil || version != 2 {
		return nil, fmt.Errorf("format version %s: pg2s3 writes Iceberg tables of format version 2", m.raw["format-version"])
	}
	if err := json.Unmarshal(m.raw["last-sequence-number"], &m.LastSequenceNumber); err != nil {
		return nil, fmt.Errorf("last-sequence-number: %w", err)
	}
	return m, nil
}

// newMetadata is a new, unpartitioned, unsorted table of schema s at location, with no snapshot.
func newMetadata(location string, s *iceberg.Schema) (*metadata, error) {
	m := &metadata{raw: map[string]json.RawMessage{}}
	err := m.set(map[string]any{
		"format-version":        2,
		"table-uuid":            uuid.NewString(),
		"location":              location,
		"last-sequence-number":  0,
		"last-updated-ms":       nowMillis(),
		"last-column-id":        s.HighestFieldID(),
		"current-schema-id":     s.ID,
		"schemas":               []*iceberg.Schema{s},
		"default-spec-id":       0,
		"partition-specs":       []any{map[string]any{"spec-id": 0, "fields": []any{}}},
		"last-partition-id":     999, // partition field IDs start at 1000
		"default-sort-order-id": 0,
		"sort-orders":           []any{map[string]any{"order-id": 0, "fields": []any{}}},
		"properties":            map[string]string{},
		"current-snapshot-id":   -1,
		"snapshots":             []any{},
		"snapshot-log":          []any{},
		"metadata-log":          []any{},
		"refs":                  map[string]any{},
	})
	return m, err
}

// set replaces the fields of vals.
func (m *metadata) set(vals map[string]any) error {
	for k, v := range vals {
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("metadata %s: %w", k, err)
		}
		m.raw[k] = b
	}
	return nil
}

// list reads the field k, a list, as raw entries (none when it is missing).
func (m *metadata) list(k string) ([]json.RawMessage, error) {
	var l []json.RawMessage
	if b, ok := m.raw[k]; ok && string(b) != "null" {
		if err := json.Unmarshal(b, &l); err != nil {
			return nil, fmt.Errorf("metadata %s: %w", k, err)
		}
	}
	return l, nil
}

// find is the first entry of the list field k that match accepts, decoded; nil for none.
func find[T any](m *metadata, k string, match func(*T) bool) (*T, error) {
	entries, err := m.list(k)
	if err != nil {
		return nil, err
	}
	for _, b := range entries {
		v := new(T)
		if err := json.Unmarshal(b, v); err != nil {
			return nil, fmt.Errorf("metadata %s: %w", k, err)
		}
		if match(v) {
			return v, nil
		}
	}
	return nil, nil
}

// nextID is one more than the largest id field of the list field k's entries (0 for none): the
// ID of an entry added to it.
func (m *metadata) nextID(k, id string) (int, error) {
	entries, err := m.list(k)
	if err != nil {
		return 0, err
	}
	next := 0
	for _, b := range entries {
		var fields map[string]json.RawMessage
		var n int
		if err := json.Unmarshal(b, &fields); err != nil || json.Unmarshal(fields[id], &n) != nil {
			return 0, fmt.Errorf("metadata %s: an entry without its %s", k, id)
		}
		next = max(next, n+1)
	}
	return next, nil
}

// number is the integer field k, or def when it is missing or not a number.
func (m *metadata) number(k string, def int64) int64 {
	n := def
	if json.Unmarshal(m.raw[k], &n) != nil {
		return def
	}
	return n
}

func (m *metadata) currentSchema() (*iceberg.Schema, error) {
	var id int
	if err := json.Unmarshal(m.raw["current-schema-id"], &id); err != nil {
		return nil, fmt.Errorf("current-schema-id: %w", err)
	}
	s, err := find(m, "schemas", func(s *iceberg.Schema) bool { return s.ID == id })
	if err == nil && s == nil {
		err = fmt.Errorf("the current schema %d is not among the metadata's schemas", id)
	}
	return s, err
}

func (m *metadata) currentSchemaID() int { return int(m.number("current-schema-id", 0)) }
func (m *metadata) lastColumnID() int    { return int(m.number("last-column-id", 0)) }

// withSchema is the metadata with s as its current schema (added, with the next schema ID, unless
// the current one has the same fields) and lastID as its last column ID.
func (m *metadata) withSchema(s *iceberg.Schema, lastID int) (*metadata, error) {
	cur, err := m.currentSchema()
	if err != nil {
		return nil, err
	}
	if sameSchema(cur, s) {
		return m, nil
	}
	schemas, err := m.list("schemas")
	if err != nil {
		return nil, err
	}
	next, err := m.nextID("schemas", "schema-id")
	if err != nil {
		return nil, err
	}
	n := &metadata{raw: maps.Clone(m.raw), LastSequenceNumber: m.LastSequenceNumber}
	return n, n.set(map[string]any{
		"schemas":           append(schemas, mustJSON(iceberg.NewSchemaWithIdentifiers(next, s.IdentifierFieldIDs, s.Fields()...))),
		"current-schema-id": next,
		"last-column-id":    max(lastID, m.lastColumnID()),
	})
}

// currentSnapshotID is the current snapshot's ID, or 0.
func (m *metadata) currentSnapshotID() int64 { return max(m.number("current-snapshot-id", 0), 0) }

// currentSnapshot is the current snapshot, or nil.
func (m *metadata) currentSnapshot() (*snapshot, error) {
	id := m.currentSnapshotID()
	if id == 0 {
		return nil, nil
	}
	s, err := find(m, "snapshots", func(s *snapshot) bool { return s.ID == id })
	if err == nil && s == nil {
		err = errors.New("the current snapshot is not among the metadata's snapshots")
	}
	return s, err
}

// summaryCounts are a snapshot's data files, records and bytes.
type summaryCounts struct{ files, records, bytes int64 }

func (c *summaryCounts) add(f File) {
	c.files, c.records, c.bytes = c.files+1, c.records+f.Rows, c.bytes+f.Bytes
}

// summary is the summary of a snapshot that replaces the current one's files with added ones, or
// (replace false) adds data files and equality delete files to them: Iceberg's counts (the totals
// from the current snapshot's), and extra.
func (m *metadata) summary(replace bool, added, deletes summaryCounts, extra map[string]string) map[string]string {
	s := maps.Clone(extra)
	if s == nil {
		s = map[string]string{}
	}
	put := func(k string, v int64) { s[k] = strconv.FormatInt(v, 10) }
	var total map[string]string // the current snapshot's summary, where the totals go on from
	if cur, err := m.currentSnapshot(); err == nil && cur != nil {
		total = cur.Summary
	}
	was := func(k string) int64 {
		if replace {
			return 0
		}
		n, _ := strconv.ParseInt(total[k], 10, 64)
		return n
	}
	s["operation"] = "append"
	switch {
	case deletes.files > 0:
		s["operation"] = "overwrite" // rows replaced, as a merge-on-read MERGE writes them
	case replace && total != nil:
		s["operation"] = "overwrite"
		for from, to := range map[string]string{"total-data-files": "deleted-data-files", "total-records": "deleted-records", "total-files-size": "removed-files-size"} {
			if v, ok := total[from]; ok {
				s[to] = v
			}
		}
	}
	put("added-data-files", added.files)
	put("added-records", added.records)
	put("added-files-size", added.bytes+deletes.bytes)
	if deletes.files > 0 {
		put("added-delete-files", deletes.files)
		put("added-equality-delete-files", deletes.files)
		put("added-equality-deletes", deletes.records)
	}
	put("total-data-files", was("total-data-files")+added.files)
	put("total-records", was("total-records")+added.records)
	put("total-files-size", was("total-files-size")+added.bytes+deletes.bytes)
	put("total-delete-files", was("total-delete-files")+deletes.files)
	put("total-position-deletes", was("total-position-deletes"))
	put("total-equality-deletes", was("total-equality-deletes")+deletes.records)
	return s
}

// withSnapshot is the metadata after snap became the current snapshot of the main branch;
// prevLocation is the metadata file it replaces ("" for a new table's first).
func (m *metadata) withSnapshot(snap snapshot, prevLocation string) (*metadata, error) {
	next := &metadata{raw: maps.Clone(m.raw), LastSequenceNumber: snap.Sequence}
	now := nowMillis()
	snap.Timestamp = now
	snaps, err := m.list("snapshots")
	if err != nil {
		return nil, err
	}
	snapLog, err := m.list("snapshot-log")
	if err != nil {
		return nil, err
	}
	metaLog, err := m.list("metadata-log")
	if err != nil {
		return nil, err
	}
	var refs map[string]json.RawMessage
	if b, ok := m.raw["refs"]; ok {
		if err := json.Unmarshal(b, &refs); err != nil {
			return nil, fmt.Errorf("metadata refs: %w", err)
		}
	}
	if refs == nil {
		refs = map[string]json.RawMessage{}
	}
	main, _ := json.Marshal(map[string]any{"snapshot-id": snap.ID, "type": "branch"})
	refs["main"] = main
	vals := map[string]any{
		"snapshots":            append(snaps, mustJSON(snap)),
		"snapshot-log":         append(snapLog, mustJSON(map[string]int64{"timestamp-ms": now, "snapshot-id": snap.ID})),
		"current-snapshot-id":  snap.ID,
		"refs":                 refs,
		"last-sequence-number": snap.Sequence,
		"last-updated-ms":      now,
	}
	if prevLocation != "" {
		vals["metadata-log"] = append(metaLog, mustJSON(map[string]any{"timestamp-ms": m.number("last-updated-ms", 0), "metadata-file": prevLocation}))
	}
	return next, next.set(vals)
}

func (m *metadata) marshal() ([]byte, error) { return json.Marshal(m.raw) }

// mustJSON marshals a value that always marshals (pg2s3's own structs and maps).
func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
