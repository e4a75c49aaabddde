package command

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/pg2s3/pg2s3/engine"
)

// The one place where every command's summary is built and printed: as one JSON value on stdout
// (on stderr when stdout carries the data) with --json, else as a text line on stderr, never with
// --quiet.

func emit(out output, stdout, stderr io.Writer, text string, v any) error {
	if out.json {
		w := stdout
		if out.toStdout {
			w = stderr
		}
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	}
	if !out.quiet && text != "" {
		_, err := fmt.Fprintln(stderr, text)
		return err
	}
	return nil
}

// objectSummary is an export to one object.
type objectSummary struct {
	Destination string  `json:"destination"`
	Rows        int64   `json:"rows"`
	Bytes       int64   `json:"bytes"`     // stored (compressed when --compress)
	CSVBytes    int64   `json:"csv_bytes"` // produced by COPY
	Compression string  `json:"compression,omitempty"`
	Ratio       float64 `json:"compression_ratio,omitempty"` // csv_bytes / bytes
	Parts       int     `json:"parts"`
	Seconds     float64 `json:"seconds"`
	MBPerSec    float64 `json:"mb_per_s"`
	Checksum    string  `json:"checksum,omitempty"`
	ETag        string  `json:"etag,omitempty"`
	LoadSQL     string  `json:"load_sql,omitempty"`
	PeakRSS     int64   `json:"peak_rss_bytes,omitempty"` // this process's peak memory (VmHWM)
}

// runSummary is an export to a prefix: many objects and a manifest.
type runSummary struct {
	Manifest string   `json:"manifest"`
	Snapshot string   `json:"snapshot"`
	Tables   int      `json:"tables"`
	Objects  int      `json:"objects"`
	Rows     int64    `json:"rows"`
	Bytes    int64    `json:"bytes"`
	CSVBytes int64    `json:"csv_bytes"`
	Seconds  float64  `json:"seconds"`
	MBPerSec float64  `json:"mb_per_s"`
	LoadSQL  []string `json:"load_sql,omitempty"`
	PeakRSS  int64    `json:"peak_rss_bytes,omitempty"`
	// Partitions and MostObjects (per partition) count a partitioned run's objects; Spilled is
	// what its rows took of the spill files.
	Partitions  int   `json:"partitions,omitempty"`
	MostObjects int   `json:"max_objects_per_partition,omitempty"`
	Spilled     int64 `json:"spilled_bytes,omitempty"`
	// AlreadyComplete: a resume found the run finished by an earlier attempt and wrote nothing;
	// the counts are the manifest's.
	AlreadyComplete bool `json:"already_complete,omitempty"`
}

// exportSummary prints what a run did, in the shape of its destination.
func exportSummary(out output, stdout, stderr io.Writer, m *engine.Manifest, compression string, loads []string) error {
	stored, csv := m.Bytes()
	rate := float64(csv) / 1e6 / max(m.Seconds, 1e-9)
	source := "CSV" // what the server sent; the csv_bytes fields count it
	if m.Format.Format == "parquet" {
		source = "binary COPY, as Parquet,"
	}
	if m.URL != "" {
		s := runSummary{Manifest: m.URL, Snapshot: m.Snapshot.ID, Tables: len(m.Tables), Objects: len(m.Objects), Rows: m.Rows(), Bytes: stored, CSVBytes: csv,
			Seconds: m.Seconds, MBPerSec: rate, LoadSQL: loads, PeakRSS: engine.PeakRSS(), AlreadyComplete: m.Finished, Spilled: m.Spilled}
		s.Partitions, s.MostObjects = m.PartitionObjects()
		if m.Finished {
			text := fmt.Sprintf("pg2s3: complete, nothing to do: an earlier attempt finished this run (%d table%s, %d rows in %d object%s, snapshot %s) -> %s",
				s.Tables, plural(s.Tables), s.Rows, s.Objects, plural(s.Objects), s.Snapshot, s.Manifest)
			return emit(out, stdout, stderr, text, s)
		}
		text := fmt.Sprintf("pg2s3: exported %d table%s, %d rows, %s of %s in %d object%s (%s stored), %.2fs, %.1f MB/s, snapshot %s -> %s",
			s.Tables, plural(s.Tables), s.Rows, humanBytes(csv), source, s.Objects, plural(s.Objects), humanBytes(stored), s.Seconds, s.MBPerSec, s.Snapshot, s.Manifest)
		if s.Partitions > 0 {
			text += fmt.Sprintf("\npg2s3: %d partition%s, %.1f objects per partition on average, at most %d",
				s.Partitions, plural(s.Partitions), float64(s.Objects)/float64(s.Partitions), s.MostObjects)
			if s.Spilled > 0 {
				text += fmt.Sprintf("; %s of rows waited in temporary files", humanBytes(s.Spilled))
			}
		}
		if m.Incremental != nil && !out.json {
			for _, l := range modeLines(m.Incremental) {
				text += "\npg2s3: " + l
			}
		}
		if len(loads) > 0 && !out.json {
			text += "\npg2s3: load them with:\n" + strings.Join(loads, "\n")
		}
		return emit(out, stdout, stderr, text, s)
	}
	o := m.Objects[0]
	s := objectSummary{Destination: o.URL, Rows: m.Rows(), Bytes: o.Bytes, CSVBytes: o.CSVBytes, Parts: o.Parts,
		Seconds: m.Seconds, MBPerSec: rate, Checksum: o.Checksum, ETag: o.ETag, PeakRSS: engine.PeakRSS()}
	if compression != "" && compression != "none" {
		s.Compression = compression
		if s.Bytes > 0 {
			s.Ratio = float64(s.CSVBytes) / float64(s.Bytes)
		}
	}
	parts := ""
	if s.Parts > 0 {
		parts = fmt.Sprintf(", %d part%s", s.Parts, plural(s.Parts))
	}
	size := fmt.Sprintf("%s (%d bytes)", humanBytes(s.Bytes), s.Bytes)
	if s.Compression != "" {
		size = fmt.Sprintf("%s of CSV as %s %s (%d bytes, %.1fx)", humanBytes(s.CSVBytes), humanBytes(s.Bytes), s.Compression, s.Bytes, s.Ratio)
	}
	text := fmt.Sprintf("pg2s3: exported %d row%s, %s%s, %.2fs, %.1f MB/s -> %s",
		s.Rows, plural(int(s.Rows)), size, parts, s.Seconds, s.MBPerSec, s.Destination)
	if len(loads) > 0 {
		s.LoadSQL = loads[0]
		if !out.json {
			text += "\npg2s3: load it with:\n" + loads[0]
		}
	}
	return emit(out, stdout, stderr, text, s)
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
