package copyout

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// socketPair is a TCP connection on 127.0.0.1: the server's end, and the client's end as copyout's
// connections have it (rawReads).
func socketPair(t *testing.T) (server net.Conn, client *rawReadConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s, err := ln.Accept()
	if err != nil {
		c.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	rc, ok := rawReads(c).(*rawReadConn)
	if !ok {
		t.Fatalf("rawReads(%T) is not a rawReadConn", c)
	}
	return s, rc
}

// mark is the client socket's SO_RCVLOWAT, and queued the bytes it holds unread; -1 if they
// cannot be read (closed).
func mark(c *rawReadConn) int {
	v, err := -1, error(nil)
	if cerr := c.rc.Control(func(fd uintptr) { v, err = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVLOWAT) }); cerr != nil || err != nil {
		return -1
	}
	return v
}

func queued(c *rawReadConn) int {
	v := -1
	c.rc.Control(func(fd uintptr) {
		var n int32
		if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCINQ, uintptr(unsafe.Pointer(&n))); e == 0 {
			v = int(n)
		}
	})
	return v
}

// The mark, end to end on a socket, driven by bytes: a COPY's stream of 2 MiB is read whole; once
// 1 MiB has streamed, the mark is raised (checked after a read that found its bytes already there,
// so that no wait, and so no timer, came between); the stream's last 20 bytes, below the mark,
// still arrive (the timer's fallback); after the COPY, the next read lowers the mark.
func TestBulkMark(t *testing.T) {
	s, c := socketPair(t)
	c.SetDeadline(time.Now().Add(2 * time.Minute)) // a hang fails the test, not the suite
	var data, tail []byte
	data = append(data, message('H', []byte{0, 0, 0})...)
	row := bytes.Repeat([]byte("x"), 1000)
	for len(data) < 2<<20 {
		data = append(data, message('d', row)...)
	}
	tail = append(message('c', nil), message('C', []byte("COPY 2099\x00"))...)
	tail = append(tail, message('Z', []byte("I"))...)
	written := make(chan struct{}) // closed when the first 1 MiB + 64 KiB are written, for the pause
	go func() {
		half := bulkAfter + 64<<10
		if _, err := s.Write(data[:half]); err != nil {
			return
		}
		close(written)
		if _, err := s.Write(data[half:]); err != nil {
			return
		}
		for queued(c) > 0 { // the client has read everything, and waits with the mark raised
			runtime.Gosched()
		}
		s.Write(tail)
	}()
	r := &wireReader{buf: make([]byte, wireBufferSize)}
	r.reset(c)
	var off, rows int
	paused, raisedSeen := false, false
	for {
		typ, body, err := r.next()
		if err != nil {
			t.Fatalf("after %d bytes: %v", off, err)
		}
		off += 5 + len(body)
		switch typ {
		case 'H', 'c':
			c.setBulk(typ == 'H')
		case 'd':
			rows++
			if !bytes.Equal(body, row) {
				t.Fatalf("row %d: %d bytes, want %d", rows, len(body), len(row))
			}
		}
		if typ == 'Z' {
			break
		}
		if !paused && c.streamed >= bulkAfter {
			// Wait until the socket holds a few rows, so that the next read, which raises the
			// mark, finds them without a wait.
			<-written
			for queued(c) < 4<<10 {
				runtime.Gosched()
			}
			paused = true
		} else if paused && mark(c) == bulkMark {
			raisedSeen = true
		}
	}
	if want := (len(data) - 8) / (5 + len(row)); rows != want || off != len(data)+len(tail) {
		t.Fatalf("%d rows, %d bytes; want %d rows, %d bytes", rows, off, want, len(data)+len(tail))
	}
	if !raisedSeen {
		t.Errorf("the mark was never %d bytes after %d bytes streamed", bulkMark, bulkAfter)
	}
	go s.Write([]byte("1"))
	var one [1]byte
	if n, err := c.Read(one[:]); n != 1 || err != nil {
		t.Fatalf("a read after the COPY: %d, %v", n, err)
	}
	if m := mark(c); m != 1 {
		t.Errorf("the mark after the COPY: %d, want 1", m)
	}
}

// A wait with the mark raised ends at the owner's deadline (pgconn's cancel path) with the
// deadline's error, whether the deadline was set before the wait or races with it; a wait with the
// mark raised that nothing ends but the timer falls back to a plain wait, which the owner's
// deadline ends as before.
func TestBulkMarkDeadline(t *testing.T) {
	for _, when := range []string{"before", "racing", "later"} {
		t.Run(when, func(t *testing.T) {
			_, c := socketPair(t) // the server sends nothing
			c.setBulk(true)
			c.streamed = bulkAfter // the next read raises the mark, then waits
			switch when {
			case "before":
				c.SetDeadline(time.Now())
			case "racing":
				go c.SetDeadline(time.Now().Add(time.Millisecond))
			case "later":
				c.SetReadDeadline(time.Now().Add(500 * bulkWait)) // (1 s: long after the timer, even on a loaded machine)
			}
			done := make(chan error, 1)
			go func() {
				_, err := c.Read(make([]byte, 100))
				done <- err
			}()
			select {
			case err := <-done:
				if !errors.Is(err, os.ErrDeadlineExceeded) {
					t.Fatalf("%v; want a deadline error", err)
				}
			case <-time.After(time.Minute): // (a guard against a hang only)
				c.Close()
				t.Fatal("the read did not end at the owner's deadline")
			}
			if when == "later" && mark(c) != 1 {
				t.Errorf("the mark after the timer: %d, want 1", mark(c))
			}
		})
	}
}

// Through PostgreSQL: a COPY whose server pauses (at its start, mid-stream, and ten rows before its
// end, with less than the mark to come) comes through whole; after it the mark is back to 1 and
// the next query's short answer is read. Over a Unix socket the mark is never raised.
func TestCopyBulkMark(t *testing.T) {
	dsn, sock := os.Getenv("PG2S3_TEST_DSN"), os.Getenv("PG2S3_TEST_PGSOCKET")
	if dsn == "" || sock == "" {
		t.Skip("PG2S3_TEST_DSN or PG2S3_TEST_PGSOCKET is not set: run the tests with `make test`")
	}
	const rows = 100000
	sql := fmt.Sprintf(`COPY (SELECT g, repeat('x', 200) FROM generate_series(1, %d) g
		WHERE g %% 20000 <> 1 AND g <> %d OR pg_sleep(0.1) IS NOT NULL) TO STDOUT WITH (FORMAT csv)`, rows, rows-10)
	var want bytes.Buffer
	for g := 1; g <= rows; g++ {
		fmt.Fprintf(&want, "%d,%s\n", g, bytes.Repeat([]byte("x"), 200))
	}
	for name, dsn := range map[string]string{"tcp": dsn, "unix": dsn + "&host=" + sock} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // a hang's guard only
			defer cancel()
			conn, err := Conn{DSN: dsn}.Connect(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(context.Background())
			rc, ok := conn.Conn().(*rawReadConn)
			if !ok {
				t.Fatalf("the connection is a %T, not a rawReadConn", conn.Conn())
			}
			var got bytes.Buffer
			w := writerFunc(func(p []byte) (int, error) {
				if name == "unix" && mark(rc) != 1 {
					t.Errorf("the mark over a Unix socket: %d", mark(rc))
				}
				return got.Write(p)
			})
			tag, err := copyTo(ctx, conn, w, sql)
			if err != nil {
				t.Fatal(err)
			}
			if tag.RowsAffected() != rows || !bytes.Equal(got.Bytes(), want.Bytes()) {
				t.Fatalf("COPY %d rows, %d bytes; want %d rows, %d bytes", tag.RowsAffected(), got.Len(), rows, want.Len())
			}
			if res, err := conn.Exec(ctx, "SELECT 1").ReadAll(); err != nil || len(res) != 1 || len(res[0].Rows) != 1 {
				t.Fatalf("the query after the COPY: %+v, %v", res, err)
			}
			if m := mark(rc); m != 1 {
				t.Errorf("the mark after the COPY and a query: %d, want 1", m)
			}
		})
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
