package engine

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/pg2s3/pg2s3/copyout"
	"github.com/pg2s3/pg2s3/upload"
)

// StateFolder holds the runs' state objects under the base prefix.
const StateFolder = "_pg2s3/"

// Incremental is one Incremental setting: Column for every table of the run that has it, or for
// Table only (as named: schema.table or table).
type Incremental struct {
	Table  string
	Column string
}

// ParseIncremental reads COLUMN or TABLE=COLUMN.
func ParseIncremental(s string) (Incremental, error) {
	table, col, ok := strings.Cut(s, "=")
	if !ok {
		table, col = "", s
	}
	table, col = strings.TrimSpace(table), strings.TrimSpace(col)
	if col == "" || (ok && table == "") {
		return Incremental{}, fmt.Errorf("want COLUMN or TABLE=COLUMN")
	}
	return Incremental{Table: table, Column: col}, nil
}

// RunState is what an incremental run recorded: its path, its manifest, its snapshot and, per
// table, what it exported and its high-water mark. The runs' states, listed in order under
// base/_pg2s3/, are the list of runs a loader reads.
type RunState struct {
	Run      int                `json:"run"`
	Path     string             `json:"path"`
	Manifest string             `json:"manifest"`
	Snapshot Snapshot           `json:"snapshot"`
	Xmin     uint64             `json:"snapshot_xmin"` // the snapshot's xmin, a full (64-bit) transaction ID
	Xmax     uint64             `json:"snapshot_xmax"`
	Previous int                `json:"previous_run,omitempty"` // 0: the first run of this base
	Tables   []IncrementalTable `json:"tables"`
	Dedupe   string             `json:"dedupe"`
	// The run's transaction horizon (see horizon): the next run's index ranges start there.
	Horizon    string `json:"xact_horizon,omitempty"`
	HorizonWhy string `json:"xact_horizon_unknown,omitempty"` // why there is none
}

// IncrementalTable is one table's part of a run.
type IncrementalTable struct {
	Table     string   `json:"table"`
	Column    string   `json:"column,omitempty"` // "": the table has no such column and is exported whole
	Type      string   `json:"type,omitempty"`
	HighWater *string  `json:"high_water_mark"` // max(column) in the run's snapshot; null: no rows
	Key       []string `json:"dedupe_key,omitempty"`
	// What this run exported: everything (Since 0), or the rows changed since run Since.
	Since          int     `json:"since_run"`
	SinceHighWater *string `json:"since_high_water_mark,omitempty"`
	SinceXmin      uint64  `json:"since_xmin,omitempty"`
	Filter         string  `json:"filter,omitempty"` // the condition the run's COPYs applied
	EstRows        int64   `json:"est_rows"`         // the planner's estimate of the rows exported
	// How the changed rows were found (ModeIndexRange, ModeLookback, ModeFullScan; "" for a
	// table's first run), from which lower bound of the column, and why the table was read whole.
	Mode        string `json:"mode,omitempty"`
	LowerBound  string `json:"lower_bound,omitempty"`
	FullScanWhy string `json:"full_scan_reason,omitempty"`
	ScanPlan    string `json:"planner_scan,omitempty"` // the planner's scan of the changed rows (its top node)
}

const dedupeRule = "rows may repeat across runs (never within one): keep, per dedupe_key, the row of the latest run"

// icebergDedupe is the rule of an incremental run into Iceberg tables: the tables do it.
const icebergDedupe = "none: each Iceberg table deletes the earlier versions of the changed rows by its primary key (equality deletes); a table without one is appended to"

// runPath is the folder of an incremental run under the base: run=YYYYMMDDTHHMMSSZ-NNNNNN-XXXXXXXX/,
// the start time (without colons, which Hadoop-style readers refuse in paths), the run's number
// (the folders sort in the runs' order) and 32 random bits: two runs that race from the same
// previous run, in the same second, still write apart, so the one that loses (its state write)
// removes only its own objects.
func runPath(base upload.URL, start time.Time, prev *RunState) upload.URL {
	n := 1
	if prev != nil {
		n = prev.Run + 1
	}
	return base.Join(fmt.Sprintf("run=%s-%06d-%08x/", start.UTC().Format("20060102T150405Z"), n, rand.Uint32()))
}

var stateKey = regexp.MustCompile(`^run-([0-9]{6,})\.json$`)

// runKeys lists the keys of the base's committed runs, by run number.
func runKeys(ctx context.Context, st upload.SmallObjects, base upload.URL) (map[int]string, error) {
	keys := map[int]string{}
	err := st.List(ctx, base.Join(StateFolder), "list the runs", func(k string) bool {
		if m := stateKey.FindStringSubmatch(strings.TrimPrefix(k, base.Key+StateFolder)); m != nil {
			n, _ := strconv.Atoi(m[1])
			keys[n] = k
		}
		return true
	})
	return keys, err
}

// readRun reads the state of run n. A state that is not one pg2s3 wrote for that run (edited, or
// replaced by another program) is an error of its own: the next run would start from nothing, or
// collide with a run that is there and blame a concurrent run.
func readRun(ctx context.Context, st upload.SmallObjects, bucket, key string, n int) (*RunState, error) {
	var s RunState
	found, err := getJSON(ctx, st, upload.URL{Bucket: bucket, Key: key}, &s)
	if err == nil && !found {
		err = fmt.Errorf("the run's state s3://%s/%s was listed, then gone", bucket, key)
	}
	if err != nil {
		return nil, err
	}
	if s.Run != n || s.Snapshot.ID == "" || s.Xmax == 0 || s.Path == "" {
		return nil, fmt.Errorf("s3://%s/%s is not the state pg2s3 wrote for run %d (it says run %d, snapshot %q): it was changed "+
			"by hand or by another program; put it back, or start the incremental export again under a new prefix", bucket, key, n, s.Run, s.Snapshot.ID)
	}
	return &s, nil
}

// latestRun reads the base's latest committed run, or nil for the first run.
func latestRun(ctx context.Context, st upload.SmallObjects, base upload.URL) (*RunState, error) {
	keys, err := runKeys(ctx, st, base)
	if err != nil || len(keys) == 0 {
		return nil, err
	}
	n := slices.Max(slices.Collect(maps.Keys(keys)))
	return readRun(ctx, st, base.Bucket, keys[n], n)
}

// Runs lists the base's committed runs after run since (0: all), in order: what is new for a
// loader that has loaded run since.
func Runs(ctx context.Context, client *s3.Client, base upload.URL, since int) ([]RunState, error) {
	st := upload.SmallObjects{Client: client}
	keys, err := runKeys(ctx, st, base)
	if err != nil {
		return nil, err
	}
	var out []RunState
	for _, n := range slices.Sorted(maps.Keys(keys)) {
		if n <= since {
			continue
		}
		s, err := readRun(ctx, st, base.Bucket, keys[n], n)
		if err != nil {
			return nil, err
		}
		out = append(out, *s)
	}
	return out, nil
}

func stateURL(base upload.URL, run int) upload.URL {
	return base.Join(fmt.Sprintf("%srun-%06d.json", StateFolder, run))
}

// planIncremental reads the previous run's state and gives every table its condition, inside the
// run's snapshot: the high-water mark, the snapshot's transaction horizon, the dedupe key, and the
// planner's estimate of the rows.
func (p *Plan) planIncremental(ctx context.Context) error {
	prev := p.prev
	res := p.coord.ExecParams(ctx, `SELECT pg_snapshot_xmin(pg_current_snapshot())::text, pg_snapshot_xmax(pg_current_snapshot())::text`,
		nil, nil, nil, nil).Read()
	if res.Err != nil {
		return fmt.Errorf("reading the snapshot's transaction horizon: %w", res.Err)
	}
	st := &RunState{Run: 1, Path: p.cfg.To.S3.String(), Manifest: p.manifestURL.String(), Snapshot: p.snap, Dedupe: dedupeRule,
		Horizon: p.horizon.At, HorizonWhy: p.horizon.Why}
	if p.cfg.TableFormat == "iceberg" {
		st.Dedupe = icebergDedupe
	}
	var e1, e2 error
	st.Xmin, e1 = strconv.ParseUint(string(res.Rows[0][0]), 10, 64)
	st.Xmax, e2 = strconv.ParseUint(string(res.Rows[0][1]), 10, 64)
	if err := cmp.Or(e1, e2); err != nil {
		return fmt.Errorf("reading the snapshot's transaction horizon (%q, %q): %w", res.Rows[0][0], res.Rows[0][1], err)
	}
	if prev != nil {
		st.Run, st.Previous = prev.Run+1, prev.Run
		if st.Xmax < prev.Xmin {
			return &ConfigError{Name: "Incremental", Value: p.base.String(), Reason: fmt.Sprintf(
				"the server's transaction counter (%d) is behind the previous run's (%d, run %d): another cluster? Export to a new prefix",
				st.Xmax, prev.Xmin, prev.Run)}
		}
	}
	var whole []string // tables without the run's column: exported whole, every run
	for _, t := range p.tables {
		if t.iceberg != nil { // every table's commit checks it still holds this run (icebergCommitter.check)
			t.icebergRun = t.iceberg.SnapshotSummary()[incrementalRunKey]
		}
		it, err := p.incrementalTable(ctx, t, prev, st.Xmax)
		if err != nil {
			return err
		}
		st.Tables = append(st.Tables, it)
		t.filter = it.Filter
		if t.iceberg != nil && it.Since > 0 && it.Column != "" {
			t.merge = true
			if keys := t.iceberg.Keys(); len(keys) > 0 {
				t.deletes = t.keyTable(keys)
			}
		}
		if it.Column == "" {
			whole = append(whole, t.String())
		}
	}
	if col := runColumn(p.cfg.Incremental); col != "" {
		if !slices.ContainsFunc(st.Tables, func(it IncrementalTable) bool { return it.Column == col }) {
			return &ConfigError{Name: "Incremental", Value: col, Reason: "no table of the run has that column: every run would export every table whole"}
		}
		for _, t := range whole {
			p.cfg.Logger.Warn("the table has no incremental column: it is exported whole, every run", "table", t, "column", col)
		}
	}
	for _, inc := range p.cfg.Incremental {
		if inc.Table != "" && !slices.ContainsFunc(p.tables, func(t *Table) bool { return t.matches(inc.Table) }) {
			return &ConfigError{Name: "Incremental", Value: inc.Table + "=" + inc.Column, Reason: "names a table the run does not export"}
		}
	}
	p.inc = st
	return nil
}

// runColumn is the column of the run-wide Incremental setting, if any.
func runColumn(incs []Incremental) string {
	for _, inc := range incs {
		if inc.Table == "" {
			return inc.Column
		}
	}
	return ""
}

// matches says whether name (as the user gave it: table, schema.table, or the quoted form) is t.
func (t *Table) matches(name string) bool {
	return name == t.Name || name == t.Schema+"."+t.Name || name == t.String()
}

// incrementalTable is t's part of the run: its column (the table's own setting, else the run's),
// its high-water mark, its condition since prev, and its dedupe key.
func (p *Plan) incrementalTable(ctx context.Context, t *Table, prev *RunState, xmax uint64) (IncrementalTable, error) {
	it := IncrementalTable{Table: t.String()}
	explicit := false
	for _, inc := range p.cfg.Incremental {
		switch {
		case inc.Table != "" && t.matches(inc.Table):
			it.Column, explicit = inc.Column, true
		case inc.Table == "" && it.Column == "":
			it.Column = inc.Column
		}
	}
	res := p.coord.ExecParams(ctx, `SELECT format_type(atttypid, atttypmod) FROM pg_attribute
		WHERE attrelid = $1::regclass AND attname = $2 AND attnum > 0 AND NOT attisdropped`,
		[][]byte{[]byte(t.String()), []byte(it.Column)}, nil, nil, nil).Read()
	if res.Err != nil {
		return it, fmt.Errorf("reading %s's columns: %w", t, res.Err)
	}
	if len(res.Rows) == 0 {
		if explicit {
			return it, &ConfigError{Name: "Incremental", Value: it.Column, Reason: "is not a column of " + t.String()}
		}
		it.Column = "" // exported whole, every run
		return it, nil
	}
	if t.Kind != "r" && t.Kind != "p" && t.Kind != "m" {
		return it, &ConfigError{Name: "Incremental", Value: it.Column, Reason: fmt.Sprintf(
			"%s is %s: its rows have no transaction ID (xmin), so changes cannot be told; give tables", t, kindName(t.Kind))}
	}
	it.Type = string(res.Rows[0][0])
	col := copyout.QuoteIdent(it.Column)
	hw := p.coord.ExecParams(ctx, "SELECT max("+col+")::text FROM "+t.String(), nil, nil, nil, nil).Read()
	if hw.Err != nil {
		return it, fmt.Errorf("the high-water mark of %s.%s (%s; an incremental column needs max(), as timestamps and numbers have): %w",
			t, it.Column, it.Type, hw.Err)
	}
	if v := hw.Rows[0][0]; v != nil {
		s := string(v)
		it.HighWater = &s
	}
	key, err := p.primaryKey(ctx, t)
	if err != nil {
		return it, err
	}
	it.Key = key
	if t.iceberg != nil { // the run the Iceberg table holds, which may be older than prev
		if prev, err = p.icebergSince(ctx, t, prev); err != nil {
			return it, err
		}
	}
	var before *IncrementalTable
	if prev != nil {
		if i := slices.IndexFunc(prev.Tables, func(p IncrementalTable) bool { return p.Table == it.Table && p.Column == it.Column }); i >= 0 {
			before = &prev.Tables[i]
		}
	}
	if before == nil { // the first run of this table (or of this column): everything
		it.EstRows = t.EstRows
		return it, nil
	}
	return it, p.planChanges(ctx, t, &it, prev, before, xmax)
}

// planChanges gives t's part of the run its condition on the rows changed since the run prev
// (before: t's part of it): the transaction horizon, the high-water mark and, where proven, the
// index range; and the planner's estimate and scan of those rows.
func (p *Plan) planChanges(ctx context.Context, t *Table, it *IncrementalTable, prev *RunState, before *IncrementalTable, xmax uint64) error {
	col := copyout.QuoteIdent(it.Column)
	it.Since, it.SinceHighWater, it.SinceXmin = prev.Run, before.HighWater, prev.Xmin
	it.Filter = changedSince(col, it.Type, before.HighWater, prev.Xmin, xmax)
	var err error
	if it.Mode, it.LowerBound, it.FullScanWhy, err = p.rangeMode(ctx, t, it, prev, before); err != nil {
		return err
	}
	if it.LowerBound != "" { // read through the index, in one chunk (page ranges would not use it)
		it.Filter = fmt.Sprintf("%s >= %s AND (%s)", col, it.LowerBound, it.Filter)
		t.rangeScan, t.leaves = true, nil
	}
	est := p.coord.ExecParams(ctx, "EXPLAIN (FORMAT JSON) SELECT * FROM "+t.String()+" WHERE "+it.Filter, nil, nil, nil, nil).Read()
	if est.Err != nil {
		return fmt.Errorf("estimating %s's changed rows: %w", t, est.Err)
	}
	var plan []struct {
		Plan struct {
			Rows  float64 `json:"Plan Rows"`
			Node  string  `json:"Node Type"`
			Index string  `json:"Index Name"`
		} `json:"Plan"`
	}
	if json.Unmarshal(est.Rows[0][0], &plan) == nil && len(plan) == 1 {
		it.EstRows = int64(plan[0].Plan.Rows)
		it.ScanPlan = strings.TrimSpace(plan[0].Plan.Node + " " + plan[0].Plan.Index)
	}
	return nil
}

// primaryKey is the names of t's primary key columns, in the key's order (none: no key).
func (p *Plan) primaryKey(ctx context.Context, t *Table) ([]string, error) {
	res := p.coord.ExecParams(ctx, `SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
		WHERE i.indrelid = $1::regclass AND i.indisprimary ORDER BY array_position(i.indkey::int2[], a.attnum)`,
		[][]byte{[]byte(t.String())}, nil, nil, nil).Read()
	if res.Err != nil {
		return nil, fmt.Errorf("reading %s's primary key: %w", t, res.Err)
	}
	var key []string
	for _, row := range res.Rows {
		key = append(key, string(row[0]))
	}
	return key, nil
}

func kindName(kind string) string {
	switch kind {
	case "v":
		return "a view"
	case "f":
		return "a foreign table"
	}
	return "relkind " + kind
}

// changedSince is the condition on the rows changed since a run whose snapshot had xmin prevXmin
// and whose high-water mark of col was prevHigh, evaluated in a snapshot whose xmax is xmax.
//
// A row's xmin is a 32-bit transaction ID; the snapshots' are full 64-bit IDs. Every row a
// snapshot sees was written less than 2^32 transactions before its xmax (PostgreSQL freezes or
// refuses to go on long before), so the row's full ID is xmax - ((xmax - xmin) mod 2^32), and it is
// at or above prevXmin when (xmax mod 2^32 - xmin) mod 2^32 <= xmax - prevXmin. When more than 2^32
// transactions passed between the runs, that cannot be told, and every row is exported. The
// special IDs below 3 (a row frozen by an old server, the bootstrap's rows) are never recent.
func changedSince(col, typ string, prevHigh *string, prevXmin, xmax uint64) string {
	delta := xmax - prevXmin
	xid := "true"
	if delta < 1<<32 {
		// 0, 1 and 2 are never a transaction's ID (invalid, bootstrap, frozen): such rows are old.
		xid = fmt.Sprintf("(xmin::text::bigint >= 3 AND ((%d - xmin::text::bigint + 4294967296) %% 4294967296) <= %d)", xmax%(1<<32), delta)
	}
	if prevHigh == nil {
		return xid
	}
	return fmt.Sprintf("%s > %s::%s OR %s", col, copyout.QuoteLiteral(*prevHigh), typ, xid)
}

// commitRun writes the run's state, last: from then on the run counts, and the next run starts
// from it. The write is conditional: of two runs of the same base that started from the same
// previous run, one commits and the other fails (and removes what it wrote).
func (r *run) commitRun(ctx context.Context) error {
	u := stateURL(r.base, r.inc.Run)
	exists, err := r.putOnce(ctx, u, r.inc)
	switch {
	case err != nil:
		return fmt.Errorf("writing the run's state %s: %w", u, err)
	case exists:
		return &ConcurrentRunError{Base: r.base.String(), Run: r.inc.Run, State: u.String()}
	}
	return nil
}
