package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/pg2s3/pg2s3/engine"
	"github.com/pg2s3/pg2s3/internal/testenv"
)

func readManifest(t *testing.T, client *s3.Client, url string) engine.Manifest {
	t.Helper()
	var m engine.Manifest
	if err := json.Unmarshal(testenv.GetURL(t, client, url), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// linesByTable reads every object of a manifest and returns each table's lines, sorted.
func linesByTable(t *testing.T, client *s3.Client, m engine.Manifest) map[string][]string {
	out := map[string][]string{}
	for _, o := range m.Objects {
		l := strings.SplitAfter(string(testenv.GetURL(t, client, o.URL)), "\n")
		if l[len(l)-1] == "" {
			l = l[:len(l)-1]
		}
		out[o.Table] = append(out[o.Table], l...)
	}
	for k := range out {
		slices.Sort(out[k])
	}
	return out
}

// N shard processes under one held snapshot write, together, the same lines as one process with
// --jobs N, and pg2s3 manifest merge joins their manifests.
func TestShardsUnderOneSnapshot(t *testing.T) {
	bucket, client := testenv.Stack(t)
	testenv.Psql(t, `DROP TABLE IF EXISTS shard_a, shard_b CASCADE;
		CREATE TABLE shard_a AS SELECT g AS id, md5(g::text) AS s FROM generate_series(1, 150000) g;
		CREATE TABLE shard_b AS SELECT g AS id FROM generate_series(1, 5000) g;
		CREATE VIEW shard_v AS SELECT id FROM shard_b WHERE id % 10 = 0;`)
	snap := exec.Command(binary, "snapshot")
	stdout, _ := snap.StdoutPipe()
	if err := snap.Start(); err != nil {
		t.Fatal(err)
	}
	defer snap.Process.Kill()
	id, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("reading the snapshot ID: %v", err)
	}
	id = strings.TrimSpace(id)
	// Changes after the snapshot must not show in the shards' exports.
	testenv.Psql(t, "INSERT INTO shard_b SELECT g FROM generate_series(5001, 6000) g")

	base := fmt.Sprintf("test/shards/%d/", time.Now().UnixNano())
	prefix := "s3://" + bucket + "/" + base
	args := []string{"-t", "shard_a", "-t", "shard_b", "-t", "shard_v", "--chunk-size", "1MiB", "--jobs", "2", "--quiet"}
	var manifests []string
	for i := 0; i < 3; i++ {
		r := pg2s3(t, nil, append([]string{"export", "--to", prefix + "sharded/", "--snapshot", id, "--shard", fmt.Sprintf("%d/3", i)}, args...)...)
		if r.code != 0 {
			t.Fatalf("shard %d: exit %d: %s", i, r.code, r.stderr)
		}
		manifests = append(manifests, fmt.Sprintf("%ssharded/manifest-shard-%d-of-3.json", prefix, i))
	}
	r := pg2s3(t, nil, append([]string{"manifest", "merge", "--to", prefix + "sharded/manifest.json"}, manifests...)...)
	if r.code != 0 {
		t.Fatalf("merge: exit %d: %s", r.code, r.stderr)
	}
	snap.Process.Signal(syscall.SIGTERM)
	if err := snap.Wait(); err != nil {
		t.Errorf("pg2s3 snapshot did not exit cleanly on SIGTERM: %v", err)
	}
	// One process, --jobs 3, its own snapshot (taken before the INSERT above was... after it: so it
	// sees 1000 more rows of shard_b; compare with the sharded run minus those).
	r = pg2s3(t, nil, append([]string{"export", "--to", prefix + "single/", "--jobs", "3"}, args...)...)
	if r.code != 0 {
		t.Fatalf("single: exit %d: %s", r.code, r.stderr)
	}
	merged := readManifest(t, client, prefix+"sharded/manifest.json")
	single := readManifest(t, client, prefix+"single/manifest.json")
	got, want := linesByTable(t, client, merged), linesByTable(t, client, single)
	// The merged manifest describes the tables as a one-process run does: kind and columns kept.
	if len(merged.Tables) != len(single.Tables) {
		t.Fatalf("merged manifest has %d tables, a one-process run %d", len(merged.Tables), len(single.Tables))
	}
	for i, mt := range merged.Tables {
		st := single.Tables[i]
		if mt.Name != st.Name || mt.Kind != st.Kind || mt.Kind == "" || !slices.Equal(mt.Columns, st.Columns) || len(mt.Columns) == 0 {
			t.Errorf("merged table %s: kind %q columns %v; one process: %s kind %q columns %v", mt.Name, mt.Kind, mt.Columns, st.Name, st.Kind, st.Columns)
		}
	}
	if !slices.Equal(got[`"public"."shard_a"`], want[`"public"."shard_a"`]) {
		t.Errorf("shard_a: the shards wrote %d lines, one process %d, or they differ", len(got[`"public"."shard_a"`]), len(want[`"public"."shard_a"`]))
	}
	if n := len(got[`"public"."shard_b"`]); n != 5000 {
		t.Errorf("shard_b: the shards wrote %d lines, want the 5000 of the snapshot (not the rows inserted after it)", n)
	}
	if n := len(want[`"public"."shard_b"`]); n != 6000 {
		t.Errorf("shard_b: one later process wrote %d lines, want 6000", n)
	}
	shardsOf := map[int]bool{}
	for _, m := range manifests {
		sm := readManifest(t, client, m)
		if sm.Snapshot.ID != id || sm.Shard == nil {
			t.Errorf("%s: snapshot %q shard %v", m, sm.Snapshot.ID, sm.Shard)
		}
		if len(sm.Objects) > 0 {
			shardsOf[sm.Shard.Index] = true
		}
	}
	if len(shardsOf) < 2 {
		t.Errorf("the work was not spread: only shards %v wrote objects", shardsOf)
	}
	for _, tb := range merged.Tables {
		if tb.Name == `"public"."shard_a"` && tb.Rows != 150000 {
			t.Errorf("merged manifest: shard_a has %d rows, want 150000", tb.Rows)
		}
	}
	testenv.Psql(t, "DELETE FROM shard_b WHERE id > 5000")
}

func TestPlanReportsMissingPrivilege(t *testing.T) {
	bucket, client := testenv.Stack(t)
	testenv.Psql(t, `DROP TABLE IF EXISTS plan_secret; CREATE TABLE plan_secret AS SELECT 1 AS x;
		DROP ROLE IF EXISTS pg2s3_planner; CREATE ROLE pg2s3_planner LOGIN PASSWORD 'planner-pw';`)
	dsn := testenv.AsRole(t, "pg2s3_planner", "planner-pw")
	prefix := fmt.Sprintf("test/plan/%d/", time.Now().UnixNano())
	r := pg2s3(t, nil, "plan", "--dsn", dsn, "-t", "plan_secret", "-t", "pg_class", "--to", "s3://"+bucket+"/"+prefix)
	if r.code != 1 || !strings.Contains(r.stderr, `no SELECT privilege on "public"."plan_secret"`) || !strings.Contains(r.stdout, "plan_secret") {
		t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	out, err := client.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: &bucket, Prefix: &prefix})
	if err != nil || len(out.Contents) > 0 {
		t.Errorf("plan wrote objects: %v %v", err, out.Contents)
	}
	// A bucket that does not exist is reported too.
	r = pg2s3(t, nil, "export", "--dry-run", "-t", "pg_class", "-t", "pg_namespace", "--to", "s3://pg2s3-no-such-bucket/p/")
	if r.code != 1 || !strings.Contains(r.stderr, "head bucket of s3://pg2s3-no-such-bucket") {
		t.Errorf("missing bucket: exit %d\n%s", r.code, r.stderr)
	}
}

// --preset with several tables prints one load statement per table; Redshift's read per-table manifests.
func TestMultiTablePresets(t *testing.T) {
	bucket, client := testenv.Stack(t)
	testenv.Psql(t, `DROP TABLE IF EXISTS preset_a, preset_b; CREATE TABLE preset_a AS SELECT g FROM generate_series(1, 10) g;
		CREATE TABLE preset_b AS SELECT 'x' AS s;`)
	prefix := fmt.Sprintf("s3://%s/test/presets/%d/", bucket, time.Now().UnixNano())
	r := pg2s3(t, nil, "export", "-t", "preset_a", "-t", "preset_b", "--to", prefix, "--preset", "redshift", "--json")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var sum struct {
		LoadSQL []string `json:"load_sql"`
	}
	json.Unmarshal([]byte(r.stdout), &sum)
	if len(sum.LoadSQL) != 2 || !strings.Contains(sum.LoadSQL[0], "MANIFEST") || !strings.Contains(sum.LoadSQL[0], ".manifest.json") {
		t.Fatalf("load statements: %q", sum.LoadSQL)
	}
	m := readManifest(t, client, prefix+"public.preset_a.manifest.json")
	if len(m.Entries) != 1 || !strings.Contains(m.Entries[0].URL, "public.preset_a/") || m.Tables[0].Rows != 10 {
		t.Errorf("preset_a's own manifest: %+v", m)
	}
	r = pg2s3(t, nil, "export", "-t", "preset_a", "-t", "preset_b", "--to", prefix+"d/", "--preset", "duckdb", "--json")
	json.Unmarshal([]byte(r.stdout), &sum)
	if r.code != 0 || len(sum.LoadSQL) != 2 || !strings.Contains(sum.LoadSQL[0], "/d/public.preset_a/*.csv.zst") {
		t.Errorf("duckdb: exit %d, %q %s", r.code, sum.LoadSQL, r.stderr)
	}
}
