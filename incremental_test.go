package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pg2s3/pg2s3/engine"
	"github.com/pg2s3/pg2s3/internal/testenv"
)

// runStates reads the base's committed runs, in order.
func runStates(t *testing.T, base string) []engine.RunState {
	t.Helper()
	bucket, client := testenv.Stack(t)
	prefix := strings.TrimPrefix(base, "s3://"+bucket+"/")
	var out []engine.RunState
	for _, k := range testenv.ListKeys(t, client, bucket, prefix+engine.StateFolder) {
		var s engine.RunState
		if err := json.Unmarshal(testenv.Get(t, client, bucket, k), &s); err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		out = append(out, s)
	}
	return out
}

// dedupe is what the manifest tells a consumer to do: per key (the first field, id), the row of
// the latest run.
func dedupe(t *testing.T, base string, states []engine.RunState) []string {
	t.Helper()
	_, client := testenv.Stack(t)
	latest := map[string]string{}
	for _, s := range states {
		m := readManifest(t, client, s.Manifest)
		for _, lines := range linesByTable(t, client, m) {
			for _, l := range lines {
				latest[strings.SplitN(l, ",", 2)[0]] = l
			}
		}
	}
	var out []string
	for _, l := range latest {
		out = append(out, l)
	}
	slices.Sort(out)
	return out
}

// Three incremental runs with inserts and updates between them, and a transaction that writes a row
// before the second run, with a column value below the second run's high-water mark, and commits
// after it: the union of the runs, deduplicated on the key as the manifest says, equals the table,
// and the late row is in the third run. Without an index on the column every run reads the table
// whole (and says why); with one, the runs after the first read an index range from the bound the
// previous run proved.
func TestIncremental(t *testing.T) {
	t.Run("full scan", func(t *testing.T) { testIncremental(t, false) })
	t.Run("index range", func(t *testing.T) { testIncremental(t, true) })
}

func testIncremental(t *testing.T, indexed bool) {
	bucket, client := testenv.Stack(t)
	testenv.Psql(t, `DROP TABLE IF EXISTS inc_orders;
		CREATE TABLE inc_orders (id int PRIMARY KEY, v text, updated_at timestamptz NOT NULL DEFAULT clock_timestamp());
		INSERT INTO inc_orders SELECT g, 'v' || g, now() - interval '1 day' + g * interval '1 ms' FROM generate_series(1, 5000) g;`)
	if indexed {
		testenv.Psql(t, `CREATE INDEX ON inc_orders (updated_at); ANALYZE inc_orders`)
	}
	t.Cleanup(func() { testenv.Psql(t, "DROP TABLE IF EXISTS inc_orders") })
	base := "s3://" + bucket + "/" + testenv.Prefix(t, client, bucket)
	export := func() {
		t.Helper()
		if r := pg2s3(t, nil, "export", "-t", "inc_orders", "--to", base, "--incremental", "updated_at", "--chunk-size", "64KiB", "-q"); r.code != 0 {
			t.Fatalf("incremental export: exit %d: %s", r.code, r.stderr)
		}
	}
	export() // run 1: everything
	testenv.Psql(t, `INSERT INTO inc_orders (id, v) SELECT g, 'new' || g FROM generate_series(5001, 5200) g;
		UPDATE inc_orders SET v = 'upd1', updated_at = clock_timestamp() WHERE id % 100 = 0`)

	// The late transaction: it writes its row now (updated_at = now), stays open across run 2, and
	// commits after it. Another transaction commits a later updated_at before run 2, so run 2's
	// high-water mark is above the late row's value.
	ctx := context.Background()
	late, err := pgconn.Connect(ctx, testenv.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer late.Close(ctx)
	if _, err := late.Exec(ctx, "BEGIN; INSERT INTO inc_orders (id, v) VALUES (9999, 'late'); UPDATE inc_orders SET v = 'late-upd', updated_at = clock_timestamp() WHERE id = 7").ReadAll(); err != nil {
		t.Fatal(err)
	}
	// Run 2 starts more than the horizon's margin (1 s) after the late write: its clock alone would
	// be a bound above the late row.
	testenv.Psql(t, `SELECT pg_sleep(1.5); UPDATE inc_orders SET v = 'upd-after-late', updated_at = clock_timestamp() WHERE id = 8`)
	export() // run 2: does not see the late transaction
	if _, err := late.Exec(ctx, "COMMIT").ReadAll(); err != nil {
		t.Fatal(err)
	}
	testenv.Psql(t, `INSERT INTO inc_orders (id, v) VALUES (10000, 'after run 2'); UPDATE inc_orders SET v = 'upd3', updated_at = clock_timestamp() WHERE id = 3`)
	export() // run 3

	states := runStates(t, base)
	if len(states) != 3 {
		t.Fatalf("%d runs recorded, want 3", len(states))
	}
	for i, s := range states {
		tbl := s.Tables[0]
		if s.Run != i+1 || tbl.Column != "updated_at" || !slices.Equal(tbl.Key, []string{"id"}) || tbl.HighWater == nil {
			t.Errorf("run %d: %+v", i+1, s)
		}
		if (i == 0) != (tbl.Since == 0) || (i > 0 && tbl.Since != i) {
			t.Errorf("run %d exported since run %d", s.Run, tbl.Since)
		}
		if !strings.Contains(s.Path, "/run=") || !strings.HasSuffix(s.Path, "/") || !strings.HasPrefix(s.Manifest, s.Path) {
			t.Errorf("run %d: path %s, manifest %s", s.Run, s.Path, s.Manifest)
		}
		if s.Horizon == "" || s.HorizonWhy != "" {
			t.Errorf("run %d recorded no transaction horizon: %q", s.Run, s.HorizonWhy)
		}
		switch {
		case i == 0:
			if tbl.Mode != "" {
				t.Errorf("run 1 (everything) has mode %q", tbl.Mode)
			}
		case indexed:
			if tbl.Mode != engine.ModeIndexRange || tbl.LowerBound == "" || !strings.Contains(tbl.Filter, tbl.LowerBound) ||
				!strings.Contains(tbl.ScanPlan, "inc_orders_updated_at_idx") {
				t.Errorf("run %d: mode %q from %q, filter %q, planner %q: want an index range", s.Run, tbl.Mode, tbl.LowerBound, tbl.Filter, tbl.ScanPlan)
			}
		default:
			if tbl.Mode != engine.ModeFullScan || !strings.Contains(tbl.FullScanWhy, "no btree index") || tbl.ScanPlan != "Seq Scan" {
				t.Errorf("run %d: mode %q (%q), planner %q: want a full scan for want of an index", s.Run, tbl.Mode, tbl.FullScanWhy, tbl.ScanPlan)
			}
		}
	}
	// The late row's column is below run 2's high-water mark: only the transaction horizon finds it.
	lateAt := strings.TrimSpace(testenv.PsqlValue(t, "SELECT updated_at FROM inc_orders WHERE id = 9999"))
	if below := testenv.PsqlValue(t, "SELECT '"+lateAt+"'::timestamptz < '"+*states[1].Tables[0].HighWater+"'::timestamptz"); strings.TrimSpace(below) != "t" {
		t.Fatalf("the test's late row (%s) is not below run 2's high-water mark (%s): it proves nothing", lateAt, *states[1].Tables[0].HighWater)
	}
	if after := testenv.PsqlValue(t, "SELECT '"+lateAt+"'::timestamptz + interval '1 second' < '"+states[1].Snapshot.Time+"'::timestamptz"); strings.TrimSpace(after) != "t" {
		t.Fatalf("the test's late row (%s) is not more than a second before run 2 (%s): it proves nothing", lateAt, states[1].Snapshot.Time)
	}
	run3 := linesByTable(t, client, readManifest(t, client, states[2].Manifest))[`"public"."inc_orders"`]
	for _, id := range []string{"9999,late,", "7,late-upd,", "10000,", "3,upd3,"} {
		if !slices.ContainsFunc(run3, func(l string) bool { return strings.HasPrefix(l, id) }) {
			t.Errorf("run 3 lacks the row %s...: %d rows", id, len(run3))
		}
	}
	run2 := linesByTable(t, client, readManifest(t, client, states[1].Manifest))[`"public"."inc_orders"`]
	if len(run2) < 250 || len(run2) > 400 { // 200 inserts, 52 updates, and the horizon's few repeats
		t.Errorf("run 2 exported %d rows, want the ~252 changed", len(run2))
	}
	want := sortedLines(testenv.Psql(t, "COPY inc_orders TO STDOUT WITH (FORMAT csv)"))
	if got := dedupe(t, base, states); !slices.Equal(got, want) {
		t.Errorf("the runs, deduplicated, hold %d rows; the table %d", len(got), len(want))
	}

	// pg2s3 runs lists what is new after a run a loader has loaded.
	r := pg2s3(t, nil, "runs", base, "--since", "1", "--json")
	var listed []engine.RunState
	if err := json.Unmarshal([]byte(r.stdout), &listed); r.code != 0 || err != nil || len(listed) != 2 || listed[0].Run != 2 ||
		listed[1].Manifest != states[2].Manifest || listed[1].Snapshot.ID == "" {
		t.Errorf("runs --since 1: exit %d, %v: %s%s", r.code, err, r.stdout, r.stderr)
	}
	if r := pg2s3(t, nil, "runs", base); r.code != 0 || strings.Count(r.stdout, "\n") != 4 || !strings.Contains(r.stdout, states[0].Manifest) {
		t.Errorf("runs: exit %d:\n%s%s", r.code, r.stdout, r.stderr)
	}

	// plan shows the next run: its number, the previous high-water mark and the estimate.
	r = pg2s3(t, nil, "plan", "-t", "inc_orders", "--to", base, "--incremental", "updated_at")
	mode := "full-scan (planner: Seq Scan): no btree index begins with updated_at"
	if indexed {
		mode = "index-range, updated_at >= "
	}
	if r.code != 0 || !strings.Contains(r.stdout, "incremental run 4") || !strings.Contains(r.stdout, "changed since run 3") ||
		!strings.Contains(r.stdout, *states[2].Tables[0].HighWater) || !strings.Contains(r.stdout, mode) {
		t.Errorf("plan: exit %d:\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// barrierProxy is a proxy to the stack's MinIO that holds the requests hold matches until n of
// them have arrived, then lets them through together: n runs race to the same write, whatever the
// machine's speed.
func barrierProxy(t *testing.T, n int, hold func(*http.Request) bool) string {
	t.Helper()
	rp := testenv.StoreProxy(t)
	var mu sync.Mutex
	var release sync.Once
	arrived, open := 0, make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hold(r) {
			mu.Lock()
			if arrived++; arrived == n {
				release.Do(func() { close(open) })
			}
			mu.Unlock()
			select {
			case <-open:
			case <-r.Context().Done():
				return
			}
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	// A run that failed before its request reached the barrier leaves the other's held: let it go
	// (before Close, which waits for it), so that the test fails instead of hanging.
	t.Cleanup(func() { release.Do(func() { close(open) }) })
	return srv.URL
}

// Two runs of one base at once, from the same previous run: exactly one commits; the other fails,
// names the race, and leaves nothing behind.
func TestIncrementalConcurrentRuns(t *testing.T) {
	bucket, client := testenv.Stack(t)
	testenv.Psql(t, `DROP TABLE IF EXISTS inc_race;
		CREATE TABLE inc_race (id int PRIMARY KEY, updated_at timestamptz NOT NULL DEFAULT clock_timestamp());
		INSERT INTO inc_race (id) SELECT generate_series(1, 1000);`)
	t.Cleanup(func() { testenv.Psql(t, "DROP TABLE IF EXISTS inc_race") })
	prefix := testenv.Prefix(t, client, bucket)
	base := "s3://" + bucket + "/" + prefix
	args := []string{"export", "-t", "inc_race", "--to", base, "--incremental", "updated_at", "-q", "--endpoint-url", barrierProxy(t, 2, func(r *http.Request) bool {
		return r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/"+engine.StateFolder+"run-")
	})}
	won, lost := race(t, args, "another run of "+base+" committed run 1 first")
	if won != 1 || lost != 1 {
		t.Fatalf("%d runs committed and %d lost, want one each", won, lost)
	}
	states := runStates(t, base)
	if len(states) != 1 {
		t.Fatalf("%d states, want 1", len(states))
	}
	// Only the winner's run folder and state are left.
	for _, k := range testenv.ListKeys(t, client, bucket, prefix) {
		if !strings.HasPrefix("s3://"+bucket+"/"+k, states[0].Path) && !strings.HasPrefix(k, prefix+engine.StateFolder) {
			t.Errorf("the losing run left %s", k)
		}
	}
	if open := testenv.OpenUploads(t, client, bucket, prefix); len(open) != 0 {
		t.Errorf("uploads left open: %v", open)
	}
}

// race runs two pg2s3 with args at once, and counts the one that succeeds and the one that fails
// (exit 1) saying loser; any other outcome is an error.
func race(t *testing.T, args []string, loser string) (won, lost int) {
	t.Helper()
	results := make([]result, 2)
	var wg sync.WaitGroup
	for i := range results {
		wg.Add(1)
		go func() { defer wg.Done(); results[i] = pg2s3(t, nil, args...) }()
	}
	wg.Wait()
	for _, r := range results {
		switch {
		case r.code == 0:
			won++
		case r.code == 1 && strings.Contains(r.stderr, loser):
			lost++
		default:
			t.Errorf("a racing run: exit %d: %s", r.code, r.stderr)
		}
	}
	return won, lost
}

// Where no bound can be proven, a run reads the table whole and says why: a column the
// application sets (no clock default), and a role that cannot see other sessions' transactions.
// --incremental-lookback is the user's bound instead, and reads the index range.
func TestIncrementalFallsBack(t *testing.T) {
	bucket, client := testenv.Stack(t)
	testenv.Psql(t, `DROP TABLE IF EXISTS inc_app, inc_role; DROP ROLE IF EXISTS pg2s3_incstats;
		CREATE TABLE inc_app (id int PRIMARY KEY, updated_at timestamptz NOT NULL);
		INSERT INTO inc_app SELECT g, timestamptz '2026-01-01' + g * interval '1 minute' FROM generate_series(1, 20000) g;
		CREATE INDEX ON inc_app (updated_at);
		CREATE TABLE inc_role (id int PRIMARY KEY, updated_at timestamptz NOT NULL DEFAULT now());
		INSERT INTO inc_role (id) SELECT g FROM generate_series(1, 20000) g;
		CREATE INDEX ON inc_role (updated_at);
		ANALYZE inc_app, inc_role;
		CREATE ROLE pg2s3_incstats LOGIN PASSWORD 'incstats-pw'; GRANT SELECT ON inc_role TO pg2s3_incstats;`)
	t.Cleanup(func() { testenv.Psql(t, "DROP TABLE IF EXISTS inc_app, inc_role; DROP ROLE IF EXISTS pg2s3_incstats") })
	export := func(base string, args ...string) engine.IncrementalTable {
		t.Helper()
		r := pg2s3(t, nil, append([]string{"export", "--to", base, "--incremental", "updated_at"}, args...)...)
		if r.code != 0 || r.stderr == "" {
			t.Fatalf("incremental export %v: exit %d: %s", args, r.code, r.stderr)
		}
		states := runStates(t, base)
		if len(states) == 0 {
			t.Fatal("no run recorded")
		}
		last := states[len(states)-1]
		if last.Run > 1 && !strings.Contains(r.stderr, last.Tables[0].Table+": "+last.Tables[0].Mode) {
			t.Errorf("the run's summary does not say how it read the table:\n%s", r.stderr)
		}
		return last.Tables[0]
	}
	app := "s3://" + bucket + "/" + testenv.Prefix(t, client, bucket)
	export(app, "-t", "inc_app")
	testenv.Psql(t, `UPDATE inc_app SET updated_at = timestamptz '2027-01-01' WHERE id = 5`)
	if it := export(app, "-t", "inc_app"); it.Mode != engine.ModeFullScan || !strings.Contains(it.FullScanWhy, "is not the writer's clock") {
		t.Errorf("a column without a clock default: mode %q (%q), want a full scan that says why", it.Mode, it.FullScanWhy)
	}
	testenv.Psql(t, `UPDATE inc_app SET updated_at = timestamptz '2027-01-02' WHERE id = 6`)
	if it := export(app, "-t", "inc_app", "--incremental-lookback", "1h"); it.Mode != engine.ModeLookback ||
		!strings.Contains(it.LowerBound, "3600000000 microseconds") || !strings.HasPrefix(it.ScanPlan, "Index") || it.EstRows > 100 {
		t.Errorf("--incremental-lookback 1h: mode %q from %q, planner %q, %d rows estimated: want the index range", it.Mode, it.LowerBound, it.ScanPlan, it.EstRows)
	}

	role := "s3://" + bucket + "/" + testenv.Prefix(t, client, bucket)
	dsn := testenv.AsRole(t, "pg2s3_incstats", "incstats-pw")
	export(role, "-t", "inc_role", "--dsn", dsn)
	if s := runStates(t, role); len(s) != 1 || s[0].Horizon != "" || !strings.Contains(s[0].HorizonWhy, "pg_read_all_stats") {
		t.Errorf("a role without pg_read_all_stats: the run's horizon %+v", s)
	}
	testenv.Psql(t, `UPDATE inc_role SET updated_at = now() WHERE id = 5`)
	if it := export(role, "-t", "inc_role"); it.Mode != engine.ModeFullScan || !strings.Contains(it.FullScanWhy, "pg_read_all_stats") {
		t.Errorf("after a run that could not see the transactions: mode %q (%q), want a full scan that says why", it.Mode, it.FullScanWhy)
	}
}

// A prepared transaction open when a run takes its snapshot: when it started is not recorded, so
// the next run cannot bound its rows and reads the table whole, saying why, and exports the
// prepared transaction's row once it is committed.
func TestIncrementalPreparedTransaction(t *testing.T) {
	bucket, client := testenv.Stack(t)
	if strings.TrimSpace(testenv.PsqlValue(t, "SHOW max_prepared_transactions")) == "0" {
		t.Skip("the server takes no prepared transactions (max_prepared_transactions = 0; scripts/stack.sh sets 10)")
	}
	rollback := func() {
		if strings.TrimSpace(testenv.PsqlValue(t, "SELECT count(*) FROM pg_prepared_xacts WHERE gid = 'pg2s3_inc_prep'")) != "0" {
			testenv.Psql(t, "ROLLBACK PREPARED 'pg2s3_inc_prep'")
		}
	}
	rollback()
	testenv.Psql(t, `DROP TABLE IF EXISTS inc_prep; CREATE TABLE inc_prep (id int PRIMARY KEY, updated_at timestamptz NOT NULL DEFAULT now());
		INSERT INTO inc_prep SELECT g, now() - interval '1 day' FROM generate_series(1, 20000) g;
		CREATE INDEX ON inc_prep (updated_at); ANALYZE inc_prep;`)
	testenv.Psql(t, `BEGIN; INSERT INTO inc_prep (id) VALUES (0); PREPARE TRANSACTION 'pg2s3_inc_prep';`)
	t.Cleanup(func() { rollback(); testenv.Psql(t, "DROP TABLE IF EXISTS inc_prep") })
	base := "s3://" + bucket + "/" + testenv.Prefix(t, client, bucket)
	export := func() {
		t.Helper()
		if r := pg2s3(t, nil, "export", "-t", "inc_prep", "--to", base, "--incremental", "updated_at", "-q"); r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
	}
	export()
	testenv.Psql(t, `COMMIT PREPARED 'pg2s3_inc_prep'`)
	export()
	states := runStates(t, base)
	if len(states) != 2 || !strings.Contains(states[0].HorizonWhy, "prepared transactions") {
		t.Fatalf("run 1 with a prepared transaction open recorded %+v", states)
	}
	it := states[1].Tables[0]
	if it.Mode != engine.ModeFullScan || !strings.Contains(it.FullScanWhy, "prepared transactions") {
		t.Errorf("run 2: mode %q (%q), want a full scan that says why", it.Mode, it.FullScanWhy)
	}
	rows := linesByTable(t, client, readManifest(t, client, states[1].Manifest))[`"public"."inc_prep"`]
	if len(rows) != 1 || !strings.HasPrefix(rows[0], "0,") {
		t.Errorf("run 2 exported %v, want the prepared transaction's row", rows)
	}
}
