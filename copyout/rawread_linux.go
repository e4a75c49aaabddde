package copyout

import (
	"io"
	"net"
	"os"
	"syscall"
	"unsafe"
)

// rawReadConn reads the socket with a raw read(2): the socket is non-blocking, so the call
// never blocks, and skipping the runtime's syscall bookkeeping (which wakes the runtime's
// monitor thread whenever the process was idle, that is on every wake-up of a COPY reader waiting
// for the server) saves thread switches on every socket read. Waiting for data still goes through
// the runtime's poller, so deadlines (the cancel path) work as before.
//
// The read's arguments and results live in the struct, and the callback is a method value made
// once, so that a read allocates nothing. Reads are never concurrent: pgconn reads from one
// goroutine at a time, as net.Conn's own buffered readers assume.
type rawReadConn struct {
	net.Conn
	rc    syscall.RawConn
	read  func(fd uintptr) bool
	buf   []byte
	n     int
	errno syscall.Errno
}

func rawReads(c net.Conn) net.Conn {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return c
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return c
	}
	r := &rawReadConn{Conn: c, rc: rc}
	r.read = r.readFD
	return r
}

// readFD is one attempt; it returns false (wait for the poller) when nothing is there yet.
func (c *rawReadConn) readFD(fd uintptr) bool {
	for {
		n, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&c.buf[0])), uintptr(len(c.buf)))
		if e == syscall.EINTR {
			continue
		}
		c.n, c.errno = int(n), e
		return e != syscall.EAGAIN
	}
}

func (c *rawReadConn) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	c.buf = b
	err := c.rc.Read(c.read)
	c.buf = nil
	switch {
	case err != nil:
		return 0, err
	case c.errno != 0:
		return 0, &net.OpError{Op: "read", Net: c.LocalAddr().Network(), Source: c.LocalAddr(), Addr: c.RemoteAddr(),
			Err: os.NewSyscallError("read", c.errno)}
	case c.n == 0:
		return 0, io.EOF
	}
	return c.n, nil
}
