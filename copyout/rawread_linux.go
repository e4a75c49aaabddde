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
// monitor thread whenever the process was idle, that is on every wake-up of a COPY reader
// waiting for the server) saves a thread switch per socket read. Waiting for data still goes
// through the runtime's poller, so deadlines (the cancel path) work as before.
type rawReadConn struct {
	net.Conn
	rc syscall.RawConn
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
	return &rawReadConn{Conn: c, rc: rc}
}

func (c *rawReadConn) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	var n int
	var errno syscall.Errno
	err := c.rc.Read(func(fd uintptr) bool {
		for {
			r, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
			if e == syscall.EINTR {
				continue
			}
			n, errno = int(r), e
			return e != syscall.EAGAIN
		}
	})
	if err != nil {
		return 0, err
	}
	if errno != 0 {
		return 0, &net.OpError{Op: "read", Net: c.LocalAddr().Network(), Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: os.NewSyscallError("read", errno)}
	}
	if n == 0 {
		return 0, io.EOF
	}
	return n, nil
}
