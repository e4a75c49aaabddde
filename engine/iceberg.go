package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/pg2s3/pg2s3/lakehouse"
	"github.com/pg2s3/pg2s3/upload"
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

// icebergSince is the incremental run whose changes t's Iceberg table holds last, by its current
// snapshot's summary: prev (the base's latest run), an earlier run when the latest died or stopped
// before it committed this table, or none (a table no incremental run committed, or whose last
// commit was a full export: the run exports it whole).
func (p *Plan) icebergSince(ctx context.Context, t *Table, prev *RunState) (*RunState, error) {
	seen := t.icebergRun
	n, err := strconv.Atoi(seen)
	switch {
	case seen == "":
		return nil, nil
	case err != nil || prev == nil || n > prev.Run:
		return nil, &IcebergRunError{Table: t.iceberg.Namespace + "." + t.iceberg.Name, Holds: seen, Want: strconv.Itoa(runNumber(prev))}
	case n == prev.Run:
		return prev, nil
	}
	return readRun(ctx, p.store, p.base.Bucket, stateURL(p.base, n).Key, n)
}

func runNumber(s *RunState) int {
	if s == nil {
		return 0
	}
	return s.Run
}

// keyTable is t's table of the keys of its exported rows: t's key columns (as written, with
// their field IDs), under t's condition, in one chunk.
func (t *Table) keyTable(keys []string) *Table {
	kt := &Table{Table: t.Table, OID: t.OID, Select: t.Select, described: t.described, filter: t.filter,
		rangeScan: true, iceberg: t.iceberg, keysOf: t}
	for _, c := range t.Parquet {
		if slices.Contains(keys, c.Name) {
			kt.Parquet = append(kt.Parquet, c)
		}
	}
	return kt
}

// icebergChange says what the run does to t's Iceberg table.
func (t *Table) icebergChange() string {
	switch {
	case !t.merge:
		return "replaces the contents"
	case t.deletes == nil:
		return "appends the changed rows (no primary key: their earlier versions stay)"
	}
	return fmt.Sprintf("adds the changed rows, and deletes their earlier versions by %s (equality deletes)", strings.Join(t.iceberg.Keys(), ", "))
}

// templateOf is the key template of chunk c's objects: the run's, or its equality delete files'.
func (p *Plan) templateOf(c Chunk) string {
	if c.Table.keysOf != nil {
		return p.cfg.icebergData() + p.cfg.runToken + "-deletes-{chunk:05}-{split:03}.parquet"
	}
	return p.cfg.Template
}

// icebergCommitter commits each table's files as its Iceberg table's next snapshot, one table
// after another (the file-system layout has no commit of several tables). Once one table is
// committed the run counts: its files are the table's. An incremental run counts from its state,
// written before: a table it does not commit, the next run catches up (icebergSince).
type icebergCommitter struct{ r *run }

func (c icebergCommitter) commit(ctx context.Context, m *Manifest) error {
	summary := icebergSummary(m, c.r.cfg.runToken)
	if inc := c.r.inc; inc != nil {
		summary[incrementalRunKey] = strconv.Itoa(inc.Run)
	}
	var done []string
	for i := range m.Tables {
		mt := &m.Tables[i]
		t := c.r.tableNamed(mt.Name)
		if t == nil || t.iceberg == nil {
			continue
		}
		ch := lakehouse.Change{Replace: !t.merge, Files: icebergFiles(m, mt.Name, false), Deletes: icebergFiles(m, mt.Name, true), Check: c.check(t)}
		it, err := commitIceberg(ctx, t.iceberg, ch, summary)
		if it == nil {
			if len(done) == 0 && c.r.inc == nil {
				return err // nothing is committed: the run fails, and its files are deleted
			}
			return &IcebergCommitError{Committed: done, Table: mt.Name, Err: err, Left: c.deleteAfter(ctx, m, i)}
		}
		mt.Iceberg = it
		done = append(done, mt.Name)
		if err != nil {
			return &IcebergCommitError{Committed: done, Table: mt.Name, Err: err, Left: c.deleteAfter(ctx, m, i+1)}
		}
	}
	return nil
}

// The keys of an Iceberg snapshot's summary that name the run that committed it: its token, and
// an incremental run's number.
const (
	runTokenKey       = "pg2s3.run"
	incrementalRunKey = "pg2s3.incremental-run"
)

// errCommitted is a table an earlier attempt of the run committed already.
var errCommitted = errors.New("an earlier attempt of this run committed the table")

// commitIceberg commits ch to t as the run summary names (its token), once: a table whose current
// snapshot that token made already holds it (an attempt that committed, then failed: a resume, a
// merge run again), and is not committed twice. It returns the table's commit when the table
// holds the run's files, with a HintError after a commit whose version hint was not written; nil
// and the error when it does not.
func commitIceberg(ctx context.Context, t *lakehouse.Table, ch lakehouse.Change, summary map[string]string) (*IcebergTable, error) {
	check := ch.Check
	ch.Check = func(cur map[string]string) error {
		if cur[runTokenKey] == summary[runTokenKey] {
			return errCommitted
		}
		if check != nil {
			return check(cur)
		}
		return nil
	}
	got, err := t.Commit(ctx, ch, summary)
	if errors.Is(err, errCommitted) {
		got, err = t.Current(), nil
	}
	var hint *lakehouse.HintError
	if err != nil && !errors.As(err, &hint) {
		return nil, err
	}
	return &IcebergTable{Metadata: got.Metadata, Version: got.Version, Snapshot: got.Snapshot}, err
}

// check is the check of an incremental run's commit of t against the table's current snapshot:
// the table must still hold the run the plan found (its changes since that run are what this run
// adds). Another run that committed it since (a later one, which had this run's changes too)
// stops it.
func (c icebergCommitter) check(t *Table) func(map[string]string) error {
	if c.r.inc == nil {
		return nil
	}
	return func(cur map[string]string) error {
		if now := cur[incrementalRunKey]; now != t.icebergRun {
			return &IcebergRunError{Table: t.iceberg.Namespace + "." + t.iceberg.Name, Holds: now, Want: t.icebergRun}
		}
		return nil
	}
}

// icebergSummary is what an Iceberg snapshot's summary says of the run that committed it.
func icebergSummary(m *Manifest, token string) map[string]string {
	return map[string]string{
		"pg2s3.pg-snapshot":      m.Snapshot.ID,
		"pg2s3.pg-snapshot-time": m.Snapshot.Time,
		"pg2s3.pg-version":       m.Snapshot.ServerVersion,
		runTokenKey:              token,
	}
}

// mergeIceberg commits, for the merge of a sharded run's manifests, each table the shards planned
// as an Iceberg table, with every shard's files, in one snapshot per table. A merge run again
// after it committed a table does not commit it twice (the token is the run's snapshot's).
func mergeIceberg(ctx context.Context, client *s3.Client, m *Manifest) error {
	token := "shards-" + m.Snapshot.ID
	var done []string
	for i := range m.Tables {
		mt := &m.Tables[i]
		if mt.IcebergPlan == nil {
			continue
		}
		t, err := lakehouse.OpenPlanned(ctx, client, upload.Options{}, *mt.IcebergPlan)
		if err == nil {
			var it *IcebergTable
			ch := lakehouse.Change{Replace: true, Files: icebergFiles(m, mt.Name, false)}
			if it, err = commitIceberg(ctx, t, ch, icebergSummary(m, token)); it != nil {
				mt.Iceberg, mt.IcebergPlan = it, nil
				done = append(done, mt.Name)
			}
		}
		if err != nil {
			return &IcebergCommitError{Committed: done, Table: mt.Name, Err: err}
		}
	}
	return nil
}

// icebergFiles are the data files of the manifest's table name, or its equality delete files.
func icebergFiles(m *Manifest, name string, deletes bool) []lakehouse.File {
	var files []lakehouse.File
	for _, o := range m.Objects {
		if o.Table == name && o.EqualityDeletes == deletes {
			f := lakehouse.File{URL: o.URL, Rows: o.Rows, Bytes: o.Bytes, Columns: o.ColumnStats}
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
		for _, f := range append(icebergFiles(m, mt.Name, false), icebergFiles(m, mt.Name, true)...) {
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
