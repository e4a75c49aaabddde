package copyout

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/jackc/pgx/v5/pgconn"
)

// BufferSize is the buffer between pgconn's one-Write-per-row and the destination.
const BufferSize = 256 << 10

// Progress counts what a COPY produced so far; safe to read while Run writes it.
type Progress struct {
	Messages atomic.Int64 // CopyData messages: rows, plus one for a header line
	Bytes    atomic.Int64
}

// RowWriter receives a COPY one row (one CopyData message) at a time; the slice is reused after
// WriteRow returns. With a header, the first call carries the header line.
type RowWriter interface {
	WriteRow(row []byte) error
}

// Begin starts the transaction every COPY runs in: REPEATABLE READ, READ ONLY, and, when snapshot
// is not empty, inside that exported snapshot (pg_export_snapshot), so that every COPY of a run sees
// the same instant.
func Begin(ctx context.Context, conn *pgconn.PgConn, snapshot string) error {
	if err := exec(ctx, conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"); err != nil {
		return fmt.Errorf("starting the read-only transaction: %w", err)
	}
	if snapshot != "" {
		if err := exec(ctx, conn, "SET TRANSACTION SNAPSHOT "+QuoteLiteral(snapshot)); err != nil {
			return &SnapshotError{ID: snapshot, Err: err}
		}
	}
	return nil
}

// SnapshotError is a snapshot that could not be joined: the process that exported it ended, or
// the ID is wrong.
type SnapshotError struct {
	ID  string
	Err error
}

func (e *SnapshotError) Error() string {
	return fmt.Sprintf("joining snapshot %s (is the process that holds it still running?): %v", e.ID, e.Err)
}

func (e *SnapshotError) Unwrap() error { return e.Err }

// Commit ends the transaction Begin started.
func Commit(ctx context.Context, conn *pgconn.PgConn) error {
	if err := exec(ctx, conn, "COMMIT"); err != nil {
		return fmt.Errorf("committing the read-only transaction: %w", err)
	}
	return nil
}

// Copy runs stmt (a COPY ... TO STDOUT) on conn, in the caller's transaction, and hands the rows one
// by one (one CopyData message each) to rw, which does its own buffering. It returns the number of
// rows from COPY's command tag. p may be nil.
func Copy(ctx context.Context, conn *pgconn.PgConn, stmt Statement, rw RowWriter, p *Progress) (int64, error) {
	if p == nil {
		p = &Progress{}
	}
	ra := &rowAdapter{rw: rw, p: p}
	tag, err := copyTo(ctx, conn, ra, stmt.SQL)
	ra.publish()
	if err != nil {
		return 0, wrapQueryError(ctx, err, stmt, ra.err, p.Bytes.Load())
	}
	return tag.RowsAffected(), nil
}

// Run is Begin, Copy into w through a BufferSize buffer, and Commit: one COPY's bytes, as the
// server sent them, on a connection of its own.
func Run(ctx context.Context, conn *pgconn.PgConn, stmt Statement, w io.Writer, p *Progress) (int64, error) {
	if err := Begin(ctx, conn, ""); err != nil {
		return 0, err
	}
	bw := &bufferedRows{w: bufio.NewWriterSize(w, BufferSize)}
	n, err := Copy(ctx, conn, stmt, bw, p)
	if err != nil {
		return 0, err
	}
	if err := bw.w.Flush(); err != nil {
		return 0, err
	}
	return n, Commit(ctx, conn)
}

// bufferedRows writes rows into a buffer (bufio copies; the slice is not kept).
type bufferedRows struct{ w *bufio.Writer }

func (b *bufferedRows) WriteRow(row []byte) error {
	_, err := b.w.Write(row)
	return err
}

// wrapQueryError turns a server error into a *QueryError; a failed destination write is returned as
// the destination's own error, which is the cause.
func wrapQueryError(ctx context.Context, err error, stmt Statement, writeErr error, written int64) error {
	if writeErr != nil {
		return writeErr
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return &QueryError{PgErr: pgErr, Stmt: stmt}
	}
	if ctx.Err() != nil {
		return fmt.Errorf("COPY: %w", err)
	}
	return fmt.Errorf("lost the connection to PostgreSQL during COPY, after %d bytes (%w); "+
		"a COPY stream cannot be resumed: run the export again", written, err)
}

func exec(ctx context.Context, conn *pgconn.PgConn, sql string) error {
	_, err := conn.Exec(ctx, sql).ReadAll()
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return &QueryError{PgErr: pgErr, Stmt: Statement{SQL: sql}}
	}
	return err
}

// rowAdapter sits where pgconn writes one CopyData message at a time: it hands each message to a
// RowWriter, counts it, and remembers the RowWriter's first error (the cause, when the COPY fails).
// The counts reach Progress every progressEvery messages rather than per row: a reader of Progress
// (a progress line twice a second) needs no finer grain, and a row costs no atomic operation.
type rowAdapter struct {
	rw  RowWriter
	p   *Progress
	err error

	msgs, bytes int64 // not yet added to p
}

const progressEvery = 256

func (r *rowAdapter) Write(b []byte) (int, error) {
	if err := r.rw.WriteRow(b); err != nil {
		if r.err == nil {
			r.err = err
		}
		return 0, err
	}
	r.msgs++
	r.bytes += int64(len(b))
	if r.msgs == progressEvery {
		r.publish()
	}
	return len(b), nil
}

// publish adds the pending counts to Progress.
func (r *rowAdapter) publish() {
	r.p.Messages.Add(r.msgs)
	r.p.Bytes.Add(r.bytes)
	r.msgs, r.bytes = 0, 0
}
