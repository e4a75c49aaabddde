package dump

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

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
	URL      string          `json:"-"`
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
	sortObjects(objs)
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
	byTable := map[string]*ManifestTable{}
	for _, t := range tables {
		mt := &ManifestTable{Name: t.String(), Kind: t.Kind, Columns: t.Columns}
		byTable[mt.Name] = mt
	}
	for _, o := range objs {
		m.Entries = append(m.Entries, Entry{URL: o.URL, Mandatory: true, Meta: EntryMeta{ContentLength: o.Bytes}})
		if mt := byTable[o.Table]; mt != nil {
			mt.Rows += o.Rows
			mt.Objects++
			mt.Bytes += o.Bytes
			mt.CSVBytes += o.CSVBytes
		}
	}
	for _, t := range tables {
		m.Tables = append(m.Tables, *byTable[t.String()])
	}
	return m
}

func sortObjects(objs []Object) {
	sort.Slice(objs, func(i, j int) bool {
		if objs[i].Table != objs[j].Table {
			return objs[i].Table < objs[j].Table
		}
		if objs[i].Chunk != objs[j].Chunk {
			return objs[i].Chunk < objs[j].Chunk
		}
		return objs[i].Split < objs[j].Split
	})
}

// write stores the manifest; it is the last object of a run.
func (m *Manifest) write(ctx context.Context, client *s3.Client, url string, timeout time.Duration) error {
	bucket, key, err := upload.ParseURL(url)
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	up := &upload.Uploader{Client: client, Bucket: bucket, Key: key, Object: upload.ObjectOptions{ContentType: "application/json"}, PartTimeout: timeout}
	if _, err := up.Upload(ctx, bytes.NewReader(b)); err != nil {
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
