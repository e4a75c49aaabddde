package lakehouse

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"

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
		tb, err := Open(ctx, client, upload.Options{}, loc, "ns", "t", cols())
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
		ca, err := a.Commit(ctx, file(fmt.Sprint("a", round), 10), nil)
		if err != nil {
			t.Fatalf("round %d, the first writer: %v", round, err)
		}
		cb, err := b.Commit(ctx, file(fmt.Sprint("b", round), 20), nil)
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

// A table whose columns are not the export's is refused when the run is planned, before anything
// is written; the error names both schemas.
func TestChangedColumnsRefused(t *testing.T) {
	bucket, client := testenv.Bucket(t), testenv.S3(t)
	loc, err := upload.ParsePrefix("s3://" + bucket + "/" + testenv.Prefix(t, client, bucket) + "ns/t/")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tb, err := Open(ctx, client, upload.Options{}, loc, "ns", "t", []columnar.Column{{Name: "id", PGType: "bigint"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tb.Commit(ctx, []File{{URL: loc.String() + "data/x.parquet", Rows: 1, Bytes: 10}}, nil); err != nil {
		t.Fatal(err)
	}
	_, err = Open(ctx, client, upload.Options{}, loc, "ns", "t", []columnar.Column{{Name: "id", PGType: "bigint"}, {Name: "more", PGType: "text"}})
	var sc *SchemaChangeError
	if !errors.As(err, &sc) || sc.Version != 1 || !strings.Contains(err.Error(), "more") {
		t.Errorf("opening with another column: %v, want a SchemaChangeError naming it", err)
	}
}
