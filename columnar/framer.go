package columnar

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/pg2s3/pg2s3/copyout"
)

// signature opens every binary COPY stream (then a flags word and a header extension).
var signature = []byte("PGCOPY\n\377\r\n\x00")

// Framer is the RowWriter in front of the splitter on the Parquet path: it checks and strips the
// binary COPY header (which PostgreSQL sends in the same CopyData message as the first row) and the
// trailer, and hands Next exactly one tuple at a time, so that rows are counted and objects split
// between rows as on the CSV path. It does not assume one tuple per message: a message holding
// several is split, and a tuple cut across messages is put together first.
type Framer struct {
	Next copyout.RowWriter

	header  bool // seen
	trailer bool // seen: nothing may follow
	pending []byte
}

// WriteRow takes one CopyData message.
func (f *Framer) WriteRow(msg []byte) error {
	if !f.header {
		if len(f.pending) > 0 || len(msg) < len(signature)+8 {
			f.pending = append(f.pending, msg...)
			msg = f.pending
			if len(msg) < len(signature)+8 {
				return nil
			}
		}
		if !bytes.Equal(msg[:len(signature)], signature) {
			return errors.New("the server's COPY output does not start with the binary COPY signature")
		}
		if flags := binary.BigEndian.Uint32(msg[len(signature):]); flags&0xFFFF0000 != 0 {
			return fmt.Errorf("binary COPY header flags %#x: a critical flag this reader does not know", flags)
		}
		ext := int(binary.BigEndian.Uint32(msg[len(signature)+4:]))
		skip := len(signature) + 8 + ext
		if len(msg) < skip {
			f.pending = append(f.pending[:0], msg...)
			return nil
		}
		f.header = true
		rest := append([]byte(nil), msg[skip:]...)
		f.pending = f.pending[:0]
		return f.tuples(rest)
	}
	return f.tuples(msg)
}

func (f *Framer) tuples(b []byte) error {
	if len(f.pending) > 0 {
		f.pending = append(f.pending, b...)
		b = append([]byte(nil), f.pending...)
		f.pending = f.pending[:0]
	}
	for len(b) > 0 {
		if f.trailer {
			return errors.New("binary COPY data after the trailer")
		}
		if len(b) >= 2 && int16(binary.BigEndian.Uint16(b)) == -1 {
			f.trailer = true
			b = b[2:]
			continue
		}
		size, _ := tupleSize(b)
		if size == 0 {
			f.pending = append(f.pending, b...)
			return nil
		}
		if err := f.Next.WriteRow(b[:size]); err != nil {
			return err
		}
		b = b[size:]
	}
	return nil
}

// Finish says whether the stream ended as binary COPY ends: after its trailer, nothing pending.
func (f *Framer) Finish() error {
	if !f.header || !f.trailer || len(f.pending) > 0 {
		return errors.New("the binary COPY stream ended early (no trailer)")
	}
	return nil
}
