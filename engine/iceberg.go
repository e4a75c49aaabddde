package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/pg2s3/pg2s3/lakehouse"
)

// newRunToken names a run's files where later runs write beside them: its start, and chance.
func newRunToken() string {
	b := make([]byte, 4)
	rand.Read(b)
	return time.Now().UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b)
}

// icebergNamespace is the namespace of t's Iceberg table.
func (c *Config) icebergNamespace(t *Table) string {
	if c.Namespace != "" {
		return c.Namespace
	}
	return t.Schema
}

// openIcebergTables reads each table's Iceberg table (or prepares a new one) before anything is
// exported: a column type change Iceberg does not allow is refused now, and the field IDs the
// files carry are those of the schema the run commits.
func (p *Plan) openIcebergTables(ctx context.Context) error {
	for _, t := range p.tables {
		ns := p.cfg.icebergNamespace(t)
		loc := p.cfg.To.S3.Join(keyName(ns) + "/" + keyName(t.Name) + "/")
		var parts []lakehouse.PartitionField // by the columns' names in the files
		for _, level := range p.cfg.PartitionBy {
			source, transform := level.Column, "identity"
			if level.Transform != "" {
				source, transform = level.Source, level.Transform
			}
			for _, c := range t.Parquet {
				if strings.ToLower(c.Name) == source {
					parts = append(parts, lakehouse.PartitionField{Name: level.Name, Source: c.Name, Transform: transform})
				}
			}
		}
		key, err := p.primaryKey(ctx, t)
		if err != nil {
			return err
		}
		for i := range t.Parquet { // the key's columns are never NULL: the table's identifier fields
			t.Parquet[i].Required = slices.Contains(key, t.Parquet[i].Name)
		}
		it, err := lakehouse.Open(ctx, p.client, p.cfg.sideOptions(), loc, ns, t.Name, t.Parquet, parts)
		if err != nil {
			return err
		}
		t.iceberg = it
		for i, c := range t.Parquet { // json is written as a string now
			t.Columns[i].Parquet = c.ParquetType()
		}
	}
	return nil
}

// icebergCommitter commits each table's files as its Iceberg table's next snapshot, one table
// after another (the file-system layout has no commit of several tables). Once one table is
// committed the run counts: its files are the table's.
type icebergCommitter struct{ r *run }

func (c icebergCommitter) commit(ctx context.Context, m *Manifest) error {
	summary := map[string]string{
		"pg2s3.pg-snapshot":      m.Snapshot.ID,
		"pg2s3.pg-snapshot-time": m.Snapshot.Time,
		"pg2s3.pg-version":       m.Snapshot.ServerVersion,
		"pg2s3.run":              c.r.cfg.runToken,
	}
	var done []string
	for i := range m.Tables {
		mt := &m.Tables[i]
		t := c.r.tableNamed(mt.Name)
		if t == nil || t.iceberg == nil {
			continue
		}
		got, err := t.iceberg.Commit(ctx, c.files(m, mt.Name), summary)
		var hint *lakehouse.HintError
		if err != nil && !errors.As(err, &hint) {
			if len(done) == 0 {
				return err // nothing is committed: the run fails, and its files are deleted
			}
			return &IcebergCommitError{Committed: done, Table: mt.Name, Err: err, Left: c.deleteAfter(ctx, m, i)}
		}
		mt.Iceberg = &IcebergTable{Metadata: got.Metadata, Version: got.Version, Snapshot: got.Snapshot}
		done = append(done, mt.Name)
		if err != nil {
			return &IcebergCommitError{Committed: done, Table: mt.Name, Err: err, Left: c.deleteAfter(ctx, m, i+1)}
		}
	}
	return nil
}

// files are the data files of the manifest's table name.
func (c icebergCommitter) files(m *Manifest, name string) []lakehouse.File {
	var files []lakehouse.File
	for _, o := range m.Objects {
		if o.Table == name {
			f := lakehouse.File{URL: o.URL, Rows: o.Rows, Bytes: o.Bytes, Columns: o.stats}
			for _, v := range o.Partition {
				f.Partition = append(f.Partition, v.Value)
			}
			files = append(files, f)
		}
	}
	return files
}

// deleteAfter deletes the files of the manifest's tables from the i-th on, which no commit names
// (the run stopped before them), and returns those it could not delete.
func (c icebergCommitter) deleteAfter(ctx context.Context, m *Manifest, i int) []string {
	var left []string
	for _, mt := range m.Tables[i:] {
		for _, f := range c.files(m, mt.Name) {
			if err := c.r.delete(ctx, Object{URL: f.URL}); err != nil {
				left = append(left, f.URL)
			}
		}
	}
	return left
}

func (c icebergCommitter) undo(context.Context) error { return nil }
func (c icebergCommitter) counts() bool               { return true }
func (c icebergCommitter) String() string {
	var names []string
	for _, t := range c.r.tables {
		if t.iceberg != nil {
			names = append(names, fmt.Sprintf("%s.%s (version %d)", t.iceberg.Namespace, t.iceberg.Name, t.iceberg.Version+1))
		}
	}
	return "the Iceberg tables " + strings.Join(names, ", ")
}

// tableNamed is the run's table named name (schema.table).
func (r *run) tableNamed(name string) *Table {
	for _, t := range r.tables {
		if t.String() == name {
			return t
		}
	}
	return nil
}
