package lakehouse

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/iceberg-go"

	"github.com/pg2s3/pg2s3/columnar"
	"github.com/pg2s3/pg2s3/internal/testenv"
	"github.com/pg2s3/pg2s3/upload"
)

// Two writers that read the same version commit one after the other, whatever their order: the
// second finds the version taken (If-None-Match), reads the table again and commits the next one.
// No version is written twice, and the table ends with the second writer's files.
func TestConcurrentWritersTakeTurns(t *testing.T) {
	bucket, client := testenv.Bucket(t), testenv.S3(t)
	loc, err := upload.ParsePrefix("s3://" + bucket + "/" + testenv.Prefix(t, client, bucket) + "ns/t/")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cols := func() []columnar.Column { return []columnar.Column{{Name: "id", PGType: "bigint"}} }
	open := func() *Table {
		t.Helper()
		tb, err := Open(ctx, client, upload.Options{}, loc, "ns", "t", cols(), nil)
		if err != nil {
			t.Fatal(err)
		}
		return tb
	}
	file := func(name string, rows int64) []File {
		return []File{{URL: loc.String() + "data/" + name + ".parquet", Rows: rows, Bytes: 100 + rows}}
	}
	for round, first := range []int{1, 3} { // the table is new, then it has a version
		a, b := open(), open()
		if a.Version != b.Version || a.Version != first-1 {
			t.Fatalf("round %d: the writers read versions %d and %d, want %d", round, a.Version, b.Version, first-1)
		}
		ca, err := a.Commit(ctx, Change{Replace: true, Files: file(fmt.Sprint("a", round), 10)}, nil)
		if err != nil {
			t.Fatalf("round %d, the first writer: %v", round, err)
		}
		cb, err := b.Commit(ctx, Change{Replace: true, Files: file(fmt.Sprint("b", round), 20)}, nil)
		if err != nil {
			t.Fatalf("round %d, the second writer: %v", round, err)
		}
		if ca.Version != first || cb.Version != first+1 {
			t.Errorf("round %d: the writers committed versions %d and %d, want %d and %d", round, ca.Version, cb.Version, first, first+1)
		}
		now := open()
		if now.Version != first+1 || now.Snapshot != cb.Snapshot {
			t.Errorf("round %d: the table is at version %d, snapshot %d; want %d, %d", round, now.Version, now.Snapshot, first+1, cb.Snapshot)
		}
		hint, err := now.io.get(ctx, now.hintURL())
		if err != nil || strings.TrimSpace(string(hint)) != strconv.Itoa(first+1) {
			t.Errorf("round %d: version-hint.text %q (%v), want %d", round, hint, err, first+1)
		}
		s, err := now.meta.currentSnapshot()
		if err != nil || s == nil || s.Parent == nil || *s.Parent != ca.Snapshot {
			t.Errorf("round %d: the second commit's parent is not the first's snapshot %d (%v)", round, ca.Snapshot, err)
		}
		if s != nil && s.Summary["total-records"] != "20" {
			t.Errorf("round %d: the table holds %s records, want the second writer's 20 (it replaces the contents)", round, s.Summary["total-records"])
		}
	}
}

// A table's schema evolves with the export's columns: a column keeps its field ID (a list its
// element's too), a type Iceberg lets grow is promoted, a new column gets the next unused ID, a
// dropped one's ID is not used again; any other type change is refused, naming the column.
func TestEvolve(t *testing.T) {
	p := iceberg.PrimitiveTypes
	field := func(id int, name string, typ iceberg.Type) iceberg.NestedField {
		return iceberg.NestedField{ID: id, Name: name, Type: typ}
	}
	cur := iceberg.NewSchema(0, field(1, "id", p.Int32), field(2, "name", p.String),
		field(3, "tags", &iceberg.ListType{ElementID: 4, Element: p.Int32}), field(5, "amount", iceberg.DecimalTypeOf(10, 2)))
	want := iceberg.NewSchema(0, field(1, "extra", p.String), field(2, "id", p.Int64),
		field(3, "tags", &iceberg.ListType{ElementID: 6, Element: p.Int64}), field(4, "amount", iceberg.DecimalTypeOf(12, 2)),
		field(5, "more", &iceberg.ListType{ElementID: 7, Element: p.Date}))
	got, last, err := evolve(cur, 5, want, "ns.t")
	if err != nil {
		t.Fatal(err)
	}
	wantSchema := iceberg.NewSchema(0, field(6, "extra", p.String), field(1, "id", p.Int64),
		field(3, "tags", &iceberg.ListType{ElementID: 4, Element: p.Int64}), field(5, "amount", iceberg.DecimalTypeOf(12, 2)),
		field(7, "more", &iceberg.ListType{ElementID: 8, Element: p.Date}))
	if !sameSchema(got, wantSchema) || last != 8 {
		t.Errorf("evolved to %s (last ID %d), want %s (last ID 8)", got, last, wantSchema)
	}
	for _, tt := range []struct {
		name string
		typ  iceberg.Type
	}{
		{"id", p.String}, {"amount", iceberg.DecimalTypeOf(12, 3)}, {"amount", iceberg.DecimalTypeOf(9, 2)},
		{"tags", p.Int32}, {"extra", p.Int64},
	} {
		_, _, err := evolve(got, 8, iceberg.NewSchema(0, field(1, tt.name, tt.typ)), "ns.t")
		var sc *SchemaChangeError
		if !errors.As(err, &sc) || sc.Column != tt.name || !strings.Contains(err.Error(), "ns.t") {
			t.Errorf("%s to %s: %v, want a SchemaChangeError naming the table and the column", tt.name, tt.typ, err)
		}
	}
}

// TestEvolveKeys: the primary key stays the identifier fields while it stays required; a column
// that was optional does not become required (Iceberg forbids it), and then there are none.
func TestEvolveKeys(t *testing.T) {
	p := iceberg.PrimitiveTypes
	key := func(id int, name string) iceberg.NestedField {
		return iceberg.NestedField{ID: id, Name: name, Type: p.Int64, Required: true}
	}
	opt := func(id int, name string) iceberg.NestedField {
		return iceberg.NestedField{ID: id, Name: name, Type: p.Int64}
	}
	cur := iceberg.NewSchemaWithIdentifiers(0, []int{1}, key(1, "a"), opt(2, "b"))
	for _, tt := range []struct {
		name string
		want *iceberg.Schema
		ids  []int
		req  []bool
	}{
		{"same key", iceberg.NewSchemaWithIdentifiers(0, []int{1}, key(1, "a"), opt(2, "b")), []int{1}, []bool{true, false}},
		{"a key of an optional column", iceberg.NewSchemaWithIdentifiers(0, []int{1, 2}, key(1, "a"), key(2, "b")), nil, []bool{true, false}},
		{"a new key column", iceberg.NewSchemaWithIdentifiers(0, []int{3}, opt(1, "a"), opt(2, "b"), key(3, "c")), nil, []bool{false, false, false}},
		{"no key", iceberg.NewSchema(0, opt(1, "a"), opt(2, "b")), nil, []bool{false, false}},
	} {
		got, _, err := evolve(cur, 2, tt.want, "ns.t")
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		var req []bool
		for _, f := range got.Fields() {
			req = append(req, f.Required)
		}
		if !slices.Equal(got.IdentifierFieldIDs, tt.ids) || !slices.Equal(req, tt.req) {
			t.Errorf("%s: identifier fields %v, required %v; want %v, %v", tt.name, got.IdentifierFieldIDs, req, tt.ids, tt.req)
		}
	}
}
