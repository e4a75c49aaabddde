package engine

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/pg2s3/pg2s3/lakehouse"
	"github.com/pg2s3/pg2s3/upload"
)

// Manifest lists what a run wrote. Its entries have Redshift's manifest shape (COPY ... MANIFEST
// reads them as they are); the rest describes the objects, the tables and the snapshot.
type Manifest struct {
	Entries  []Entry         `json:"entries"`
	Objects  []Object        `json:"objects"`
	Tables   []ManifestTable `json:"tables"`
	Snapshot Snapshot        `json:"snapshot"`
	Format   ManifestFormat  `json:"format"`
	Seconds  float64         `json:"seconds"`
	Shard    *Shard          `json:"shard,omitempty"` // a shard's manifest (pg2s3 manifest merge joins them)
	// Incremental is an incremental run's state: what each table's objects hold (the rows changed
	// since which run), the high-water marks, and how to deduplicate.
	Incremental *RunState `json:"incremental,omitempty"`
	URL         string    `json:"-"`
	// Finished says that an earlier attempt of a resumable run wrote this manifest, and this one
	// wrote nothing.
	Finished bool `json:"-"`
	// Spilled is what this run's partition routers wrote to their spill files, in bytes.
	Spilled int64 `json:"-"`
}

// PartitionObjects counts the partitions (a table's value of PartitionBy) the objects are in, and
// the most objects one of them has; 0, 0 when the run is not partitioned.
func (m *Manifest) PartitionObjects() (partitions, most int) {
	count := map[string]int{}
	for _, o := range m.Objects {
		if len(o.Partition) > 0 {
			k := o.Table + "\x00" + hivePath(o.Partition)
			count[k]++
			most = max(most, count[k])
		}
	}
	return len(count), most
}

// Entry is one object in Redshift's manifest format.
type Entry struct {
	URL       string    `json:"url"`
	Mandatory bool      `json:"mandatory"`
	Meta      EntryMeta `json:"meta"`
}

// EntryMeta carries the object's size, which Redshift needs for some formats.
type EntryMeta struct {
	ContentLength int64 `json:"content_length"`
}

// ManifestTable describes an exported table.
type ManifestTable struct {
	Name     string   `json:"name"`
	Kind     string   `json:"kind"`
	Columns  []Column `json:"columns"`
	Rows     int64    `json:"rows"`
	Objects  int      `json:"objects"`
	Bytes    int64    `json:"bytes"`
	CSVBytes int64    `json:"csv_bytes"`
	// Iceberg is the Iceberg commit of the table's files (TableFormat iceberg).
	Iceberg *IcebergTable `json:"iceberg,omitempty"`
	// IcebergPlan, in a shard's manifest, is the Iceberg table the shards write: the merge commits
	// it.
	IcebergPlan *lakehouse.Planned `json:"iceberg_plan,omitempty"`
}

// IcebergTable is a table's Iceberg commit: its metadata file, version and snapshot.
type IcebergTable struct {
	Metadata string `json:"metadata"`
	Version  int    `json:"version"`
	Snapshot int64  `json:"snapshot_id"`
}

// ManifestFormat says how the objects are written.
type ManifestFormat struct {
	Format      string `json:"format"`
	Header      bool   `json:"header"`
	Delimiter   string `json:"delimiter,omitempty"`
	Null        string `json:"null,omitempty"`
	Compression string `json:"compression"`
}

func newManifest(snap Snapshot, tables []*Table, objs []Object, cfg Config, took time.Duration) *Manifest {
	m := &Manifest{Objects: objs, Snapshot: snap, Seconds: took.Seconds()}
	if cfg.Shard.enabled() {
		sh := cfg.Shard
		m.Shard = &sh
	}
	m.Format = ManifestFormat{Format: cfg.CSV.FormatName(), Header: cfg.CSV.Header, Delimiter: cfg.CSV.Delimiter, Compression: "none"}
	if cfg.CSV.Null != nil {
		m.Format.Null = *cfg.CSV.Null
	}
	if cfg.Compress.Enabled() {
		m.Format.Compression = cfg.Compress.Algorithm
	}
	if p := cfg.Parquet; p != nil {
		m.Format = ManifestFormat{Format: "parquet", Compression: cmp.Or(p.Codec, "zstd")}
	}
	for _, t := range tables {
		mt := ManifestTable{Name: t.String(), Kind: t.Kind, Columns: t.Columns}
		if t.iceberg != nil && cfg.Shard.enabled() {
			p := t.iceberg.Planned()
			mt.IcebergPlan = &p
		}
		m.Tables = append(m.Tables, mt)
	}
	m.recount()
	return m
}

// recount sorts the objects, rebuilds the entries from them, and recounts every table's rows,
// objects and bytes (a table the list lacks is added, in the objects' order).
func (m *Manifest) recount() {
	sort.Slice(m.Objects, func(i, j int) bool {
		a, b := m.Objects[i], m.Objects[j]
		if a.Table != b.Table {
			return a.Table < b.Table
		}
		if a.EqualityDeletes != b.EqualityDeletes {
			return b.EqualityDeletes
		}
		if a.Chunk != b.Chunk {
			return a.Chunk < b.Chunk
		}
		return a.Split < b.Split
	})
	index := map[string]int{}
	for i := range m.Tables {
		t := &m.Tables[i]
		t.Rows, t.Objects, t.Bytes, t.CSVBytes = 0, 0, 0, 0
		index[t.Name] = i
	}
	m.Entries = []Entry{}
	for _, o := range m.Objects {
		if !o.EqualityDeletes { // keys, not rows: no loader loads them as the table's
			m.Entries = append(m.Entries, Entry{URL: o.URL, Mandatory: true, Meta: EntryMeta{ContentLength: o.Bytes}})
		}
		i, ok := index[o.Table]
		if !ok {
			i = len(m.Tables)
			index[o.Table] = i
			m.Tables = append(m.Tables, ManifestTable{Name: o.Table})
		}
		t := &m.Tables[i]
		if !o.EqualityDeletes {
			t.Rows += o.Rows
		}
		t.Objects++
		t.Bytes += o.Bytes
		t.CSVBytes += o.CSVBytes
	}
}

// forTable is the manifest of one table's objects.
func (m *Manifest) forTable(name string) *Manifest {
	tm := *m
	tm.Objects, tm.Tables = nil, nil
	for _, o := range m.Objects {
		if o.Table == name {
			tm.Objects = append(tm.Objects, o)
		}
	}
	for _, t := range m.Tables {
		if t.Name == name {
			tm.Tables = append(tm.Tables, t)
		}
	}
	tm.recount()
	return &tm
}

// write stores the manifest with o; it is the last object of a run.
// With o.NoClobber an existing manifest is kept, and the write fails with an *upload.ExistsError.
func (m *Manifest) write(ctx context.Context, st upload.SmallObjects, url upload.URL, o upload.Options) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	exists, err := st.Write(ctx, url, b, o)
	if exists {
		err = &upload.ExistsError{Bucket: url.Bucket, Key: url.Key}
	}
	if err != nil {
		return fmt.Errorf("writing the manifest: %w", err)
	}
	return nil
}

// Rows returns the total rows of the run.
func (m *Manifest) Rows() (n int64) {
	for _, t := range m.Tables {
		n += t.Rows
	}
	return n
}

// Bytes returns the total stored and CSV bytes of the run.
func (m *Manifest) Bytes() (stored, csv int64) {
	for _, t := range m.Tables {
		stored += t.Bytes
		csv += t.CSVBytes
	}
	return stored, csv
}

// sideOptions is how the objects a run keeps beside its data are written (manifests, the journal and
// its chunk records, an incremental run's state): JSON, uncompressed, with the run's tags, metadata
// and encryption, so that lifecycle, cost and access rules see them as they see the data. An
// archive storage class (GLACIER, DEEP_ARCHIVE) is not applied to them: a loader and the next run
// must read them at once, without a restore.
func (c Config) sideOptions() upload.Options {
	o := upload.Options{PartTimeout: c.Upload.PartTimeout, Checksum: c.Upload.Checksum, Object: c.Upload.Object, Store: c.Upload.Store}
	o.Object.ContentType, o.Object.ContentEncoding = "application/json", ""
	if upload.Archival(o.Object.StorageClass) {
		o.Object.StorageClass = ""
	}
	return o
}
