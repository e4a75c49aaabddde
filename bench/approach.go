package bench

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"strconv"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pg2s3/pg2s3/copyout"
)

// Approaches, in the order they are reported.
const (
	Copy   = "copy"   // COPY (query) TO STDOUT, streamed: what pg2s3 export does
	Cursor = "cursor" // DECLARE CURSOR, FETCH n at a time, CSV encoded in the client, streamed
	Memory = "memory" // the whole result held in memory, CSV encoded in memory, one PutObject
	// Parquet is COPY (FORMAT binary) decoded into Parquet: what a Parquet export does.
	// Its output is not CSV: its rows, not its sha256, are compared with copy's.
	Parquet = "parquet"
)

// AllApproaches lists every approach.
var AllApproaches = []string{Copy, Cursor, Memory, Parquet}

// cursorCSV runs query through a server-side cursor, fetching batch rows at a time, and writes
// them as PostgreSQL's CSV to w. It is the classic recipe (SQLAlchemy's stream_results with a
// csv.writer) done as fast as Go allows: text-format results, no per-value allocation, one buffer.
func cursorCSV(ctx context.Context, conn *pgconn.PgConn, query string, batch int, w io.Writer) (rows int64, err error) {
	if err := copyout.Begin(ctx, conn, ""); err != nil {
		return 0, err
	}
	if _, err := conn.Exec(ctx, "DECLARE pg2s3_bench NO SCROLL CURSOR FOR "+query).ReadAll(); err != nil {
		return 0, err
	}
	bw := bufio.NewWriterSize(w, 256<<10)
	enc := newEncoder(bw)
	fetch := "FETCH " + strconv.Itoa(batch) + " FROM pg2s3_bench"
	for {
		mrr := conn.Exec(ctx, fetch)
		n := int64(0)
		for mrr.NextResult() {
			rr := mrr.ResultReader()
			for rr.NextRow() {
				if err := enc.WriteRow(rr.Values()); err != nil {
					mrr.Close()
					return rows, err
				}
				n++
			}
			if _, err := rr.Close(); err != nil {
				mrr.Close()
				return rows, err
			}
		}
		if err := mrr.Close(); err != nil {
			return rows, err
		}
		rows += n
		if n < int64(batch) {
			break
		}
	}
	if err := enc.Flush(); err != nil {
		return rows, err
	}
	return rows, copyout.Commit(ctx, conn)
}

// memoryCSV runs query, holds every row in memory, then encodes the whole CSV in memory: the naive
// recipe (fetchall, then write). Values are copied into large shared chunks rather than allocated
// one by one, which is as kind to the approach as Go can be.
func memoryCSV(ctx context.Context, conn *pgconn.PgConn, query string) ([]byte, int64, error) {
	if err := copyout.Begin(ctx, conn, ""); err != nil {
		return nil, 0, err
	}
	var (
		arena  []byte
		chunks [][]byte
		rows   [][][]byte
	)
	mrr := conn.Exec(ctx, query)
	for mrr.NextResult() {
		rr := mrr.ResultReader()
		for rr.NextRow() {
			vals := rr.Values()
			row := make([][]byte, len(vals))
			for i, v := range vals {
				if v == nil {
					continue
				}
				if arena == nil || cap(arena)-len(arena) < len(v) {
					chunks = append(chunks, arena)
					arena = make([]byte, 0, max(4<<20, len(v)))
				}
				start := len(arena)
				arena = append(arena, v...)
				row[i] = arena[start:len(arena):len(arena)]
			}
			rows = append(rows, row)
		}
		if _, err := rr.Close(); err != nil {
			mrr.Close()
			return nil, 0, err
		}
	}
	if err := mrr.Close(); err != nil {
		return nil, 0, err
	}
	_ = chunks // kept alive with rows: the point of this approach is that everything is held
	var buf bytes.Buffer
	bw := bufio.NewWriterSize(&buf, 256<<10)
	enc := newEncoder(bw)
	for _, r := range rows {
		if err := enc.WriteRow(r); err != nil {
			return nil, 0, err
		}
	}
	if err := enc.Flush(); err != nil {
		return nil, 0, err
	}
	if err := copyout.Commit(ctx, conn); err != nil {
		return nil, 0, err
	}
	return buf.Bytes(), int64(len(rows)), nil
}
