package engine

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pg2s3/pg2s3/copyout"
	"github.com/pg2s3/pg2s3/upload"
)

// Resumable runs (Config.Resume). A run to a prefix that is meant to be resumable keeps a journal
// under the prefix: _pg2s3/journal.json (the snapshot and the settings that decide the keys and
// the bytes), then one record per finished chunk, _pg2s3/chunks/schema.table-000003.json, listing
// that chunk's objects, written once its objects are all complete. A failed or killed attempt
// keeps its completed objects. The same command run again finds the journal and exports only the
// chunks without a record, in the same snapshot (held by `pg2s3 snapshot`, which outlives the
// attempts), then writes the manifest, conditionally, from every record: of two attempts that
// finish at once, one writes it and the other fails. After the manifest the journal is deleted, so
// the prefix holds what a one-shot run leaves.
//
// Chunks are the same in every attempt: every ordinary table is cut into ranges of the same pages
// (as shards do), whatever its size when an attempt measures it, and the objects of a chunk have
// the same keys and bytes each time it runs (the same snapshot, settings and split rules), so a
// chunk run again replaces its own objects.

const (
	journalKey   = StateFolder + "journal.json"
	chunksFolder = StateFolder + "chunks/"
)

// Journal is what the first attempt of a resumable run records.
type Journal struct {
	Snapshot string `json:"snapshot"`
	Started  string `json:"started"`
	Settings string `json:"settings"` // a digest of the settings that decide the objects' keys and bytes
	// Token is the run's token, in a table format's keys (every attempt writes the same keys).
	Token string `json:"run_token,omitempty"`
}

// ChunkRecord is a finished chunk of a resumable run.
type ChunkRecord struct {
	Table    string   `json:"table"`
	Chunk    int      `json:"chunk"`
	Range    string   `json:"range"`
	Snapshot string   `json:"snapshot"`
	Objects  []Object `json:"objects"`
}

// settingsDigest is a digest of what decides the objects' keys and bytes: a resume with other
// settings would mix two exports.
func (c Config) settingsDigest() string {
	s := fmt.Sprintf("%q|%q|%q|%q|%#v|%#v|%#v|%d|%d|%d|%#v|%v|%q", c.Tables, c.Schemas, c.Exclude, c.Template,
		c.CSV, c.Compress, c.Parquet, c.ChunkSize, c.MaxRows, c.MaxObjectSize, c.PartitionBy, c.DropPartitionColumns, c.Conn.Session.PGOptions())
	if len(c.PartitionBy) > 0 { // the routers' memory decides where a partition's objects end (routeLimit)
		s += fmt.Sprintf("|%d|%d|%d|%d", c.MemoryLimit, c.jobs(), c.Upload.Concurrency, c.Upload.PartSize)
	}
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:8])
}

func chunkRecordURL(prefix upload.URL, c Chunk) upload.URL {
	return prefix.Join(fmt.Sprintf("%s%s.%s-%06d.json", chunksFolder, keyName(c.Table.Schema), keyName(c.Table.Name), c.Index))
}

// getJSON reads the JSON object at u into v; found is false when there is none.
func getJSON(ctx context.Context, st upload.SmallObjects, u upload.URL, v any) (found bool, err error) {
	b, found, err := st.Read(ctx, u, 64<<20)
	if err != nil || !found {
		return false, err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("%s is not pg2s3's: %w", u, err)
	}
	return true, nil
}

// putNew writes body to u with o unless something is there (a conditional write); exists reports
// that case.
func putNew(ctx context.Context, st upload.SmallObjects, u upload.URL, body []byte, o upload.Options) (exists bool, err error) {
	o.NoClobber = true
	return st.Write(ctx, u, body, o)
}

// putOnce writes v as JSON to u unless something is there; exists reports that case.
func (r *run) putOnce(ctx context.Context, u upload.URL, v any) (exists bool, err error) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return false, err
	}
	return putNew(ctx, r.store, u, b, r.cfg.sideOptions())
}

// loadJournal reads the journal of a resumable run, inside the attempt's snapshot: it checks that
// the snapshot and the settings are the run's, and takes the finished chunks out of the plan.
func (p *Plan) loadJournal(ctx context.Context, j Journal) error {
	prefix := *p.cfg.To.S3
	p.resuming = true
	if j.Settings != p.cfg.settingsDigest() {
		return &ConfigError{Name: "Resume", Value: prefix.String(), Reason: "the run was started with other settings (tables, key template, " +
			"format, compression, chunk or split sizes, partitions, and with partitions the jobs and memory): resume it with the same command line"}
	}
	if j.Snapshot != p.snap.ID && !p.cfg.ResumeNewSnapshot {
		return &ConfigError{Name: "Resume", Value: prefix.String(), Reason: fmt.Sprintf("the run was started in snapshot %s, not %s: "+
			"resume it in its own snapshot (Config.Snapshot %s), or give Config.ResumeNewSnapshot for data that does not change", j.Snapshot, p.snap.ID, j.Snapshot)}
	}
	records := map[string]ChunkRecord{}
	var readErr error
	err := p.store.List(ctx, prefix.Join(chunksFolder), "list the run's finished chunks", func(k string) bool {
		var rec ChunkRecord
		if _, readErr = getJSON(ctx, p.store, upload.URL{Bucket: prefix.Bucket, Key: k}, &rec); readErr != nil {
			return false
		}
		records[k] = rec
		return true
	})
	if err = cmp.Or(err, readErr); err != nil {
		return err
	}
	left := p.chunks[:0]
	for _, c := range p.chunks {
		rec, ok := records[chunkRecordURL(prefix, c).Key]
		if ok && rec.Table == c.Table.String() && rec.Chunk == c.Index && rec.Range == c.Range() {
			p.resumed = append(p.resumed, rec.Objects...)
			p.resumedChunks++
			continue
		}
		left = append(left, c)
	}
	p.chunks = left
	return nil
}

// startJournal begins the first attempt: it writes the journal (a concurrent first attempt may
// have written the same).
func (r *run) startJournal(ctx context.Context) error {
	if r.resuming {
		return nil
	}
	j := Journal{Snapshot: r.snap.ID, Started: time.Now().UTC().Format(time.RFC3339), Settings: r.cfg.settingsDigest(), Token: r.cfg.runToken}
	if _, err := r.putOnce(ctx, r.cfg.To.S3.Join(journalKey), j); err != nil {
		return fmt.Errorf("writing the run's journal: %w", err)
	}
	return nil
}

// recordChunk notes that chunk c is finished, with its objects.
func (r *run) recordChunk(ctx context.Context, c Chunk, objs []Object) error {
	rec := ChunkRecord{Table: c.Table.String(), Chunk: c.Index, Range: c.Range(), Snapshot: r.snap.ID, Objects: objs}
	if _, err := r.putOnce(ctx, chunkRecordURL(*r.cfg.To.S3, c), rec); err != nil { // there already: a concurrent attempt did it
		return fmt.Errorf("recording the finished chunk in the run's journal: %w", err)
	}
	return nil
}

// endJournal ends the run once the manifest is written: it aborts the multipart uploads that
// killed attempts left open under the prefix (any still open is stale now: the run is whole), and
// deletes the journal, so that the prefix holds what a one-shot run leaves. What cannot be removed
// is said.
func (r *run) endJournal(ctx context.Context) {
	prefix := *r.cfg.To.S3
	if open, err := upload.ListIncomplete(ctx, r.client, prefix.Bucket, prefix.Key); err != nil {
		r.cfg.Logger.Warn("could not list the uploads earlier attempts left", "error", err)
	} else {
		for _, u := range open {
			if r.cfg.TableFormat != "" && !strings.Contains(u.Key, r.cfg.runToken) {
				continue // a table format's prefix holds other runs' tables: only this run's are stale
			}
			if err := upload.Abort(ctx, r.client, u); err != nil {
				r.cfg.Logger.Warn("could not abort an upload an earlier attempt left: pg2s3 cleanup aborts it", "key", u.Key, "upload", u.UploadID, "error", err)
			}
		}
	}
	keys := []string{prefix.Key + journalKey}
	r.store.List(ctx, prefix.Join(chunksFolder), "list the run's journal", func(k string) bool {
		keys = append(keys, k)
		return true
	})
	var left []string
	for _, k := range keys {
		if err := r.delete(ctx, Object{URL: "s3://" + prefix.Bucket + "/" + k}); err != nil {
			left = append(left, k)
		}
	}
	if len(left) > 0 {
		r.cfg.Logger.Warn("could not delete the finished run's journal", "keys", strings.Join(left, " "))
	}
}

// snapshotGone words a resume whose snapshot cannot be joined, with the uploads left open.
func (p *Plan) snapshotGone(ctx context.Context, err error) error {
	var se *copyout.SnapshotError
	if !errors.As(err, &se) {
		return err
	}
	prefix := *p.cfg.To.S3
	gone := &SnapshotGoneError{ID: se.ID, Prefix: prefix.String(), Store: p.cfg.Upload.Store, Err: se.Err}
	open, lerr := upload.ListIncomplete(ctx, p.client, prefix.Bucket, prefix.Key)
	if lerr != nil {
		return fmt.Errorf("%w; listing the uploads earlier attempts left open failed too: %v", gone, lerr)
	}
	gone.Open = open
	return gone
}

// finished returns the manifest of a resumable run that an earlier attempt finished (it deleted the
// journal after writing the manifest), or nil. A manifest of another snapshot is not this run's:
// the prefix check refuses it as it refuses any other object.
func (p *Plan) finished(ctx context.Context) (*Manifest, error) {
	var m Manifest
	found, err := getJSON(ctx, p.store, p.manifestURL, &m)
	if err != nil || !found {
		return nil, err
	}
	id := p.cfg.Snapshot
	if id == "" && p.cfg.SnapshotFrom.Raw != "" {
		// The holder may have ended with the run: then its ID is gone too, and the manifest decides.
		id, _ = readSnapshotID(ctx, p.client, p.cfg.SnapshotFrom)
	}
	if id != "" && id != m.Snapshot.ID && !p.cfg.ResumeNewSnapshot {
		return nil, nil
	}
	m.URL, m.Finished = p.manifestURL.String(), true
	return &m, nil
}
