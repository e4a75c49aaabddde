package engine

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
)

// route writes rows through a router of limit bytes in front of m's splitter, as COPY hands them
// over (one reused buffer), and ends the chunk.
func (m *memChunk) route(t *testing.T, limit int64, dir string, rows []string) ([]Object, routeStats) {
	t.Helper()
	rt := newRouter(m.sp, limit, nil, 1<<20, dir, slog.New(slog.DiscardHandler))
	defer rt.close()
	buf := make([]byte, 0, 256)
	for _, r := range rows {
		buf = append(buf[:0], r...)
		if err := rt.WriteRow(buf); err != nil {
			t.Fatalf("WriteRow(%q): %v", r, err)
		}
		for i := range buf { // the router must not keep the slice
			buf[i] = 'X'
		}
	}
	if err := rt.finish(); err != nil {
		t.Fatal(err)
	}
	objs, err := m.sp.finish(nil)
	if err != nil {
		t.Fatal(err)
	}
	return objs, rt.stats
}

// routerRows are n rows of 200 bytes over values partition values, interleaved row by row or
// in runs of one value (clustered), with a header line; and the rows each value must end with.
func routerRows(n, values int, clustered bool) (rows []string, want map[string][]string) {
	want = map[string][]string{}
	rows = []string{key("cat") + ",id,pad\n"}
	for i := range n {
		v := i % values
		if clustered {
			v = i * values / n
		}
		val := fmt.Sprintf("v%d", v)
		if v == 7 {
			val = `a "quoted", value` // quoted in the key field
		}
		row := fmt.Sprintf("%d,%s\n", i, strings.Repeat("p", 190))
		rows = append(rows, key(val)+","+row)
		want[val] = append(want[val], row)
	}
	return rows, want
}

// check verifies that every object holds the header and rows of its one value only, and that the
// objects hold every row once.
func checkRouted(t *testing.T, m *memChunk, objs []Object, want map[string][]string) map[string]int {
	t.Helper()
	got, count := map[string][]string{}, map[string]int{}
	for i, o := range objs {
		v := *o.Partition[0].Value
		lines := strings.SplitAfter(m.bufs[i].String(), "\n")
		if lines[0] != "id,pad\n" {
			t.Fatalf("object %d (%s) starts with %q, not the header", i, v, lines[0])
		}
		got[v] = append(got[v], lines[1:len(lines)-1]...)
		count[v]++
	}
	if len(got) != len(want) {
		t.Fatalf("%d values in the objects, want %d", len(got), len(want))
	}
	for v, rows := range want {
		g := slices.Clone(got[v])
		slices.Sort(g)
		w := slices.Clone(rows)
		slices.Sort(w)
		if !slices.Equal(g, w) {
			t.Fatalf("value %q: the objects hold %d rows, want %d, or other rows", v, len(g), len(w))
		}
	}
	return count
}

// Rows that arrive interleaved and do not fit in the router's memory wait in the spill file: each
// value still gets one object. Rows that arrive in runs of a value go straight to their object.
// Without a spill file, the values get several objects each, with the same rows.
func TestRouter(t *testing.T) {
	levels := []Partition{{Name: "cat"}}
	const limit = 2 << 20 // the least a router takes: 512 pages
	t.Run("interleaved", func(t *testing.T) {
		rows, want := routerRows(40000, 50, false) // 8 MB over 50 values
		m := newMemChunk(t, splitLimits{}, true, levels, 0)
		objs, st := m.route(t, limit, t.TempDir(), rows)
		count := checkRouted(t, m, objs, want)
		if len(objs) != 50 || st.Spilled < 4<<20 {
			t.Errorf("%d objects (want one per value), %d bytes spilled (want most of the rows)", len(objs), st.Spilled)
		}
		for v, n := range count {
			if n != 1 {
				t.Errorf("value %q has %d objects", v, n)
			}
		}
	})
	t.Run("clustered", func(t *testing.T) {
		rows, want := routerRows(40000, 4, true) // 2 MB per value, in runs
		m := newMemChunk(t, splitLimits{}, true, levels, 0)
		objs, st := m.route(t, limit, t.TempDir(), rows)
		checkRouted(t, m, objs, want)
		if len(objs) != 4 || st.Spilled != 0 || st.Direct == 0 {
			t.Errorf("%d objects (want one per value), %d bytes spilled (want none), %d written on the way (want some)", len(objs), st.Spilled, st.Direct)
		}
	})
	t.Run("no spill file", func(t *testing.T) {
		rows, want := routerRows(40000, 50, false)
		m := newMemChunk(t, splitLimits{}, true, levels, 0)
		objs, st := m.route(t, limit, t.TempDir()+"/missing", rows)
		checkRouted(t, m, objs, want)
		if len(objs) <= 50 || st.Spilled != 0 {
			t.Errorf("%d objects (want more than one per value), %d bytes spilled (want none)", len(objs), st.Spilled)
		}
	})
	t.Run("limits", func(t *testing.T) { // an object's size limit holds within a value's rows
		rows, want := routerRows(4000, 3, false)
		m := newMemChunk(t, splitLimits{MaxRows: 500}, true, levels, 0)
		objs, _ := m.route(t, limit, t.TempDir(), rows)
		checkRouted(t, m, objs, want)
		for i, o := range objs {
			if o.Rows > 500 {
				t.Errorf("object %d has %d rows, more than 500", i, o.Rows)
			}
		}
	})
}
