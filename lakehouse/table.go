package lakehouse

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/apache/iceberg-go"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/google/uuid"

	"github.com/pg2s3/pg2s3/columnar"
	"github.com/pg2s3/pg2s3/upload"
)

// Table is an Iceberg table in the file-system layout (metadata/v<N>.metadata.json and
// metadata/version-hint.text under its location), as one run found it when it was planned.
type Table struct {
	Location  upload.URL // the table's folder: data/ and metadata/ are under it
	Namespace string
	Name      string
	// Version is the current metadata version (0: there is no table yet), and Snapshot its
	// current snapshot's ID (0: none).
	Version  int
	Snapshot int64

	io     s3IO
	meta   *metadata        // the current metadata, or the new table's (not written until Commit)
	want   *iceberg.Schema  // the export's columns
	parts  []PartitionField // how the table is partitioned
	schema *iceberg.Schema  // the schema the run writes: the current one, or how it evolves
	lastID int              // the table's last column ID, with the run's new columns
}

// File is a data file of a run: a Parquet object and what it holds.
type File struct {
	URL     string
	Rows    int64
	Bytes   int64
	Columns []columnar.ColumnStats // for the manifest's column metrics
	// Partition is the file's value of each partition column, in PostgreSQL's text form (nil for
	// NULL).
	Partition []*string
}

// Open reads the table at location, or prepares a new one with the columns' schema, and gives each
// column the field IDs the table's schema has for it (columnar writes them into the Parquet
// files). A table whose columns differ evolves (see evolve), when the run commits.
func Open(ctx context.Context, client *s3.Client, opts upload.Options, location upload.URL, namespace, name string,
	cols []columnar.Column, partitionBy []PartitionField) (*Table, error) {
	want, err := Schema(cols)
	if err != nil {
		return nil, fmt.Errorf("table %s.%s: %w", namespace, name, err)
	}
	t, err := open(ctx, client, opts, location, namespace, name, want, partitionBy)
	if err != nil {
		return nil, err
	}
	for i := range cols {
		f, _ := t.schema.FindFieldByName(cols[i].Name)
		cols[i].FieldID, cols[i].Required = f.ID, f.Required
		if l, ok := f.Type.(*iceberg.ListType); ok {
			cols[i].ElementID = l.ElementID
		}
		cols[i].JSONAsString = true
	}
	t.Snapshot = t.meta.currentSnapshotID()
	return t, nil
}

// open reads the table at location, or prepares a new one of schema want, and evolves its schema
// to want's columns.
func open(ctx context.Context, client *s3.Client, opts upload.Options, location upload.URL, namespace, name string,
	want *iceberg.Schema, partitionBy []PartitionField) (*Table, error) {
	t := &Table{Location: location, Namespace: namespace, Name: name, io: s3IO{client: client, opts: opts}, parts: partitionBy}
	if err := t.load(ctx); err != nil {
		return nil, err
	}
	t.want = want
	if t.meta == nil {
		var err error
		if t.meta, err = newMetadata(t.root(), want); err != nil {
			return nil, err
		}
	}
	if err := t.evolve(); err != nil {
		return nil, err
	}
	if _, err := partitionSpec(t.schema, t.parts, t.meta.lastPartitionID()); err != nil {
		return nil, fmt.Errorf("table %s.%s: %w", namespace, name, err)
	}
	return t, nil
}

// Planned is a table as a run planned it: where it is, the schema its files carry (field IDs
// included) and its partition fields. Processes that write a table's files apart (shards) record
// it, and the step that joins them commits the files with it (OpenPlanned).
type Planned struct {
	Location  string           `json:"location"`
	Namespace string           `json:"namespace"`
	Name      string           `json:"name"`
	Schema    json.RawMessage  `json:"schema"`
	Partition []PartitionField `json:"partition,omitempty"`
}

// Planned is the table as this run planned it.
func (t *Table) Planned() Planned {
	return Planned{Location: t.Location.String(), Namespace: t.Namespace, Name: t.Name, Schema: mustJSON(t.schema), Partition: t.parts}
}

// OpenPlanned reads the table p names, for a commit of files written with p's schema: the table
// must still evolve to exactly that schema (no other writer changed its columns since).
func OpenPlanned(ctx context.Context, client *s3.Client, opts upload.Options, p Planned) (*Table, error) {
	loc, err := upload.ParsePrefix(p.Location)
	if err != nil {
		return nil, err
	}
	var want iceberg.Schema
	if err := json.Unmarshal(p.Schema, &want); err != nil {
		return nil, fmt.Errorf("table %s.%s: the planned schema: %w", p.Namespace, p.Name, err)
	}
	t, err := open(ctx, client, opts, loc, p.Namespace, p.Name, &want, p.Partition)
	if err != nil {
		return nil, err
	}
	if !sameSchema(t.schema, &want) {
		return nil, fmt.Errorf("table %s.%s: its columns changed since its files were written (another writer): %w", p.Namespace, p.Name, errTaken)
	}
	return t, nil
}

// evolve sets the schema the run writes, from the table's current one and the export's columns.
func (t *Table) evolve() error {
	cur, err := t.meta.currentSchema()
	if err != nil {
		return fmt.Errorf("table %s.%s: %w", t.Namespace, t.Name, err)
	}
	t.schema, t.lastID, err = evolve(cur, t.meta.lastColumnID(), t.want, t.Namespace+"."+t.Name)
	return err
}

// root is the table's location without the trailing slash, as Iceberg's metadata holds it.
func (t *Table) root() string { return strings.TrimSuffix(t.Location.String(), "/") }

func (t *Table) metadataURL(version int) string {
	return fmt.Sprintf("%s/metadata/v%d.metadata.json", t.root(), version)
}

func (t *Table) hintURL() string { return t.root() + "/metadata/version-hint.text" }

// load reads the current metadata: the version the hint names, or a later one a writer committed
// without getting to the hint (the metadata file is the commit; the hint follows it).
func (t *Table) load(ctx context.Context) error {
	t.meta, t.Version = nil, 0
	hint, err := t.io.get(ctx, t.hintURL())
	if err != nil && !errors.Is(err, errNotFound) {
		return err
	}
	v := 0
	if err == nil {
		if v, err = strconv.Atoi(strings.TrimSpace(string(hint))); err != nil || v < 1 {
			return fmt.Errorf("%s: not a version number: %q", t.hintURL(), hint)
		}
	}
	for {
		ok, err := t.io.exists(ctx, t.metadataURL(v+1))
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		v++
	}
	if v == 0 {
		return nil
	}
	b, err := t.io.get(ctx, t.metadataURL(v))
	if err != nil {
		return err
	}
	if t.meta, err = parseMetadata(b); err != nil {
		return fmt.Errorf("%s: %w", t.metadataURL(v), err)
	}
	t.Version = v
	return nil
}

// Committed is what a commit made: the metadata version and the Iceberg snapshot.
type Committed struct {
	Version  int
	Snapshot int64
	Metadata string // the metadata file's URL
}

// commitAttempts bounds the re-reads after another writer committed first.
const commitAttempts = 5

// errTaken is a version another writer committed first.
var errTaken = errors.New("another writer committed this version first")

// Current is the table's current version and snapshot, as last read or committed.
func (t *Table) Current() Committed {
	return Committed{Version: t.Version, Snapshot: t.meta.currentSnapshotID(), Metadata: t.metadataURL(t.Version)}
}

// SnapshotSummary is the summary of the table's current snapshot, as Open found it (nil: none).
func (t *Table) SnapshotSummary() map[string]string {
	if s, err := t.meta.currentSnapshot(); err == nil && s != nil {
		return s.Summary
	}
	return nil
}

// Keys are the names of the table's identifier fields, as the run writes them (none: the table
// has no primary key, or a key column was optional before).
func (t *Table) Keys() []string {
	var keys []string
	for _, id := range t.schema.IdentifierFieldIDs {
		if f, ok := t.schema.FindFieldByID(id); ok {
			keys = append(keys, f.Name)
		}
	}
	return keys
}

// Change is what a commit does to the table's rows.
type Change struct {
	// Replace makes Files the table's contents; otherwise Files are added to the current ones,
	// and Deletes with them.
	Replace bool
	Files   []File
	// Deletes are equality delete files on the table's identifier fields (a Parquet file of the
	// key columns): they delete the rows of earlier snapshots with those keys, not Files' rows (of
	// the same sequence number). They are global (the unpartitioned spec): a row whose partition
	// changed is deleted where it was.
	Deletes []File
	// Check, when set, is called with the summary of the table's current snapshot (nil: none)
	// before each attempt: an error stops the commit.
	Check func(current map[string]string) error
}

// Commit makes ch the table's next snapshot, whose summary holds summary. The next metadata file
// is written only if no other writer wrote that version first (If-None-Match); the loser reads the
// table again and commits on top, a few times, then fails with nothing changed. The version hint
// is written after the metadata file.
func (t *Table) Commit(ctx context.Context, ch Change, summary map[string]string) (Committed, error) {
	var err error
	for range commitAttempts {
		var c Committed
		if c, err = t.commitOnce(ctx, ch, summary); !errors.Is(err, errTaken) {
			return c, err
		}
		if lerr := t.load(ctx); lerr != nil {
			return Committed{}, lerr
		}
		written := t.schema // the files carry its field IDs
		if err := t.evolve(); err != nil || !sameSchema(t.schema, written) {
			return Committed{}, fmt.Errorf("table %s.%s: its columns changed under the run (another writer): %w", t.Namespace, t.Name, errors.Join(err, errTaken))
		}
	}
	return Committed{}, fmt.Errorf("table %s.%s: %d attempts lost to other writers: %w", t.Namespace, t.Name, commitAttempts, err)
}

// commitOnce writes the snapshot's manifest and manifest list, then the next metadata file, if no
// other writer wrote it first (errTaken), then the hint.
func (t *Table) commitOnce(ctx context.Context, ch Change, summary map[string]string) (Committed, error) {
	cur, err := t.meta.currentSnapshot()
	if err != nil {
		return Committed{}, err
	}
	if ch.Check != nil {
		var s map[string]string
		if cur != nil {
			s = cur.Summary
		}
		if err := ch.Check(s); err != nil {
			return Committed{}, err
		}
	}
	id := snapshotID()
	seq := t.meta.LastSequenceNumber + 1
	meta, err := t.meta.withSchema(t.schema, t.lastID)
	if err != nil {
		return Committed{}, err
	}
	want, err := partitionSpec(t.schema, t.parts, meta.lastPartitionID())
	if err != nil {
		return Committed{}, err
	}
	meta, spec, err := meta.withSpec(want)
	if err != nil {
		return Committed{}, err
	}
	var kept []iceberg.ManifestFile // the current snapshot's manifests, which a merge keeps
	if !ch.Replace && cur != nil {
		if kept, err = t.manifests(ctx, cur); err != nil {
			return Committed{}, err
		}
	}
	var parent *int64
	if cur != nil {
		parent = &cur.ID
	}
	written, err := t.writeManifests(ctx, meta, spec, id, ch)
	if err != nil {
		return Committed{}, err
	}
	listURL, err := t.writeList(ctx, id, seq, parent, append(kept, written.files...))
	if err != nil {
		t.io.remove(ctx, written.urls...)
		return Committed{}, err
	}
	manifestURLs := append(written.urls, listURL)
	next := t.Version + 1
	loc := t.metadataURL(next)
	prev := ""
	if t.Version > 0 {
		prev = t.metadataURL(t.Version)
	}
	if meta, err = meta.withSnapshot(snapshot{ID: id, Parent: parent, Sequence: seq, Manifests: listURL,
		Summary: t.meta.summary(ch.Replace, written.added, written.deletes, summary), SchemaID: meta.currentSchemaID()}, prev); err != nil {
		return Committed{}, err
	}
	b, err := meta.marshal()
	if err != nil {
		return Committed{}, err
	}
	if err := t.io.putIfAbsent(ctx, loc, b); err != nil {
		var ee *upload.ExistsError
		if errors.As(err, &ee) {
			t.io.remove(ctx, manifestURLs...) // nothing names them
			return Committed{}, fmt.Errorf("version %d of %s.%s: %w", next, t.Namespace, t.Name, errTaken)
		}
		return Committed{}, err
	}
	t.meta, t.Version, t.Snapshot = meta, next, id
	c := Committed{Version: next, Snapshot: id, Metadata: loc}
	if err := t.io.put(ctx, t.hintURL(), []byte(strconv.Itoa(next))); err != nil {
		return c, &HintError{Table: t.Namespace + "." + t.Name, Version: next, Err: err}
	}
	return c, nil
}

// entries are the manifest entries of files, added by snapshot id with content, with their
// partition values and column metrics (an equality delete file's on the identifier fields), and
// what they add up to.
func (t *Table) entries(spec iceberg.PartitionSpec, id int64, content iceberg.ManifestEntryContent, files []File) ([]iceberg.ManifestEntry, summaryCounts, error) {
	entries := make([]iceberg.ManifestEntry, 0, len(files))
	var added summaryCounts
	for _, f := range files {
		pv, err := partitionValues(t.schema, spec, f.Partition)
		if err != nil {
			return nil, added, fmt.Errorf("%s: %w", f.URL, err)
		}
		b, err := iceberg.NewDataFileBuilder(spec, content, f.URL, iceberg.ParquetFile, pv, nil, nil, f.Rows, f.Bytes)
		if err != nil {
			return nil, added, err
		}
		if content == iceberg.EntryContentEqDeletes {
			b.EqualityFieldIDs(t.schema.IdentifierFieldIDs)
		}
		m := fileMetrics(t.schema, f.Columns)
		b.ColumnSizes(m.sizes).ValueCounts(m.values).NullValueCounts(m.nulls).LowerBoundValues(m.lower).UpperBoundValues(m.upper)
		entries = append(entries, iceberg.NewManifestEntry(iceberg.EntryStatusADDED, &id, nil, nil, b.Build()))
		added.add(f)
	}
	return entries, added, nil
}

// written is what writeManifests wrote: the manifests, their URLs, and the files they add.
type written struct {
	files          []iceberg.ManifestFile
	urls           []string
	added, deletes summaryCounts
}

// writeManifests writes snapshot id's manifests under metadata/ (Avro, by iceberg-go): one of
// ch's data files (always, for a replace, so that an empty table has one), and one of its
// equality delete files, in the table's unpartitioned spec.
func (t *Table) writeManifests(ctx context.Context, meta *metadata, spec iceberg.PartitionSpec, id int64, ch Change) (w written, err error) {
	token := uuid.NewString()
	defer func() {
		if err != nil {
			t.io.remove(ctx, w.urls...)
		}
	}()
	if len(ch.Files) > 0 || ch.Replace {
		entries, added, err := t.entries(spec, id, iceberg.EntryContentData, ch.Files)
		if err != nil {
			return w, err
		}
		w.added = added
		if err := t.writeManifest(ctx, &w, fmt.Sprintf("%s/metadata/%s-m0.avro", t.root(), token), spec, id, iceberg.ManifestContentData, entries); err != nil {
			return w, err
		}
	}
	if len(ch.Deletes) > 0 {
		if len(t.schema.IdentifierFieldIDs) == 0 {
			return w, fmt.Errorf("table %s.%s has no identifier fields (a primary key) to delete rows by", t.Namespace, t.Name)
		}
		global, err := meta.findSpec(*iceberg.UnpartitionedSpec)
		if err != nil || global == nil {
			return w, fmt.Errorf("table %s.%s has no unpartitioned spec for its equality deletes: %w", t.Namespace, t.Name, cmp.Or(err, errors.New("none")))
		}
		entries, deletes, err := t.entries(*global, id, iceberg.EntryContentEqDeletes, ch.Deletes)
		if err != nil {
			return w, err
		}
		w.deletes = deletes
		if err := t.writeManifest(ctx, &w, fmt.Sprintf("%s/metadata/%s-m1.avro", t.root(), token), *global, id, iceberg.ManifestContentDeletes, entries); err != nil {
			return w, err
		}
	}
	return w, nil
}

// writeManifest writes one manifest of entries to url, and adds it to w.
func (t *Table) writeManifest(ctx context.Context, w *written, url string, spec iceberg.PartitionSpec, id int64,
	content iceberg.ManifestContent, entries []iceberg.ManifestEntry) error {
	var buf bytes.Buffer
	mw, err := iceberg.NewManifestWriter(2, &buf, spec, t.schema, id, iceberg.WithManifestWriterContent(content))
	if err != nil {
		return fmt.Errorf("writing the manifest: %w", err)
	}
	for _, e := range entries {
		if err := mw.Add(e); err != nil {
			return fmt.Errorf("writing the manifest: %w", err)
		}
	}
	if err := mw.Close(); err != nil {
		return fmt.Errorf("writing the manifest: %w", err)
	}
	mf, err := mw.ToManifestFile(url, int64(buf.Len()))
	if err != nil {
		return fmt.Errorf("writing the manifest: %w", err)
	}
	if err := t.io.put(ctx, url, buf.Bytes()); err != nil {
		return err
	}
	w.files, w.urls = append(w.files, mf), append(w.urls, url)
	return nil
}

// writeList writes snapshot id's manifest list of files, and returns its URL.
func (t *Table) writeList(ctx context.Context, id, seq int64, parent *int64, files []iceberg.ManifestFile) (string, error) {
	var buf bytes.Buffer
	if err := iceberg.WriteManifestList(2, &buf, id, parent, &seq, 0, files); err != nil {
		return "", fmt.Errorf("writing the manifest list: %w", err)
	}
	list := fmt.Sprintf("%s/metadata/snap-%d-1-%s.avro", t.root(), id, uuid.NewString())
	return list, t.io.put(ctx, list, buf.Bytes())
}

// manifests reads snapshot s's manifest list.
func (t *Table) manifests(ctx context.Context, s *snapshot) ([]iceberg.ManifestFile, error) {
	b, err := t.io.get(ctx, s.Manifests)
	if err != nil {
		return nil, fmt.Errorf("the current snapshot's manifest list %s: %w", s.Manifests, err)
	}
	files, err := iceberg.ReadManifestList(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("the current snapshot's manifest list %s: %w", s.Manifests, err)
	}
	return files, nil
}

// snapshotID is a new snapshot's ID: positive and random, as Iceberg's writers make them.
func snapshotID() int64 {
	var b [8]byte
	rand.Read(b[:])
	return int64(binary.BigEndian.Uint64(b[:]) &^ (1 << 63))
}

func nowMillis() int64 { return time.Now().UnixMilli() }
