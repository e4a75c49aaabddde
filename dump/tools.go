package dump

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/pg2s3/pg2s3/copyout"
	"github.com/pg2s3/pg2s3/upload"
)

// PlanReport is what a run would do, computed inside its snapshot, with nothing exported.
type PlanReport struct {
	Snapshot     Snapshot    `json:"snapshot"`
	Tables       []PlanTable `json:"tables"`
	Chunks       []PlanChunk `json:"chunks"`
	Jobs         int         `json:"jobs"`
	PartSize     int64       `json:"part_size"`
	MemoryLimit  int64       `json:"memory_limit"`
	Manifest     string      `json:"manifest"`
	BucketAccess string      `json:"bucket_access"` // "ok", or what HeadBucket said
	Problems     []string    `json:"problems,omitempty"`
}

// PlanTable is a table of the plan.
type PlanTable struct {
	Name      string `json:"name"`
	Kind      string `json:"kind"`
	EstRows   int64  `json:"est_rows"`
	SizeBytes int64  `json:"size_bytes"`
	Select    bool   `json:"select_privilege"`
}

// PlanChunk is a chunk of the plan and the key of its first object.
type PlanChunk struct {
	Table    string `json:"table"`
	Chunk    int    `json:"chunk"`
	Range    string `json:"range"`
	EstBytes int64  `json:"est_bytes"`
	FirstKey string `json:"first_object"`
}

// Plan checks access and reports what Run would do: tables, estimates, chunks with their ctid
// ranges, object keys, part size and memory budget. It exports nothing and changes nothing.
func Plan(ctx context.Context, cfg Config) (*PlanReport, error) {
	p, err := prepare(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer p.coord.Close(context.WithoutCancel(ctx))
	r := &PlanReport{Snapshot: p.snap, Jobs: cfg.Jobs, PartSize: cfg.PartSize, MemoryLimit: cfg.MemoryLimit, Manifest: p.manifestURL}
	for _, t := range p.tables {
		r.Tables = append(r.Tables, PlanTable{Name: t.String(), Kind: t.Kind, EstRows: t.EstRows, SizeBytes: t.SizeBytes, Select: t.Select})
		if !t.Select {
			r.Problems = append(r.Problems, fmt.Sprintf("no SELECT privilege on %s (GRANT SELECT ON %s TO the export's role)", t, t))
		}
	}
	for _, c := range p.plan {
		r.Chunks = append(r.Chunks, PlanChunk{Table: c.Table.String(), Chunk: c.Index, Range: c.Range(), EstBytes: c.EstBytes,
			FirstKey: "s3://" + p.bucket + "/" + p.prefix + objectKey(p.cfg.Template, c.Table, c.Index, 0) + cfg.Compress.Extension()})
	}
	r.BucketAccess = "ok"
	if _, err := p.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &p.bucket}); err != nil {
		r.BucketAccess = (&upload.Error{Op: "head bucket", Bucket: p.bucket, Err: err}).Error()
		r.Problems = append(r.Problems, r.BucketAccess)
	}
	return r, nil
}

// HoldSnapshot opens a REPEATABLE READ transaction, exports its snapshot, calls ready with the
// snapshot's ID, and holds the snapshot until ctx is done: other processes (export --snapshot ID
// --shard i/N) join it meanwhile.
func HoldSnapshot(ctx context.Context, dsn string, session copyout.Session, ready func(id string)) error {
	pgcfg, err := copyout.ParseConfig(dsn, session)
	if err != nil {
		return err
	}
	pgcfg.RuntimeParams["idle_in_transaction_session_timeout"] = "0" // it is idle in a transaction on purpose
	conn, err := copyout.Connect(ctx, pgcfg)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	snap, err := openSnapshot(ctx, conn, "")
	if err != nil {
		return err
	}
	ready(snap.ID)
	<-ctx.Done()
	_, err = conn.Exec(context.WithoutCancel(ctx), "COMMIT").ReadAll()
	return err
}

// Merge joins the manifests of the shards of one run (all under one snapshot) into one, written to
// to. Every shard i/N must be there, once.
func Merge(ctx context.Context, client *s3.Client, urls []string, to string) (*Manifest, error) {
	var out *Manifest
	seen := map[int]string{}
	count := 0
	for _, u := range urls {
		bucket, key, err := upload.ParseURL(u)
		if err != nil {
			return nil, err
		}
		obj, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &key})
		if err != nil {
			return nil, &upload.Error{Op: "get manifest", Bucket: bucket, Key: key, Err: err}
		}
		b, err := io.ReadAll(obj.Body)
		obj.Body.Close()
		if err != nil {
			return nil, err
		}
		var m Manifest
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, fmt.Errorf("%s is not a pg2s3 manifest: %w", u, err)
		}
		if m.Shard == nil {
			return nil, fmt.Errorf("%s is not a shard's manifest (no shard field)", u)
		}
		if prev, dup := seen[m.Shard.Index]; dup {
			return nil, fmt.Errorf("shard %d/%d appears twice: %s and %s", m.Shard.Index, m.Shard.Count, prev, u)
		}
		seen[m.Shard.Index] = u
		if out == nil {
			out, count = &m, m.Shard.Count
			out.Tables = nil
			continue
		}
		if m.Snapshot.ID != out.Snapshot.ID || m.Shard.Count != count {
			return nil, fmt.Errorf("%s is from another run (snapshot %s, %d shards; the first manifest has snapshot %s, %d shards)",
				u, m.Snapshot.ID, m.Shard.Count, out.Snapshot.ID, count)
		}
		out.Entries = append(out.Entries, m.Entries...)
		out.Objects = append(out.Objects, m.Objects...)
		out.Seconds = max(out.Seconds, m.Seconds)
	}
	if out == nil {
		return nil, errors.New("no manifest to merge")
	}
	var missing []string
	for i := 0; i < count; i++ {
		if _, ok := seen[i]; !ok {
			missing = append(missing, fmt.Sprintf("%d/%d", i, count))
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("shards missing: %s", strings.Join(missing, ", "))
	}
	// Recount the tables from every shard's objects; the columns come from the shards' tables.
	tables := map[string]*ManifestTable{}
	var order []string
	for _, o := range out.Objects {
		mt := tables[o.Table]
		if mt == nil {
			mt = &ManifestTable{Name: o.Table}
			tables[o.Table] = mt
			order = append(order, o.Table)
		}
		mt.Rows += o.Rows
		mt.Objects++
		mt.Bytes += o.Bytes
		mt.CSVBytes += o.CSVBytes
	}
	out.Tables = nil
	for _, name := range order {
		out.Tables = append(out.Tables, *tables[name])
	}
	out.Shard = nil
	sortObjects(out.Objects)
	out.Entries = out.Entries[:0]
	for _, o := range out.Objects {
		out.Entries = append(out.Entries, Entry{URL: o.URL, Mandatory: true, Meta: EntryMeta{ContentLength: o.Bytes}})
	}
	if err := out.write(ctx, client, to, 0); err != nil {
		return nil, err
	}
	out.URL = to
	return out, nil
}
