package engine

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pg2s3/pg2s3/copyout"
)

// How an incremental run finds a table's changed rows (IncrementalTable.Mode).
const (
	// ModeIndexRange reads col >= bound through a btree index on the column, with the transaction
	// condition as a filter on that range: the bound is proven (see readHorizon).
	ModeIndexRange = "index-range"
	// ModeLookback reads col >= high-water mark - Config.IncrementalLookback: the user's bound,
	// for a column set from the application's clock.
	ModeLookback = "lookback"
	// ModeFullScan reads the whole table, filtered on the transaction condition: always
	// complete, at the cost of the table (IncrementalTable.FullScanWhy says why).
	ModeFullScan = "full-scan"
)

// A horizon is a time at or before the start of every transaction that was running when the run's
// snapshot was taken, read just before it was: the oldest transaction start then (pg_stat_activity),
// or the clock then, whichever is earlier (less horizonMargin). A transaction that started later
// has a later clock.
// Why says why there is none (the time is then "").
//
// The next run uses it: a row that run N+1 sees and run N did not was written by a transaction
// that had not committed at N's snapshot, so it started at or after N's horizon; a column whose
// every write is stamped from the writer's clock (now(), clock_timestamp(), ...) holds a value at
// or after that start. So col >= N's horizon holds every changed row. (N's high-water mark adds
// nothing: a row above it was not visible to N, so it changed.)
type horizon struct{ At, Why string }

// horizonMargin is taken off the horizon for the instant between a statement's arrival, which
// is its transaction's clock (now()), and the backend showing it in pg_stat_activity (as
// query_start, then xact_start).
const horizonMargin = time.Second

// readHorizon reads the horizon on conn, before the run's snapshot is taken on it.
func readHorizon(ctx context.Context, conn *pgconn.PgConn) (horizon, error) {
	res := conn.ExecParams(ctx, `SELECT to_char((least(clock_timestamp(), min(xact_start) FILTER (WHERE pid <> pg_backend_pid()),
			min(query_start) FILTER (WHERE pid <> pg_backend_pid() AND state <> 'idle')) - $1::interval)
			AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00',
		count(*) FILTER (WHERE query = '<insufficient privilege>'), (SELECT count(*) FROM pg_prepared_xacts)
		FROM pg_stat_activity`, [][]byte{[]byte(horizonMargin.String())}, nil, nil, nil).Read()
	if res.Err != nil {
		return horizon{}, fmt.Errorf("reading the transactions' starts (pg_stat_activity): %w", res.Err)
	}
	row := res.Rows[0]
	switch {
	case string(row[1]) != "0":
		return horizon{Why: "the role cannot see other sessions' transaction starts (grant it pg_read_all_stats)"}, nil
	case string(row[2]) != "0":
		return horizon{Why: "prepared transactions were open (pg_prepared_xacts): when they started is not known"}, nil
	}
	return horizon{At: string(row[0])}, nil
}

// clockDefaults are the column defaults that stamp a row from the writer's clock, at or after its
// transaction's start, as PostgreSQL prints them.
var clockDefaults = []string{"now()", "CURRENT_TIMESTAMP", "transaction_timestamp()", "statement_timestamp()", "clock_timestamp()"}

// rangeMode chooses how t's changed rows are found, after the previous run prev (before: t's part
// of it), and returns the lower bound of the range (a literal of the column's type), or "" and
// why the table is read whole.
func (p *Plan) rangeMode(ctx context.Context, t *Table, it *IncrementalTable, prev *RunState, before *IncrementalTable) (mode, bound, why string, err error) {
	if lb := p.cfg.IncrementalLookback; lb > 0 {
		if !strings.HasPrefix(it.Type, "timestamp") && it.Type != "date" {
			return "", "", "", &ConfigError{Name: "IncrementalLookback", Value: lb.String(),
				Reason: fmt.Sprintf("goes back in time: %s.%s is %s, not a timestamp or a date", t, it.Column, it.Type)}
		}
		if before.HighWater == nil {
			return ModeFullScan, "", "the previous run saw no rows: no high-water mark to go back from", nil
		}
		return ModeLookback, fmt.Sprintf("(%s::%s - interval '%d microseconds')", copyout.QuoteLiteral(*before.HighWater), it.Type, lb.Microseconds()), "", nil
	}
	if prev.Horizon == "" {
		why := prev.HorizonWhy
		if why == "" {
			why = "no transaction horizon was recorded (an older pg2s3 wrote its state)"
		}
		return ModeFullScan, "", "at the previous run, " + why, nil
	}
	if it.Type != "timestamp with time zone" {
		return ModeFullScan, "", fmt.Sprintf("%s is %s: only a timestamptz is comparable with the transactions' starts "+
			"(give Config.IncrementalLookback for a column the application sets)", it.Column, it.Type), nil
	}
	res := p.coord.ExecParams(ctx, `SELECT a.attnotnull, coalesce(pg_get_expr(d.adbin, d.adrelid), ''),
		EXISTS (SELECT FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am am ON am.oid = c.relam
			WHERE i.indrelid = a.attrelid AND i.indkey[0] = a.attnum AND am.amname = 'btree' AND i.indpred IS NULL AND i.indisvalid)
		FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
		WHERE a.attrelid = $1::regclass AND a.attname = $2`, [][]byte{[]byte(t.String()), []byte(it.Column)}, nil, nil, nil).Read()
	if res.Err != nil {
		return "", "", "", fmt.Errorf("reading %s.%s's default and indexes: %w", t, it.Column, res.Err)
	}
	row := res.Rows[0]
	def := string(row[1])
	switch {
	case string(row[0]) != "t":
		return ModeFullScan, "", it.Column + " may be NULL: such rows are outside any range", nil
	case !isClockDefault(def):
		return ModeFullScan, "", fmt.Sprintf("%s's default (%q) is not the writer's clock (now()): its values may come from elsewhere "+
			"(give Config.IncrementalLookback for a column the application sets)", it.Column, def), nil
	case string(row[2]) != "t":
		return ModeFullScan, "", "no btree index begins with " + it.Column, nil
	}
	return ModeIndexRange, copyout.QuoteLiteral(prev.Horizon) + "::timestamptz", "", nil
}

func isClockDefault(def string) bool {
	if strings.HasPrefix(def, "(") && strings.HasSuffix(def, ")") {
		def = def[1 : len(def)-1]
	}
	for _, d := range clockDefaults {
		if def == d || strings.HasPrefix(def, d+"::") { // a cast to the column's own type
			return true
		}
	}
	return false
}
