package engine

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/pg2s3/pg2s3/copyout"
	"github.com/pg2s3/pg2s3/sink"
)

// memChunk drives a splitter whose objects are buffers: no server is involved.
type memChunk struct {
	sp    *splitter
	specs []objectSpec
	bufs  []*bytes.Buffer
	parts [][]byte // the partition keys the splitter reported
}

func newMemChunk(t *testing.T, limits splitLimits, header bool, levels []Partition, index int) *memChunk {
	t.Helper()
	m := &memChunk{}
	ctx := context.Background()
	m.sp = &splitter{
		ctx: ctx, chunk: Chunk{Table: &Table{Table: copyout.Table{Schema: "s", Name: "t"}}, Index: index},
		header: header, limits: limits, levels: levels, firstOfTable: index == 0 && len(levels) == 0,
		keys: &keyCodec{levels: levels, format: 'c', delim: ',', quote: '"', escape: '"'},
		open: func(next objectSpec) (*objectWriter, error) {
			b := &bytes.Buffer{}
			m.specs, m.bufs = append(m.specs, next), append(m.bufs, b)
			o := &objectWriter{obj: sink.Open(ctx, sink.Stream{W: b, Name: fmt.Sprint("object ", next.Split)}), partition: next.Values}
			o.bw = bufio.NewWriter(o.obj)
			return o, nil
		},
		onPartition: func(key []byte) error { m.parts = append(m.parts, slices.Clone(key)); return nil },
		onStuck:     func(error) {},
	}
	return m
}

// feed writes rows as COPY hands them over: one message per row, in a buffer it reuses.
func (m *memChunk) feed(t *testing.T, rows ...string) []Object {
	t.Helper()
	buf := make([]byte, 0, 64)
	for _, r := range rows {
		buf = append(buf[:0], r...)
		if err := m.sp.WriteRow(buf); err != nil {
			t.Fatalf("WriteRow(%q): %v", r, err)
		}
		for i := range buf { // the splitter must not keep the slice
			buf[i] = 'X'
		}
	}
	objs, err := m.sp.finish(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != len(m.bufs) {
		t.Fatalf("%d objects completed, %d opened", len(objs), len(m.bufs))
	}
	return objs
}

func (m *memChunk) contents() []string {
	var out []string
	for _, b := range m.bufs {
		out = append(out, b.String())
	}
	return out
}

// key is a row's leading key fields, as a CSV COPY sends them.
func key(vals ...string) string {
	var levels []string
	for _, v := range vals {
		if strings.ContainsAny(v, ",\"\n") || v == "" {
			v = `"` + strings.ReplaceAll(v, `"`, `""`) + `"`
		}
		levels = append(levels, v)
	}
	return strings.Join(levels, ",")
}

func TestSplitterLimits(t *testing.T) {
	rows := []string{"1,a\n", "2,bb\n", "3,ccc\n", "4,dddd\n", "5,e\n", "6,ffffffffffffffffffffffff\n", "7,g\n"}
	for _, tt := range []struct {
		name   string
		limits splitLimits
		header bool
		want   []string
	}{
		{"no limit", splitLimits{}, false, []string{strings.Join(rows, "")}},
		{"rows", splitLimits{MaxRows: 3}, false, []string{"1,a\n2,bb\n3,ccc\n", "4,dddd\n5,e\n6,ffffffffffffffffffffffff\n", "7,g\n"}},
		{"bytes: rows never cut, a row larger than the limit alone", splitLimits{MaxObjectSize: 12}, false,
			[]string{"1,a\n2,bb\n", "3,ccc\n", "4,dddd\n5,e\n", "6,ffffffffffffffffffffffff\n", "7,g\n"}},
		{"header in every object", splitLimits{MaxRows: 4}, true,
			[]string{"id,v\n1,a\n2,bb\n3,ccc\n4,dddd\n", "id,v\n5,e\n6,ffffffffffffffffffffffff\n7,g\n"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := newMemChunk(t, tt.limits, tt.header, nil, 3)
			in := rows
			if tt.header {
				in = append([]string{"id,v\n"}, rows...)
			}
			objs := m.feed(t, in...)
			if got := m.contents(); !slices.Equal(got, tt.want) {
				t.Fatalf("objects %q, want %q", got, tt.want)
			}
			first := int64(1)
			for i, o := range objs {
				if o.Split != i || m.specs[i].Split != i || m.specs[i].FirstRow != first || o.Chunk != 3 || o.Table != `"s"."t"` {
					t.Errorf("object %d: %+v, opened as %+v (first row %d)", i, o, m.specs[i], first)
				}
				if int(o.CSVBytes) != len(tt.want[i]) {
					t.Errorf("object %d counts %d bytes, holds %d", i, o.CSVBytes, len(tt.want[i]))
				}
				first += o.Rows
			}
			if first-1 != int64(len(rows)) {
				t.Errorf("the objects count %d rows, the chunk has %d", first-1, len(rows))
			}
		})
	}
}

// An empty chunk gets one object when it is its table's first (empty, or the header alone), and
// none otherwise but for its header (every chunk's COPY sends one).
func TestSplitterEmptyChunk(t *testing.T) {
	for _, tt := range []struct {
		index  int
		header bool
		want   []string
	}{{0, false, []string{""}}, {0, true, []string{"id,v\n"}}, {1, false, nil}, {1, true, []string{"id,v\n"}}} {
		m := newMemChunk(t, splitLimits{}, tt.header, nil, tt.index)
		var rows []string
		if tt.header {
			rows = []string{"id,v\n"}
		}
		if m.feed(t, rows...); !slices.Equal(m.contents(), tt.want) {
			t.Errorf("chunk %d, header %v, no rows: objects %q, want %q", tt.index, tt.header, m.contents(), tt.want)
		}
	}
}

// A partitioned chunk: a new object at every change of key, the key field cut off every row and
// the header, the header at the top of each object, the limits within a partition, and each new
// key reported once per run of rows.
func TestSplitterPartitions(t *testing.T) {
	levels := []Partition{{Name: "cat"}}
	m := newMemChunk(t, splitLimits{MaxRows: 2}, true, levels, 0)
	a, b := key("a"), key("b/c")
	objs := m.feed(t, a+",id\n", a+",1\n", a+",2\n", a+",3\n", b+",4\n", a+",5\n")
	want := []string{"id\n1\n2\n", "id\n3\n", "id\n4\n", "id\n5\n"}
	if got := m.contents(); !slices.Equal(got, want) {
		t.Fatalf("objects %q, want %q", got, want)
	}
	wantPaths, wantValues := []string{"cat=a", "cat=a", "cat=b%2Fc", "cat=a"}, []string{"a", "a", "b/c", "a"}
	for i, s := range m.specs {
		if s.Partition != wantPaths[i] || len(objs[i].Partition) != 1 || *objs[i].Partition[0].Value != wantValues[i] {
			t.Errorf("object %d: partition %q (%v), want %q", i, s.Partition, objs[i].Partition, wantPaths[i])
		}
	}
	if got := len(m.parts); got != 3 {
		t.Errorf("%d partition changes reported, want 3 (a, b/c, a)", got)
	}
}
