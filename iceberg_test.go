package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

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

// A run killed (SIGKILL) at each step of its Iceberg commit, the request held by a proxy before it
// reaches the store and again after the store answered it: the table stays readable, at the
// version before the run or (killed once the metadata file is written) at the run's own, and the
// next run commits on top of whichever it is.
func TestIcebergKilledAtEveryStep(t *testing.T) {
	bucket, client := testenv.Stack(t)
	testenv.PsqlValue(t, `DROP SCHEMA IF EXISTS icekill CASCADE; CREATE SCHEMA icekill;
		CREATE TABLE icekill.t AS SELECT g AS id, 'run 0' AS note FROM generate_series(1, 500) g;`)
	prefix := "s3://" + bucket + "/" + testenv.Prefix(t, client, bucket)
	args := []string{"export", "--schema", "icekill", "--to", prefix, "--table-format", "iceberg"}
	if r := pg2s3(t, nil, args...); r.code != 0 {
		t.Fatalf("the first run: exit %d\n%s", r.code, r.stderr)
	}
	table := prefix + "icekill/t"
	// notes reads the table and returns its rows' notes, once each.
	notes := func() (string, []string) {
		got := testenv.ReadIceberg(t, client, table)
		seen := map[string]int{}
		for _, row := range got.Rows {
			seen[fmt.Sprint(row["note"])]++
		}
		var out []string
		for n, c := range seen {
			out = append(out, fmt.Sprintf("%s x%d", n, c))
		}
		return got.Version, out
	}
	steps := []struct {
		name  string
		match func(*http.Request) bool
	}{
		{"a data file", func(r *http.Request) bool { return strings.Contains(r.URL.Path, "/data/") }},
		{"the manifest", func(r *http.Request) bool { return strings.HasSuffix(r.URL.Path, "-m0.avro") }},
		{"the manifest list", func(r *http.Request) bool { return strings.Contains(r.URL.Path, "/metadata/snap-") }},
		{"the metadata file", func(r *http.Request) bool { return strings.HasSuffix(r.URL.Path, ".metadata.json") }},
		{"the version hint", func(r *http.Request) bool { return strings.HasSuffix(r.URL.Path, "/version-hint.text") }},
	}
	committed, version := "run 0", 1
	for i, step := range steps {
		for _, answered := range []bool{false, true} {
			name := fmt.Sprintf("run %d", 2*i+boolInt(answered)+1)
			testenv.PsqlValue(t, fmt.Sprintf(`UPDATE icekill.t SET note = '%s'`, name))
			killAt(t, args, step.match, answered)
			// Once the metadata file is written, the run is committed, the hint aside.
			commits := (i == 3 && answered) || i == 4
			v, got := notes()
			switch {
			case len(got) == 1 && got[0] == committed+" x500":
			case len(got) == 1 && got[0] == name+" x500" && commits:
			default:
				t.Errorf("killed at %s (answered %v): the reader sees %s with %v, want %q x500", step.name, answered, v, got, committed)
			}
			if commits {
				committed, version = name, version+1
			}
			name = fmt.Sprintf("after %s", name)
			testenv.PsqlValue(t, fmt.Sprintf(`UPDATE icekill.t SET note = '%s'`, name))
			if r := pg2s3(t, nil, args...); r.code != 0 {
				t.Fatalf("the run after the kill at %s: exit %d\n%s", step.name, r.code, r.stderr)
			}
			committed, version = name, version+1
			if v, got := notes(); v != fmt.Sprintf("v%d", version) || len(got) != 1 || got[0] != name+" x500" {
				t.Errorf("after the kill at %s (answered %v), the next run: the reader sees %s with %v, want v%d with %q x500",
					step.name, answered, v, got, version, name)
			}
		}
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// killAt runs pg2s3 with args through a proxy to the store that holds the first write matching
// match (before passing it on, or once the store answered it) and kills the process there.
func killAt(t *testing.T, args []string, match func(*http.Request) bool, answered bool) {
	t.Helper()
	rp := testenv.StoreProxy(t)
	held := make(chan struct{})
	release := make(chan struct{})
	var taken atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if (r.Method != http.MethodPut && r.Method != http.MethodPost) || !match(r) || !taken.CompareAndSwap(false, true) {
			rp.ServeHTTP(w, r)
			return
		}
		if answered {
			rp.ServeHTTP(httptest.NewRecorder(), r)
		}
		close(held)
		<-release
	}))
	defer srv.Close()
	defer close(release)
	cmd := exec.Command(binary, append(args, "--endpoint-url", srv.URL, "--jobs", "1")...)
	cmd.Env = os.Environ()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-held:
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("the request to hold never came; the run said:\n%s", stderr.String())
	}
	cmd.Process.Kill()
	cmd.Wait()
}

// Incremental runs into an Iceberg table, through the binary: plan says what each run does to the
// table; of two runs from the same run at once exactly one commits (its state first, then the
// table); a run whose table commit fails after its state leaves the table where it was, and the
// next run catches it up from the run the table holds. After each, the reader sees PostgreSQL's
// rows.
func TestIcebergIncrementalRuns(t *testing.T) {
	bucket, client := testenv.Stack(t)
	testenv.PsqlValue(t, `DROP SCHEMA IF EXISTS iceruns CASCADE; CREATE SCHEMA iceruns;
		CREATE TABLE iceruns.t (id int PRIMARY KEY, v text, updated_at timestamptz NOT NULL DEFAULT now());
		INSERT INTO iceruns.t SELECT g, 'v' || g, now() - interval '1 day' FROM generate_series(1, 1000) g;
		CREATE INDEX ON iceruns.t (updated_at);`)
	prefix := "s3://" + bucket + "/" + testenv.Prefix(t, client, bucket)
	args := []string{"--schema", "iceruns", "--to", prefix, "--table-format", "iceberg", "--incremental", "updated_at", "-q"}
	export := func(extra ...string) result {
		t.Helper()
		return pg2s3(t, nil, append(append([]string{"export"}, args...), extra...)...)
	}
	same := func(when string, version string) {
		t.Helper()
		got := testenv.ReadIceberg(t, client, prefix+"iceruns/t")
		want := map[string]string{}
		for _, l := range strings.Split(strings.TrimSpace(testenv.PsqlValue(t, `SELECT string_agg(id || '=' || v, E'\n') FROM iceruns.t`)), "\n") {
			k, v, _ := strings.Cut(l, "=")
			want[k] = v
		}
		have := map[string]string{}
		for _, row := range got.Rows {
			have[fmt.Sprint(row["id"])] = fmt.Sprint(row["v"])
		}
		if len(want) == 0 || len(got.Rows) != len(want) || fmt.Sprint(have) != fmt.Sprint(want) || got.Version != version {
			t.Errorf("%s: the reader sees %s with %d rows (%d distinct ids), PostgreSQL has %d; want %s", when, got.Version, len(got.Rows), len(have), len(want), version)
		}
	}
	if r := export(); r.code != 0 {
		t.Fatalf("run 1: exit %d: %s", r.code, r.stderr)
	}
	same("run 1", "v1")
	testenv.PsqlValue(t, `UPDATE iceruns.t SET v = 'two', updated_at = now() WHERE id % 10 = 0; INSERT INTO iceruns.t (id, v) VALUES (2000, 'two')`)
	r := pg2s3(t, nil, append([]string{"plan"}, args...)...)
	if r.code != 0 || !strings.Contains(r.stdout, "version 2: adds the changed rows, and deletes their earlier versions by id (equality deletes)") {
		t.Errorf("plan: exit %d:\n%s%s", r.code, r.stdout, r.stderr)
	}

	// Two runs from run 1 at once, held until both write their state.
	endpoint := barrierProxy(t, 2, func(r *http.Request) bool {
		return r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/"+engine.StateFolder+"run-")
	})
	won, lost := race(t, append(append([]string{"export"}, args...), "--endpoint-url", endpoint), "committed run 2 first")
	if won != 1 || lost != 1 {
		t.Fatalf("%d runs committed and %d lost, want one each", won, lost)
	}
	same("run 2, of two at once", "v2")

	// Run 3's state is written, then its table's metadata file is refused: the table stays at
	// run 2, and run 4 exports what changed since run 2.
	testenv.PsqlValue(t, `UPDATE iceruns.t SET v = 'three', updated_at = now() WHERE id % 10 = 1`)
	rp := testenv.StoreProxy(t)
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, ".metadata.json") {
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>fault: no metadata</Message></Error>`)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	defer failing.Close()
	if r := export("--endpoint-url", failing.URL); r.code != 1 || !strings.Contains(r.stderr, "committing Iceberg table") {
		t.Fatalf("run 3 with its table commit refused: exit %d: %s", r.code, r.stderr)
	}
	if states := runStates(t, prefix); len(states) != 3 {
		t.Fatalf("%d runs recorded, want 3 (run 3's state is written before its tables)", len(states))
	}
	testenv.PsqlValue(t, `UPDATE iceruns.t SET v = 'four', updated_at = now() WHERE id % 10 = 2`)
	if r := export(); r.code != 0 {
		t.Fatalf("run 4: exit %d: %s", r.code, r.stderr)
	}
	same("run 4, after run 3 did not commit the table", "v3")
	if s := runStates(t, prefix); len(s) != 4 || s[3].Tables[0].Since != 2 {
		t.Errorf("run 4 exported the table since run %d, want 2 (the run the table held)", s[len(s)-1].Tables[0].Since)
	}
}

// A resumable export into Iceberg tables, killed twice part-way: the attempts write the same keys
// (the first attempt's token, from the journal), the finished chunks are not exported again, and
// the last attempt commits every file once, with its column metrics (kept in the journal for the
// files of earlier attempts); nothing under data/ is left unreferenced.
func TestIcebergResume(t *testing.T) {
	bucket, client := testenv.Stack(t)
	testenv.PsqlValue(t, `DROP SCHEMA IF EXISTS iceres CASCADE; CREATE SCHEMA iceres;
		CREATE TABLE iceres.t (id int PRIMARY KEY, s text);
		INSERT INTO iceres.t SELECT g, md5(g::text) FROM generate_series(1, 60000) g;`)
	idFile, _ := holdSnapshot(t)
	prefix := testenv.Prefix(t, client, bucket)
	s3p := newBlockingProxy(t)
	args := []string{"export", "--schema", "iceres", "--to", "s3://" + bucket + "/" + prefix, "--table-format", "iceberg", "--resume",
		"--snapshot-from", idFile, "--chunk-size", "256KiB", "--jobs", "1", "--endpoint-url", s3p.url, "-q"}
	for _, hold := range []string{"-00003-000.parquet", "-00007-000.parquet"} {
		s3p.block(hold)
		killWhenBlocked(t, s3p, args...)
	}
	finished := finishedChunks(t, prefix, "iceres.t")
	if len(finished) == 0 || slices.Contains(finished, 7) {
		t.Fatalf("after two killed attempts chunks %v are finished; the test wants some, not chunk 7", finished)
	}
	s3p.block()
	if r := pg2s3(t, nil, args...); r.code != 0 {
		t.Fatalf("the last attempt: exit %d: %s", r.code, r.stderr)
	}
	got := testenv.ReadIceberg(t, client, "s3://"+bucket+"/"+prefix+"iceres/t")
	if got.Version != "v1" || len(got.Rows) != 60000 {
		t.Fatalf("the reader sees %s with %d rows, want v1 with 60000", got.Version, len(got.Rows))
	}
	var live []string
	for _, man := range got.Manifests {
		for _, e := range man.Entries {
			live = append(live, strings.TrimPrefix(e.Path, "s3://"+bucket+"/"))
			if e.Values[got.Schema.Fields[0].ID] == "" || e.Lower[got.Schema.Fields[0].ID] == "" {
				t.Errorf("%s has no metrics for id: values %v, lower bounds %v", e.Path, e.Values, e.Lower)
			}
		}
	}
	data := testenv.ListKeys(t, client, bucket, prefix+"iceres/t/data/")
	slices.Sort(live)
	slices.Sort(data)
	if len(data) < 8 || !slices.Equal(live, data) {
		t.Errorf("the table's files %v; under data/ %v", live, data)
	}
}

// A sharded export into Iceberg tables: each shard writes its files and records the table it
// planned in its manifest; pg2s3 manifest merge commits every shard's files as one snapshot per
// table (and, run again, commits nothing twice). The reader sees PostgreSQL's rows.
func TestIcebergShards(t *testing.T) {
	bucket, client := testenv.Stack(t)
	testenv.PsqlValue(t, `DROP SCHEMA IF EXISTS iceshard CASCADE; CREATE SCHEMA iceshard;
		CREATE TABLE iceshard.t (id int PRIMARY KEY, s text);
		INSERT INTO iceshard.t SELECT g, md5(g::text) FROM generate_series(1, 40000) g;
		CREATE TABLE iceshard.u AS SELECT g AS id FROM generate_series(1, 100) g;`)
	idFile, _ := holdSnapshot(t)
	id, err := os.ReadFile(idFile)
	if err != nil {
		t.Fatal(err)
	}
	prefix := "s3://" + bucket + "/" + testenv.Prefix(t, client, bucket)
	for i := range 3 {
		r := pg2s3(t, nil, "export", "--schema", "iceshard", "--to", prefix, "--table-format", "iceberg", "--snapshot", strings.TrimSpace(string(id)),
			"--shard", fmt.Sprintf("%d/3", i), "--chunk-size", "256KiB", "-q")
		if r.code != 0 {
			t.Fatalf("shard %d/3: exit %d: %s", i, r.code, r.stderr)
		}
	}
	if keys := testenv.ListKeys(t, client, bucket, strings.TrimPrefix(prefix, "s3://"+bucket+"/")+"iceshard/t/metadata/"); len(keys) != 0 {
		t.Fatalf("a shard committed the table: %v", keys)
	}
	for range 2 {
		r := pg2s3(t, nil, "manifest", "merge", prefix, "-q")
		if r.code != 0 {
			t.Fatalf("merge: exit %d: %s", r.code, r.stderr)
		}
		for _, table := range []string{"t", "u"} {
			got := testenv.ReadIceberg(t, client, prefix+"iceshard/"+table)
			want := map[string]int{"t": 40000, "u": 100}[table]
			if got.Version != "v1" || len(got.Rows) != want {
				t.Errorf("table %s: the reader sees %s with %d rows, want v1 with %d", table, got.Version, len(got.Rows), want)
			}
		}
	}
	m := readManifest(t, client, prefix+"manifest.json")
	for _, mt := range m.Tables {
		if mt.Iceberg == nil || mt.Iceberg.Version != 1 || mt.IcebergPlan != nil {
			t.Errorf("the merged manifest's table %s: iceberg %+v, plan %+v", mt.Name, mt.Iceberg, mt.IcebergPlan)
		}
	}
}
