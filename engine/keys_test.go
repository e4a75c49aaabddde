package engine

import (
	"testing"

	"github.com/pg2s3/pg2s3/copyout"
)

func TestKeyName(t *testing.T) {
	for in, want := range map[string]string{
		"orders": "orders", "a.b": "a%2Eb", "x/y": "x%2Fy", "100%": "100%25", `back\slash`: "back%5Cslash",
		"tab\there": "tab%09here", "ünï 表": "ünï 表", "Mixed Case": "Mixed Case",
	} {
		if got := KeyName(in); got != want {
			t.Errorf("KeyName(%q) = %q, want %q", in, got, want)
		}
	}
	if KeyName("a.b")+"."+KeyName("c") == KeyName("a")+"."+KeyName("b.c") {
		t.Error(`"a.b".c and a."b.c" share a key`)
	}
}

func TestSplitPatterns(t *testing.T) {
	tbl := &Table{Table: copyout.Table{Schema: "s", Name: "t"}}
	p := &splitPatterns{byLiteral: map[string][]int{}}
	for i := 0; i < 3; i++ {
		p.add(splitPattern("{schema}.{table}/part-{chunk:05}-{split:03}.csv", Chunk{Table: tbl, Index: i}, ".gz", "pre/"))
	}
	for key, want := range map[string]int{
		"pre/s.t/part-00001-000.csv.gz": 1, "pre/s.t/part-00002-1234.csv.gz": 2, "pre/s.t/part-00000-007.csv.gz": 0,
		"pre/s.t/part-00003-000.csv.gz": -1, "pre/s.t/part-00001-000.csv": -1, "pre/manifest.json": -1,
	} {
		i, ok := p.match(key, -1)
		if !ok {
			i = -1
		}
		if i != want {
			t.Errorf("match(%q) = %d, want %d", key, i, want)
		}
	}
	if _, ok := p.match("pre/s.t/part-00001-000.csv.gz", 1); ok {
		t.Error("a chunk's own key matched although it was skipped")
	}
}
