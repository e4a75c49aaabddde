package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/pg2s3/pg2s3/engine"
	"github.com/pg2s3/pg2s3/internal/testenv"
)

// pg2s3 plan and export with --table-format iceberg, through the binary: the plan names each
// Iceberg table and its version before and after, the export commits it, and a reader pg2s3 did
// not write reads it; a second export is the next version, with the same rows.
func TestIcebergCommand(t *testing.T) {
	bucket, client := testenv.Stack(t)
	testenv.PsqlValue(t, `DROP SCHEMA IF EXISTS icecli CASCADE; CREATE SCHEMA icecli;
		CREATE TABLE icecli.orders AS SELECT g::bigint AS id, 'order ' || g AS note FROM generate_series(1, 1000) g;`)
	prefix := "s3://" + bucket + "/" + testenv.Prefix(t, client, bucket)
	args := []string{"--schema", "icecli", "--to", prefix, "--table-format", "iceberg", "--iceberg-namespace", "lake"}
	plan := func(version int) {
		t.Helper()
		r := pg2s3(t, nil, append([]string{"plan", "--json"}, args...)...)
		if r.code != 0 || r.stdout == "" {
			t.Fatalf("plan: exit %d, stdout %q, stderr %s", r.code, r.stdout, r.stderr)
		}
		var rep engine.PlanReport
		if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
			t.Fatalf("plan --json: %v\n%s", err, r.stdout)
		}
		if len(rep.Tables) != 1 || rep.Tables[0].Iceberg == nil || rep.Tables[0].Iceberg.Name != "lake.orders" || rep.Tables[0].Iceberg.Version != version {
			t.Errorf("plan's tables %+v, want lake.orders at version %d", rep.Tables, version)
		}
		if !strings.Contains(strings.Join(rep.Commits, "; "), "the Iceberg tables lake.orders (version "+string(rune('1'+version))+")") {
			t.Errorf("plan's commits %q do not name the Iceberg commit", rep.Commits)
		}
	}
	for version := range 2 {
		plan(version)
		r := pg2s3(t, nil, append([]string{"export", "--preset", "duckdb"}, args...)...)
		if r.code != 0 {
			t.Fatalf("export: exit %d\n%s", r.code, r.stderr)
		}
		if want := "iceberg_scan('" + prefix + "lake/orders/metadata/v" + string(rune('1'+version)) + ".metadata.json')"; !strings.Contains(r.stderr, want) {
			t.Errorf("export --preset duckdb said %q, want the statement reading %s", r.stderr, want)
		}
		got := testenv.ReadIceberg(t, client, prefix+"lake/orders")
		if want := "v" + string(rune('1'+version)); got.Version != want || len(got.Rows) != 1000 {
			t.Errorf("the reader sees %s with %d rows, want %s with 1000", got.Version, len(got.Rows), want)
		}
	}
	r := pg2s3(t, nil, append([]string{"plan"}, args...)...)
	if r.code != 0 || !strings.Contains(r.stdout, "lake.orders") || !strings.Contains(r.stdout, "version 2, snapshot") {
		t.Errorf("plan's text: exit %d, stdout %s, stderr %s", r.code, r.stdout, r.stderr)
	}
}
