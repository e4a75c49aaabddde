package columnar

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"reflect"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"
	"github.com/parquet-go/parquet-go/compress/gzip"
	"github.com/parquet-go/parquet-go/compress/snappy"
	"github.com/parquet-go/parquet-go/compress/uncompressed"
	"github.com/parquet-go/parquet-go/encoding"
)

// Options are the Parquet settings of a run.
type Options struct {
	// RowGroupSize is the binary COPY bytes a row group holds before it is written out (default
	// DefaultRowGroupSize). The encoder holds one row group in memory: its values, then its encoded
	// pages, about twice this size at the moment it is flushed.
	RowGroupSize int64
	Codec        string // zstd (default), snappy, gzip or none
	// InfinityExtremes stores an infinite date or timestamp as the largest or smallest value of its
	// Parquet type, which DuckDB reads back as infinity (other readers see a date in the far past or
	// future). Without it such a value stops the export with an error naming it.
	InfinityExtremes bool
}

// DefaultRowGroupSize is the default of Options.RowGroupSize.
const DefaultRowGroupSize = 32 << 20

// Codecs are the accepted values of Options.Codec.
var Codecs = []string{"zstd", "snappy", "gzip", "none"}

// zstdFastest is shared by every file: its pools keep an encoder per concurrent writer.
var zstdFastest = &zstdCodec{}

// codec returns the Parquet codec for name ("" is zstd), or nil when the name is unknown.
func codec(name string) compress.Codec {
	switch name {
	case "", "zstd":
		return zstdFastest
	case "snappy":
		return &snappy.Codec{}
	case "gzip":
		return &gzip.Codec{Level: gzip.DefaultCompression}
	case "none":
		return &uncompressed.Codec{}
	}
	return nil
}

// Validate checks the options; the error names the setting.
func (o Options) Validate() error {
	if codec(o.Codec) == nil {
		return fmt.Errorf("unknown Parquet compression %q (want zstd, snappy, gzip or none)", o.Codec)
	}
	if o.RowGroupSize < 0 {
		return fmt.Errorf("row group size %d: must be positive", o.RowGroupSize)
	}
	return nil
}

// Encoder is the stage that writes one Parquet file from binary COPY tuples. Make one per object.
type Encoder struct {
	Columns []Column
	Options Options
	Where   string // the object's table, for errors ("" when the caller names it)
	// FirstRow is the number (from 1) of the object's first row within its chunk, for errors.
	FirstRow int64

	stats []ColumnStats // the written file's, once it is closed
}

// schema is the Parquet schema of cols: one optional field per column, in order.
func schema(cols []Column) *parquet.Schema {
	fields := make(orderedGroup, len(cols))
	for i, c := range cols {
		fields[i] = &field{Node: node(c), name: c.Name}
	}
	return parquet.NewSchema("pg2s3", fields)
}

func node(c Column) parquet.Node {
	var n parquet.Node
	switch c.kind {
	case kindBool:
		n = parquet.Leaf(parquet.BooleanType)
	case kindInt16:
		n = parquet.Int(16)
	case kindInt32:
		n = parquet.Int(32)
	case kindInt64:
		n = parquet.Int(64)
	case kindOid:
		n = parquet.Uint(32)
	case kindFloat32:
		n = parquet.Leaf(parquet.FloatType)
	case kindFloat64:
		n = parquet.Leaf(parquet.DoubleType)
	case kindBytea:
		n = parquet.Leaf(parquet.ByteArrayType)
	case kindDate:
		n = parquet.Date()
	case kindTime:
		n = parquet.TimeAdjusted(parquet.Microsecond, false)
	case kindTimestamp:
		n = parquet.TimestampAdjusted(parquet.Microsecond, false)
	case kindTimestampTZ:
		n = parquet.TimestampAdjusted(parquet.Microsecond, true)
	case kindUUID:
		n = parquet.UUID()
	case kindJSON, kindJSONB:
		n = parquet.JSON()
		if c.JSONAsString {
			n = parquet.String()
		}
	case kindDecimal:
		switch {
		case c.Precision <= 9:
			n = parquet.Decimal(c.Scale, c.Precision, parquet.Int32Type)
		case c.Precision <= 18:
			n = parquet.Decimal(c.Scale, c.Precision, parquet.Int64Type)
		default:
			n = parquet.Decimal(c.Scale, c.Precision, parquet.FixedLenByteArrayType(decimalBytes(c.Precision)))
		}
	default:
		n = parquet.String()
	}
	if c.Array {
		return withID(parquet.Optional(parquet.List(withID(parquet.Optional(n), c.ElementID))), c.FieldID)
	}
	if c.Dictionary && (c.kind == kindText || c.kind == kindJSON || c.kind == kindJSONB) {
		n = parquet.Encoded(n, &parquet.RLEDictionary)
	}
	switch c.kind {
	// Integers, dates and times as deltas: an ordered column (ids, timestamps) shrinks to almost
	// nothing, a random one a little (docs/speed.md). Every reader of pg2s3's strings already
	// decodes the encoding: DELTA_LENGTH_BYTE_ARRAY stores their lengths in it.
	case kindInt16, kindInt32, kindInt64, kindDate, kindTime, kindTimestamp, kindTimestampTZ:
		n = parquet.Encoded(n, &parquet.DeltaBinaryPacked)
	}
	if c.Required {
		return withID(parquet.Required(n), c.FieldID)
	}
	return withID(parquet.Optional(n), c.FieldID)
}

// withID gives n the field ID id, unless it is 0.
func withID(n parquet.Node, id int) parquet.Node {
	if id == 0 {
		return n
	}
	return parquet.FieldID(n, id)
}

// decimalBytes is the width of a FIXED_LEN_BYTE_ARRAY that holds every unscaled value of the
// precision in two's complement: the smallest n with 10^p <= 2^(8n-1).
func decimalBytes(precision int) int {
	for n := 1; ; n++ {
		if float64(precision)*3.321928094887362 < float64(8*n-1) {
			return n
		}
	}
}

// orderedGroup is a group whose fields keep the table's column order (parquet.Group is a map,
// and sorts them by name: a loader that maps columns by position would load the wrong ones).
type orderedGroup []parquet.Field

func (g orderedGroup) ID() int                     { return 0 }
func (g orderedGroup) String() string              { return "pg2s3" }
func (g orderedGroup) Type() parquet.Type          { return parquet.Group{}.Type() }
func (g orderedGroup) Optional() bool              { return false }
func (g orderedGroup) Repeated() bool              { return false }
func (g orderedGroup) Required() bool              { return true }
func (g orderedGroup) Leaf() bool                  { return false }
func (g orderedGroup) Fields() []parquet.Field     { return g }
func (g orderedGroup) Encoding() encoding.Encoding { return nil }
func (g orderedGroup) Compression() compress.Codec { return nil }
func (g orderedGroup) GoType() reflect.Type        { return reflect.TypeFor[map[string]any]() }
func (f *field) Name() string                      { return f.name }
func (f *field) Value(reflect.Value) reflect.Value { return reflect.Value{} }

type field struct {
	parquet.Node
	name string
}

// dictionaryMaxBytes is the most a column's dictionary holds in a row group before the column
// falls back to PLAIN (statistics that said few values were wrong).
const dictionaryMaxBytes = 4 << 20

// Wrap starts the file; its writer takes binary tuples, in any pieces.
func (e *Encoder) Wrap(w io.Writer) (io.WriteCloser, error) {
	if err := e.Options.Validate(); err != nil {
		return nil, err
	}
	size := e.Options.RowGroupSize
	if size == 0 {
		size = DefaultRowGroupSize
	}
	opts := []parquet.WriterOption{
		parquet.Compression(codec(e.Options.Codec)),
		parquet.CreatedBy("pg2s3", "", ""),
		parquet.DataPageVersion(1), // what every reader reads (Redshift, older Spark and Hive)
		// Statistics: null counts for every column, min/max for every fixed-width one, in the column
		// chunk and the page index. Not in each page's header (the page index replaces them), and
		// no min/max for strings, JSON and bytea: parquet-go writes those bounds whole, so one 20 MB
		// value would sit in memory until the file ends and be written again into its footer.
		parquet.DataPageStatistics(false),
		parquet.DictionaryMaxBytes(dictionaryMaxBytes),
	}
	for _, c := range e.Columns {
		if c.kind == kindText || c.kind == kindBytea || c.kind == kindJSON || c.kind == kindJSONB {
			path := []string{c.Name}
			if c.Array {
				path = append(path, "list", "element")
			}
			opts = append(opts, parquet.SkipPageBounds(path...))
		}
	}
	pw := parquet.NewGenericWriter[any](w, append(opts, schema(e.Columns))...)
	return &fileWriter{enc: e, pw: pw, groupSize: size, row: e.FirstRow - 1}, nil
}

// fileWriter decodes tuples into rows and writes them, a batch per Write.
type fileWriter struct {
	enc       *Encoder
	pw        *parquet.GenericWriter[any]
	groupSize int64

	pending []byte          // the start of a tuple that the previous Write cut
	batch   []parquet.Row   // rows decoded from the current Write (their values point into it)
	values  []parquet.Value // the batch's values
	held    int64           // tuple bytes in the current row group
	row     int64           // rows so far, counting from FirstRow-1
	err     error
}

// Write decodes every complete tuple of pending+b and writes them; the rest waits.
func (f *fileWriter) Write(b []byte) (int, error) {
	if f.err != nil {
		return 0, f.err
	}
	n := len(b)
	if len(f.pending) > 0 { // complete the cut tuple first, with as few bytes of b as it needs
		for {
			size, want := tupleSize(f.pending)
			if size > 0 {
				break
			}
			take := min(want-len(f.pending), len(b))
			if take == 0 {
				return n, nil
			}
			f.pending = append(f.pending, b[:take]...)
			b = b[take:]
		}
		if err := f.decode(f.pending); err != nil {
			return 0, f.fail(err)
		}
		if err := f.flushBatch(); err != nil { // its values point into pending, which is reused
			return 0, f.fail(err)
		}
		f.held += int64(len(f.pending))
		f.pending = f.pending[:0]
	}
	for len(b) > 0 {
		size, _ := tupleSize(b)
		if size == 0 {
			f.pending = append(f.pending, b...)
			break
		}
		if err := f.decode(b[:size]); err != nil {
			return 0, f.fail(err)
		}
		f.held += int64(size)
		b = b[size:]
	}
	if err := f.flushBatch(); err != nil {
		return 0, f.fail(err)
	}
	if f.held >= f.groupSize {
		f.held = 0
		if err := f.pw.Flush(); err != nil { // a row group, written out
			return 0, f.fail(err)
		}
	}
	return n, nil
}

func (f *fileWriter) fail(err error) error {
	f.err = err
	return err
}

func (f *fileWriter) flushBatch() error {
	if len(f.batch) > 0 {
		if _, err := f.pw.WriteRows(f.batch); err != nil {
			return err
		}
	}
	f.batch, f.values = f.batch[:0], f.values[:0]
	return nil
}

// Close writes the last row group and the footer.
func (f *fileWriter) Close() error {
	if f.err != nil {
		return f.err
	}
	if len(f.pending) > 0 {
		return f.fail(fmt.Errorf("binary COPY stream ended inside a row (%d bytes)", len(f.pending)))
	}
	if err := f.pw.Close(); err != nil {
		return f.fail(err)
	}
	if len(f.enc.Columns) > 0 && f.enc.Columns[0].FieldID != 0 { // a table format's file: its metrics
		f.enc.stats = fileStats(f.pw.Schema(), f.pw.File().Metadata(), f.enc.Columns)
	}
	return nil
}

// tupleSize returns the length of the tuple at the start of b, or 0 and the length b must at least
// have to tell.
func tupleSize(b []byte) (size, want int) {
	if len(b) < 2 {
		return 0, 2
	}
	fields := int(int16(binary.BigEndian.Uint16(b)))
	pos := 2
	for range fields {
		if len(b) < pos+4 {
			return 0, pos + 4
		}
		l := int(int32(binary.BigEndian.Uint32(b[pos:])))
		pos += 4
		if l > 0 {
			pos += l
		}
	}
	if len(b) < pos {
		return 0, pos
	}
	return pos, 0
}

// decode appends one tuple's row to the batch.
func (f *fileWriter) decode(t []byte) error {
	f.row++
	cols := f.enc.Columns
	if n := int(int16(binary.BigEndian.Uint16(t))); n != len(cols) {
		return &ValueError{Where: f.enc.Where, Row: f.row, Err: fmt.Errorf("the server sent %d fields, %d columns were described", n, len(cols))}
	}
	start := len(f.values)
	pos := 2
	for i := range cols {
		l := int(int32(binary.BigEndian.Uint32(t[pos:])))
		pos += 4
		var err error
		switch {
		case l < 0 && cols[i].Required:
			err = errors.New("NULL in a column that is never NULL (a primary key's)")
		case l < 0:
			f.values = append(f.values, parquet.NullValue().Level(0, 0, i))
		default:
			f.values, err = appendValue(f.values, &cols[i], i, t[pos:pos+l], f.enc.Options.InfinityExtremes)
			pos += l
		}
		if err != nil {
			return &ValueError{Where: f.enc.Where, Row: f.row, Column: cols[i].Name, PGType: cols[i].PGType, Err: err}
		}
	}
	f.batch = append(f.batch, f.values[start:len(f.values):len(f.values)])
	return nil
}
