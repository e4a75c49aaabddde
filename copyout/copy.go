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

// Run executes stmt (a COPY ... TO STDOUT) in a read-only transaction on conn and writes the server's
// bytes to w. It returns the number of rows from COPY's command tag. p may be nil.
func Run(ctx context.Context, conn *pgconn.PgConn, stmt Statement, w io.Writer, p *Progress) (int64, error) {
	return run(ctx, conn, "", stmt, w, nil, p)
}

// RunRows is Run inside the exported snapshot (pg_export_snapshot) named snapshot, when it is not
// empty, so that every COPY run in one snapshot sees the same instant; it hands the rows one by
// one, unbuffered, to rw (which does its own buffering), so that it can split the output on row
// boundaries.
func RunRows(ctx context.Context, conn *pgconn.PgConn, snapshot string, stmt Statement, rw RowWriter, p *Progress) (int64, error) {
	return run(ctx, conn, snapshot, stmt, io.Discard, rw, p)
}

func run(ctx context.Context, conn *pgconn.PgConn, snapshot string, stmt Statement, w io.Writer, rw RowWriter, p *Progress) (int64, error) {
	if err := exec(ctx, conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"); err != nil {
		return 0, fmt.Errorf("starting the read-only transaction: %w", err)
	}
	if snapshot != "" {
		if err := exec(ctx, conn, "SET TRANSACTION SNAPSHOT "+QuoteLiteral(snapshot)); err != nil {
			return 0, fmt.Errorf("joining snapshot %s: %w", snapshot, err)
		}
	}
	if p == nil {
		p = &Progress{}
	}
	cw := &countingWriter{w: w, p: p}
	bw := bufio.NewWriterSize(cw, BufferSize)
	var dst io.Writer = &messageWriter{w: bw, p: p}
	if rw != nil {
		dst = &rowAdapter{rw: rw, p: p, err: &cw.err}
	}
	tag, err := conn.CopyTo(ctx, dst, stmt.SQL)
	if err != nil {
		return 0, wrapQueryError(ctx, err, stmt, cw.err, p.Bytes.Load())
	}
	if err := bw.Flush(); err != nil {
		return 0, err
	}
	if err := exec(ctx, conn, "COMMIT"); err != nil {
		return 0, fmt.Errorf("committing the read-only transaction: %w", err)
	}
	return tag.RowsAffected(), nil
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

// messageWriter sits where pgconn writes one CopyData message at a time. It copies the message into
// the buffer (bufio copies; the slice is not kept) and counts it.
type messageWriter struct {
	w *bufio.Writer
	p *Progress
}

func (m *messageWriter) Write(b []byte) (int, error) {
	m.p.Messages.Add(1)
	return m.w.Write(b)
}

// countingWriter counts the bytes that reached the destination and remembers its first error.
type countingWriter struct {
	w   io.Writer
	p   *Progress
	err error
}

func (c *countingWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.p.Bytes.Add(int64(n))
	if err != nil && c.err == nil {
		c.err = err
	}
	return n, err
}

// rowAdapter hands each CopyData message to a RowWriter.
type rowAdapter struct {
	rw  RowWriter
	p   *Progress
	err *error
}

func (r *rowAdapter) Write(b []byte) (int, error) {
	r.p.Messages.Add(1)
	if err := r.rw.WriteRow(b); err != nil {
		if *r.err == nil {
			*r.err = err
		}
		return 0, err
	}
	r.p.Bytes.Add(int64(len(b)))
	return len(b), nil
}
