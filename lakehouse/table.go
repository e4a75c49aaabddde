package lakehouse

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/apache/iceberg-go"
	icebergio "github.com/apache/iceberg-go/io"
	"github.com/apache/iceberg-go/table"
	"github.com/aws/aws-sdk-go-v2/service/s3"

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
	meta   table.Metadata // the current metadata, or the new table's (not written until Commit)
	schema *iceberg.Schema
}

// File is a data file of a run: a Parquet object and what it holds.
type File struct {
	URL   string
	Rows  int64
	Bytes int64
}

// Open reads the table at location, or prepares a new one with the columns' schema, and gives each
// column the field IDs the table's schema has for it (columnar writes them into the Parquet
// files). A table whose current schema is not the columns' is refused: schema evolution is not
// written yet.
func Open(ctx context.Context, client *s3.Client, opts upload.Options, location upload.URL, namespace, name string, cols []columnar.Column) (*Table, error) {
	t := &Table{Location: location, Namespace: namespace, Name: name, io: s3IO{ctx: ctx, client: client, opts: opts}}
	want, err := Schema(cols)
	if err != nil {
		return nil, fmt.Errorf("table %s.%s: %w", namespace, name, err)
	}
	if err := t.load(ctx); err != nil {
		return nil, err
	}
	if t.meta == nil {
		if t.meta, err = table.NewMetadata(want, iceberg.UnpartitionedSpec, table.UnsortedSortOrder, t.root(),
			iceberg.Properties{table.PropertyFormatVersion: "2"}); err != nil {
			return nil, fmt.Errorf("table %s.%s: %w", namespace, name, err)
		}
	}
	t.schema = t.meta.CurrentSchema()
	if !sameColumns(t.schema, want) {
		return nil, &SchemaChangeError{Table: namespace + "." + name, Version: t.Version, Had: t.schema.String(), Want: want.String()}
	}
	for i := range cols {
		f, _ := t.schema.FindFieldByName(cols[i].Name)
		cols[i].FieldID = f.ID
		if l, ok := f.Type.(*iceberg.ListType); ok {
			cols[i].ElementID = l.ElementID
		}
		cols[i].JSONAsString = true
	}
	if s := t.meta.CurrentSnapshot(); s != nil {
		t.Snapshot = s.SnapshotID
	}
	return t, nil
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
	if t.meta, err = table.ParseMetadataBytes(b); err != nil {
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
const commitAttempts = 4

// Commit replaces the table's contents with files, in one Iceberg snapshot whose summary holds
// summary. The next metadata file is written only if no other writer wrote that version first
// (If-None-Match); the loser reads the table again and commits on top, a few times, then fails
// with nothing changed. The version hint is written after the metadata file.
func (t *Table) Commit(ctx context.Context, files []File, summary map[string]string) (Committed, error) {
	var err error
	for range commitAttempts {
		var c Committed
		c, err = t.commitOnce(ctx, files, summary)
		if err == nil || !errors.Is(err, table.ErrCommitFailed) {
			return c, err
		}
		if lerr := t.load(ctx); lerr != nil {
			return Committed{}, lerr
		}
		if t.meta == nil || !sameColumns(t.meta.CurrentSchema(), t.schema) {
			return Committed{}, fmt.Errorf("table %s.%s changed under the run (another writer): %w", t.Namespace, t.Name, err)
		}
	}
	return Committed{}, fmt.Errorf("table %s.%s: %d attempts lost to other writers: %w", t.Namespace, t.Name, commitAttempts, err)
}

func (t *Table) commitOnce(ctx context.Context, files []File, summary map[string]string) (Committed, error) {
	cat := &fileCatalog{t: t}
	io := t.io
	io.ctx = ctx
	loc := ""
	if t.Version > 0 {
		loc = t.metadataURL(t.Version)
	}
	tbl := table.New([]string{t.Namespace, t.Name}, t.meta, loc, func(context.Context) (icebergio.IO, error) { return io, nil }, cat)
	var old []iceberg.DataFile
	if s := tbl.CurrentSnapshot(); s != nil {
		manifests, err := s.Manifests(io)
		if err != nil {
			return Committed{}, fmt.Errorf("reading the table's manifests: %w", err)
		}
		for _, m := range manifests {
			entries, err := m.FetchEntries(io, true)
			if err != nil {
				return Committed{}, fmt.Errorf("reading manifest %s: %w", m.FilePath(), err)
			}
			for _, e := range entries {
				old = append(old, e.DataFile())
			}
		}
	}
	add := make([]iceberg.DataFile, 0, len(files))
	for _, f := range files {
		b, err := iceberg.NewDataFileBuilder(*iceberg.UnpartitionedSpec, iceberg.EntryContentData, f.URL, iceberg.ParquetFile, nil, nil, nil, f.Rows, f.Bytes)
		if err != nil {
			return Committed{}, err
		}
		add = append(add, b.Build())
	}
	tx := tbl.NewTransaction()
	var err error
	if len(old) > 0 {
		err = tx.ReplaceDataFilesWithDataFiles(ctx, old, add, summary)
	} else {
		err = tx.AddDataFiles(ctx, add, summary)
	}
	if err != nil {
		return Committed{}, err
	}
	done, err := tx.Commit(ctx)
	if err != nil {
		return Committed{}, err
	}
	c := Committed{Version: cat.version, Metadata: done.MetadataLocation()}
	if s := done.CurrentSnapshot(); s != nil {
		c.Snapshot = s.SnapshotID
	}
	return c, cat.hintErr
}

// fileCatalog commits to the file-system layout: the next metadata file, written only if absent,
// then the version hint.
type fileCatalog struct {
	t       *Table
	version int
	hintErr error // the commit happened, but the hint still names the version before
}

func (c *fileCatalog) LoadTable(ctx context.Context, _ table.Identifier) (*table.Table, error) {
	return nil, fmt.Errorf("%w: pg2s3 reads the table again itself", table.ErrCommitFailed)
}

func (c *fileCatalog) CommitTable(ctx context.Context, _ table.Identifier, reqs []table.Requirement, updates []table.Update) (table.Metadata, string, error) {
	t := c.t
	for _, r := range reqs { // a new table's are checked against the metadata it is made from
		if err := r.Validate(t.meta); err != nil {
			return nil, "", fmt.Errorf("%w: %w", table.ErrCommitFailed, err)
		}
	}
	prev := ""
	if t.Version > 0 {
		prev = t.metadataURL(t.Version)
	}
	updated, err := table.UpdateTableMetadata(t.meta, updates, prev)
	if err != nil {
		return nil, "", err
	}
	b, err := json.Marshal(updated)
	if err != nil {
		return nil, "", err
	}
	next := t.Version + 1
	loc := t.metadataURL(next)
	if err := t.io.putIfAbsent(ctx, loc, b); err != nil {
		var ee *upload.ExistsError
		if errors.As(err, &ee) {
			return nil, "", fmt.Errorf("%w: another writer committed version %d of %s.%s first", table.ErrCommitFailed, next, t.Namespace, t.Name)
		}
		return nil, "", err
	}
	c.version = next
	if err := t.io.put(ctx, t.hintURL(), []byte(strconv.Itoa(next))); err != nil {
		c.hintErr = &HintError{Table: t.Namespace + "." + t.Name, Version: next, Err: err}
	}
	t.meta, t.Version = updated, next
	return updated, loc, nil
}
