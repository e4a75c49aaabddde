package copyout

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/jackc/pgx/v5/pgproto3"
)

// copyTo runs sql, a COPY ... TO STDOUT, on conn and hands each CopyData message's payload to w,
// as pgconn's CopyTo does, but reads the COPY's messages from the socket itself, into a buffer of
// its own: pgconn's message loop (pgproto3's 8 KiB reads, a decoded message per row) was a fifth of
// the client's CPU on a COPY to stdout. pgconn stays the connection's owner: copyTo starts only
// when pgconn has nothing buffered (SyncConn), sends the Query and reads exactly up to the
// ReadyForQuery that ends it, so pgconn finds the connection as it left it. Cancellation is pgconn's
// own (a cancel request, then a deadline CancelDelay later). A failed write to w, a broken
// connection, or bytes after the ReadyForQuery close the connection, as pgconn does.
func copyTo(ctx context.Context, conn *pgconn.PgConn, w io.Writer, sql string) (pgconn.CommandTag, error) {
	if err := ctx.Err(); err != nil {
		return pgconn.CommandTag{}, err
	}
	if err := conn.SyncConn(ctx); err != nil {
		return pgconn.CommandTag{}, err
	}
	nc := conn.Conn()
	if ctx.Done() != nil {
		cw := ctxwatch.NewContextWatcher(&pgconn.CancelRequestContextWatcherHandler{Conn: conn, DeadlineDelay: cancelDelay})
		cw.Watch(ctx)
		defer cw.Unwatch()
	}
	broken := func(err error) (pgconn.CommandTag, error) {
		nc.Close() // the protocol's state is unknown: pgconn's next use fails instead of misreading
		conn.Close(context.Background())
		if ctx.Err() != nil {
			return pgconn.CommandTag{}, fmt.Errorf("%w (%w)", context.Cause(ctx), err)
		}
		return pgconn.CommandTag{}, err
	}
	q, err := (&pgproto3.Query{String: sql}).Encode(nil)
	if err != nil {
		return pgconn.CommandTag{}, err
	}
	if _, err := nc.Write(q); err != nil {
		return broken(err)
	}
	r := wireReaders.Get().(*wireReader)
	defer func() { r.reset(nil); wireReaders.Put(r) }()
	r.reset(nc)
	bulk, _ := nc.(interface{ setBulk(bool) }) // rawReadConn (Linux, not under TLS): batched wake-ups
	if bulk != nil {
		defer bulk.setBulk(false)
	}
	var tag pgconn.CommandTag
	var pgErr error
	for {
		typ, body, err := r.next()
		if err != nil {
			return broken(err)
		}
		switch typ {
		case 'd': // CopyData
			if _, err := w.Write(body); err != nil {
				return broken(err)
			}
		case 'H', 'c': // CopyOutResponse, CopyDone: the data's start and end
			if bulk != nil {
				bulk.setBulk(typ == 'H')
			}
		case 'N', 'S', 'A': // a notice, a parameter's new value, a notification
		case 'C': // CommandComplete
			if len(body) > 0 {
				tag = pgconn.NewCommandTag(string(body[:len(body)-1]))
			}
		case 'E': // ErrorResponse; ReadyForQuery follows
			if bulk != nil {
				bulk.setBulk(false)
			}
			var msg pgproto3.ErrorResponse
			if err := msg.Decode(body); err != nil {
				return broken(err)
			}
			pgErr = pgconn.ErrorResponseToPgError(&msg)
			if e := pgErr.(*pgconn.PgError); e.Severity == "FATAL" || e.Severity == "PANIC" {
				return broken(pgErr) // the server closes the connection
			}
		case 'Z': // ReadyForQuery: the COPY is over
			if r.buffered() > 0 { // (the server sends nothing unasked; pgconn would miss these bytes)
				return broken(fmt.Errorf("%d unexpected bytes from the server after the COPY", r.buffered()))
			}
			return tag, pgErr
		default:
			return broken(fmt.Errorf("unexpected message %q from the server during COPY", typ))
		}
	}
}

// wireReader frames the server's messages from the socket: a type byte, a length, a body.
type wireReader struct {
	nc     io.Reader
	buf    []byte
	rp, wp int
}

// wireBufferSize is the socket read buffer: each read(2) takes what the socket holds, up to this.
const wireBufferSize = 64 << 10

var wireReaders = sync.Pool{New: func() any { return &wireReader{buf: make([]byte, wireBufferSize)} }}

func (r *wireReader) reset(nc io.Reader) {
	r.nc, r.rp, r.wp = nc, 0, 0
	if len(r.buf) > wireBufferSize { // a big message's buffer is not kept
		r.buf = make([]byte, wireBufferSize)
	}
}

func (r *wireReader) buffered() int { return r.wp - r.rp }

// next returns the next message; its body is valid until the next call.
func (r *wireReader) next() (byte, []byte, error) {
	if err := r.fill(5); err != nil {
		return 0, nil, err
	}
	typ := r.buf[r.rp]
	n := int(binary.BigEndian.Uint32(r.buf[r.rp+1:]))
	if n < 4 {
		return 0, nil, fmt.Errorf("invalid message length %d from the server", n)
	}
	if err := r.fill(1 + n); err != nil {
		return 0, nil, err
	}
	body := r.buf[r.rp+5 : r.rp+1+n]
	r.rp += 1 + n
	return typ, body, nil
}

// fill makes n bytes of the current message available from r.rp.
func (r *wireReader) fill(n int) error {
	if r.wp-r.rp >= n {
		return nil
	}
	// Move the message's start to the front when it does not fit, or when less than half the
	// buffer is left for the read (a batched wake-up, rawReadConn's bulkMark, brings 48 KiB);
	// grow for a big message.
	if r.rp+n > len(r.buf) || r.rp > 0 && len(r.buf)-r.wp < wireBufferSize/2 {
		buf := r.buf
		if n > len(buf) {
			buf = make([]byte, n)
		}
		r.wp = copy(buf, r.buf[r.rp:r.wp])
		r.rp, r.buf = 0, buf
	}
	for r.wp-r.rp < n {
		m, err := r.nc.Read(r.buf[r.wp:])
		r.wp += m
		if err != nil {
			if r.wp-r.rp >= n {
				return nil
			}
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
	}
	return nil
}
