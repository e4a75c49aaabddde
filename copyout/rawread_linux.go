package copyout

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

// rawReadConn reads the socket with a raw read(2): the socket is non-blocking, so the call
// never blocks, and skipping the runtime's syscall bookkeeping (which wakes the runtime's
// monitor thread whenever the process was idle, that is on every wake-up of a COPY reader waiting
// for the server) saves thread switches on every socket read. Waiting for data still goes through
// the runtime's poller, so deadlines (the cancel path) still work.
//
// The read's arguments and results live in the struct, and the callback is a method value made
// once, so that a read allocates nothing. Reads are never concurrent: pgconn reads from one
// goroutine at a time, as net.Conn's own buffered readers assume.
//
// How it batches wake-ups while a COPY streams is a topic of the package documentation.
type rawReadConn struct {
	net.Conn
	rc    syscall.RawConn
	read  func(fd uintptr) bool
	buf   []byte
	n     int
	errno syscall.Errno

	tcp      bool // the mark applies: a Unix socket's poll ignores it
	bulk     bool // a COPY's data is streaming (setBulk)
	raised   bool // the socket's SO_RCVLOWAT is bulkMark, else 1
	streamed int  // bytes read in bulk mode since the COPY began or the mark was last lowered

	mu       sync.Mutex // the deadlines: the owner sets them from its cancel goroutine
	deadline time.Time  // the owner's read deadline
	timer    time.Time  // the mark's timer while a wait has it (set and cleared by the reader only)
}

const (
	bulkMark  = 48 << 10 // six of the server's 8 KiB sends per wake-up
	bulkAfter = 1 << 20  // a COPY streams this much before the mark is raised
	bulkWait  = 2 * time.Millisecond
)

func rawReads(c net.Conn) net.Conn {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return c
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return c
	}
	_, tcp := c.(*net.TCPConn)
	r := &rawReadConn{Conn: c, rc: rc, tcp: tcp}
	r.read = r.readFD
	return r
}

// setBulk says that a COPY's data starts streaming (on) or has ended. The mark changes on the
// next read.
func (c *rawReadConn) setBulk(on bool) {
	c.bulk, c.streamed = on && c.tcp, 0
}

// readFD is one attempt; it returns false (wait for the poller) when nothing is there yet.
func (c *rawReadConn) readFD(fd uintptr) bool {
	if c.bulk && !c.raised && c.streamed >= bulkAfter {
		if setMark(fd, bulkMark) == nil {
			c.raised = true
		} else {
			c.tcp, c.bulk = false, false // (not on this kernel)
		}
	}
	for {
		n, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&c.buf[0])), uintptr(len(c.buf)))
		if e == syscall.EINTR {
			continue
		}
		if e == syscall.EAGAIN && c.raised {
			c.arm()
		}
		c.n, c.errno = int(n), e
		return e != syscall.EAGAIN
	}
}

func setMark(fd uintptr, n int) error {
	return syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVLOWAT, n)
}

// lower sets the mark back to 1.
func (c *rawReadConn) lower() error {
	var err error
	if cerr := c.rc.Control(func(fd uintptr) { err = setMark(fd, 1) }); cerr != nil {
		err = cerr
	}
	if err != nil {
		return c.readError("setsockopt", err)
	}
	c.raised, c.streamed = false, 0
	return nil
}

// readError is a failed system call of a read, as net.Conn's own reads report one.
func (c *rawReadConn) readError(call string, err error) error {
	return &net.OpError{Op: "read", Net: c.LocalAddr().Network(), Source: c.LocalAddr(), Addr: c.RemoteAddr(),
		Err: os.NewSyscallError(call, err)}
}

// arm starts the mark's timer for the wait that follows (called inside the read callback, before
// the poller waits: the deadline applies to that wait).
func (c *rawReadConn) arm() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.timer = time.Now().Add(bulkWait)
	c.Conn.SetReadDeadline(c.earliest())
}

// disarm ends the timer and restores the owner's deadline. It reports whether that deadline is
// still ahead, that is whether a deadline error of the wait was the timer's.
func (c *rawReadConn) disarm() (ownerAhead bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.timer = time.Time{}
	c.Conn.SetReadDeadline(c.deadline)
	return c.deadline.IsZero() || time.Now().Before(c.deadline)
}

func (c *rawReadConn) earliest() time.Time {
	if c.timer.IsZero() || !c.deadline.IsZero() && c.deadline.Before(c.timer) {
		return c.deadline
	}
	return c.timer
}

func (c *rawReadConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deadline = t
	if err := c.Conn.SetWriteDeadline(t); err != nil {
		return err
	}
	return c.Conn.SetReadDeadline(c.earliest())
}

func (c *rawReadConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deadline = t
	return c.Conn.SetReadDeadline(c.earliest())
}

func (c *rawReadConn) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	if c.raised && !c.bulk {
		if err := c.lower(); err != nil {
			return 0, err
		}
	}
	c.buf = b
	err := c.rc.Read(c.read)
	if !c.timer.IsZero() && c.disarm() && errors.Is(err, os.ErrDeadlineExceeded) {
		// The mark's timer, not the owner's deadline: fewer bytes than the mark came in bulkWait.
		if err = c.lower(); err == nil {
			err = c.rc.Read(c.read)
		}
	}
	c.buf = nil
	switch {
	case err != nil:
		return 0, err
	case c.errno != 0:
		return 0, c.readError("read", c.errno)
	case c.n == 0:
		return 0, io.EOF
	}
	if c.bulk {
		c.streamed += c.n
	}
	return c.n, nil
}
