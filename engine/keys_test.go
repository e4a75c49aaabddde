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
		if got := keyName(in); got != want {
			t.Errorf("keyName(%q) = %q, want %q", in, got, want)
		}
	}
	if keyName("a.b")+"."+keyName("c") == keyName("a")+"."+keyName("b.c") {
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

// Validate checks the config with its defaults, and fills in none of them: the caller's config is
// what it was, and the key template a run would use is KeyTemplate's.
func TestValidateChangesNothing(t *testing.T) {
	cfg := Config{Tables: []string{"t"}, To: Destination{Raw: "s3://bucket/p/"}, PartitionBy: []Partition{{Name: "k", Expr: "k", Column: "k"}}}
	var err error
	if cfg.To, err = ParseDestination(cfg.To.Raw); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.Template != "" || cfg.Jobs != 0 || cfg.MemoryLimit != 0 || cfg.MaxPartitions != 0 || cfg.Logger != nil {
		t.Errorf("Validate filled in defaults: template %q, jobs %d, memory %d, partitions %d", cfg.Template, cfg.Jobs, cfg.MemoryLimit, cfg.MaxPartitions)
	}
	if got, want := cfg.KeyTemplate(), "{schema}.{table}/{partition}/part-{chunk:05}-{split:03}.csv"; got != want {
		t.Errorf("KeyTemplate() = %q, want %q", got, want)
	}
	settled := cfg
	settled.defaults()
	if settled.Template != cfg.KeyTemplate() {
		t.Errorf("the run's template %q, KeyTemplate %q", settled.Template, cfg.KeyTemplate())
	}
}
