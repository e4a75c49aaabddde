package engine

import (
	"bufio"
	"bytes"
	"context"
	"io"

	"github.com/pg2s3/pg2s3/columnar"
	"github.com/pg2s3/pg2s3/copyout"
	"github.com/pg2s3/pg2s3/sink"
)

// splitter is the RowWriter of one chunk: it starts a new object whenever the current one reached
// its limits, between two rows, or when a partitioned row's key changes, and repeats the header at
// the top of each object. It knows nothing of the run: open makes the next object, and the rest
// of what it needs is a value.
type splitter struct {
	ctx    context.Context
	chunk  Chunk
	header bool        // the COPY's first row is a header, for every object
	limits splitLimits // when an object is full
	levels []Partition // the partition levels; none: not partitioned
	keys   *keyCodec   // reads the rows' partition keys
	// firstOfTable: a chunk without rows still gets one (empty or header-only) object.
	firstOfTable bool
	open         func(next objectSpec) (*objectWriter, error)
	onPartition  func(key []byte) error // a partition key the chunk meets first (MaxPartitions)
	onStuck      func(err error)        // an upload that failed and could not be aborted

	hdr       []byte
	cur       *objectWriter
	done      []*objectWriter
	split     int
	gotHeader bool
	rows      int64 // rows of the chunk's objects before the current one

	partKey  []byte           // the current partition key, as the server sent it
	partVals []PartitionValue // its values
	partPath string           // its name=value/ path
}

// splitLimits end an object between two rows: MaxObjectSize bytes of COPY output, MaxRows rows
// (0: no limit). An object always gets at least one row.
type splitLimits struct{ MaxObjectSize, MaxRows int64 }

// objectSpec is what the next object of a chunk is.
type objectSpec struct {
	Split     int
	Partition string           // its name=value/ path, or ""
	Values    []PartitionValue // its partition values
	FirstRow  int64            // the number (from 1) of its first row within the chunk
}

// objectWriter is one object on its way: buffer -> stages -> sink.
type objectWriter struct {
	enc       *columnar.Encoder // the Parquet encoder, whose file's statistics the object keeps
	bw        *bufio.Writer
	stages    []io.WriteCloser // the stages' writers, the one nearest the COPY first
	obj       *sink.Object
	rows      int64
	csvBytes  int64
	partition []PartitionValue
}

// newSplitter is the splitter of chunk c in run r.
func (r *run) newSplitter(ctx context.Context, c Chunk) *splitter {
	cfg := r.cfg
	return &splitter{
		ctx: ctx, chunk: c, header: cfg.CSV.Header && cfg.Parquet == nil,
		limits: splitLimits{MaxObjectSize: cfg.MaxObjectSize, MaxRows: cfg.MaxRows},
		levels: r.levelsOf(c), keys: r.keyCodec(), firstOfTable: c.Index == 0 && len(cfg.PartitionBy) == 0,
		open:        r.opener(ctx, c),
		onPartition: func(key []byte) error { return r.notePartition(c.Table, key) },
		onStuck:     r.noteStuck,
	}
}

// opener returns the function that opens chunk c's objects one after another: an upload slot, the
// sink, the stages (the run's, then the compressor or the Parquet encoder) and one buffer that the
// chunk's objects share in turn.
func (r *run) opener(ctx context.Context, c Chunk) func(objectSpec) (*objectWriter, error) {
	var bw *bufio.Writer
	return func(next objectSpec) (*objectWriter, error) {
		if err := r.uploading.Acquire(ctx, 1); err != nil {
			return nil, context.Cause(ctx)
		}
		o := &objectWriter{obj: sink.Open(ctx, r.target(c, next.Split, next.Partition, r.budget)), partition: next.Values}
		go func() { o.obj.Wait(); r.uploading.Release(1) }()
		stages := append(append([]Stage{}, r.cfg.Stages...), r.cfg.Compress)
		if p := r.cfg.Parquet; p != nil { // the encoder, in place of the compressor (Parquet compresses inside)
			enc := &columnar.Encoder{Columns: c.Table.Parquet, Options: *p, FirstRow: next.FirstRow}
			if len(r.chunks) == 1 { // else the chunk's error names the table and the chunk
				enc.Where = c.Table.String()
			}
			stages[len(stages)-1] = enc
			o.enc = enc
		}
		var w io.Writer = o.obj
		for i := len(stages) - 1; i >= 0; i-- {
			sw, err := stages[i].Wrap(w)
			if err != nil {
				o.close(err)
				return nil, err
			}
			o.stages = append([]io.WriteCloser{sw}, o.stages...)
			w = sw
		}
		if bw == nil {
			bw = bufio.NewWriterSize(w, copyout.BufferSize)
		} else {
			bw.Reset(w)
		}
		o.bw = bw
		return o, nil
	}
}

func (s *splitter) start() error {
	o, err := s.open(objectSpec{Split: s.split, Partition: s.partPath, Values: s.partVals, FirstRow: s.rows + 1})
	if err != nil {
		return err
	}
	s.cur = o
	s.split++
	if s.hdr != nil {
		if _, err := o.bw.Write(s.hdr); err != nil {
			return err
		}
		o.csvBytes += int64(len(s.hdr))
	}
	return nil
}

// close ends the object's stream: cleanly (the sink publishes; its upload completes in the
// background) when err is nil, else with err (the sink publishes nothing).
// The buffer and the stages are let go of: a chunk keeps its closed objects until their uploads
// end, and with partitions a chunk may close thousands of them.
func (o *objectWriter) close(err error) error {
	defer func() { o.bw, o.stages = nil, nil }()
	if err == nil {
		err = o.bw.Flush()
		for _, sw := range o.stages {
			if err == nil {
				err = sw.Close() // the stage's last bytes (a compressor's trailer)
			}
		}
		if err == nil {
			return o.obj.Close()
		}
	}
	o.obj.CloseWithError(err)
	for _, sw := range o.stages {
		sw.Close() // stops a compressor's goroutines; its writes fail on the closed stream
	}
	return err
}

func (s *splitter) closeCurrent() error {
	o := s.cur
	s.cur = nil
	s.rows += o.rows
	s.done = append(s.done, o)
	return o.close(nil)
}

// WriteRow receives one CopyData message.
func (s *splitter) WriteRow(row []byte) error {
	partitioned := len(s.levels) > 0
	if s.header && !s.gotHeader {
		s.gotHeader = true
		if partitioned {
			_, row = s.keys.cut(row)
		}
		s.hdr = append([]byte(nil), row...)
		if s.cur == nil && !partitioned { // a partition's object starts with its first row
			return s.start()
		}
		return nil
	}
	if partitioned {
		key, rest := s.keys.cut(row)
		return s.writeKeyed(key, rest)
	}
	return s.write(row)
}

// writeKeyed writes a row of partition key: a new partition starts a new object.
func (s *splitter) writeKeyed(key, row []byte) error {
	if s.partVals == nil || !bytes.Equal(key, s.partKey) {
		if s.cur != nil {
			if err := s.closeCurrent(); err != nil {
				return err
			}
		}
		vals, err := s.keys.decode(key)
		if err != nil {
			return err
		}
		if err := s.onPartition(key); err != nil {
			return err
		}
		s.partKey, s.partVals, s.partPath = append(s.partKey[:0], key...), vals, hivePath(vals)
	}
	return s.write(row)
}

// write writes a row to the current object, or to a new one when it is full.
func (s *splitter) write(row []byte) error {
	if s.cur != nil && s.cur.rows > 0 &&
		((s.limits.MaxObjectSize > 0 && s.cur.csvBytes+int64(len(row)) > s.limits.MaxObjectSize) ||
			(s.limits.MaxRows > 0 && s.cur.rows >= s.limits.MaxRows)) {
		if err := s.closeCurrent(); err != nil {
			return err
		}
	}
	if s.cur == nil {
		if err := s.start(); err != nil {
			return err
		}
	}
	if _, err := s.cur.bw.Write(row); err != nil {
		return err
	}
	s.cur.rows++
	s.cur.csvBytes += int64(len(row))
	return nil
}

// finish ends the chunk after a failure (every open stream is closed with the error, which aborts
// its upload) or a success (see closeAll), waits for the uploads, and returns the objects that
// completed.
func (s *splitter) finish(copyErr error) ([]Object, error) {
	err := s.closeAll(copyErr)
	objs, werr := s.wait()
	if err == nil {
		err = werr
	}
	return objs, err
}

// closeAll ends the chunk's streams without waiting for the uploads. On success a chunk without
// rows still gets one (empty or header-only) object when it is the table's first chunk.
func (s *splitter) closeAll(copyErr error) error {
	err := copyErr
	if err == nil && s.cur == nil && len(s.done) == 0 && s.firstOfTable {
		err = s.start()
	}
	if s.cur != nil {
		o := s.cur
		s.cur = nil
		s.done = append(s.done, o)
		if cerr := o.close(err); err == nil {
			err = cerr
		}
	}
	return err
}

// wait waits for the chunk's uploads and returns the objects that completed.
func (s *splitter) wait() ([]Object, error) {
	var err error
	var objs []Object
	for i, o := range s.done {
		res, werr := o.obj.Wait()
		if werr != nil {
			s.onStuck(werr)
			if err == nil {
				err = werr
			}
			continue
		}
		objs = append(objs, Object{URL: res.URL, Table: s.chunk.Table.String(), Chunk: s.chunk.Index, Split: i,
			Rows: o.rows, Bytes: res.Bytes, CSVBytes: o.csvBytes, Parts: res.Parts, Checksum: res.Checksum, ETag: res.ETag,
			Partition: o.partition, EqualityDeletes: s.chunk.Table.keysOf != nil})
		if o.enc != nil {
			objs[len(objs)-1].ColumnStats = o.enc.Stats()
		}
	}
	return objs, err
}
