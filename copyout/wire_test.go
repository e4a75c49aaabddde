package copyout

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

func message(typ byte, body []byte) []byte {
	m := []byte{typ, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(m[1:], uint32(4+len(body)))
	return append(m, body...)
}

// The reader frames the server's messages whatever the socket's reads cut them into (a byte at
// a time, half reads), across the buffer's end, and for a message bigger than the buffer; a
// stream that ends inside a message is an unexpected EOF, never a short message.
func TestWireReaderFraming(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 3*wireBufferSize/16+7)
	var stream []byte
	var want [][]byte
	for i := range 5000 {
		body := bytes.Repeat([]byte{byte('a' + i%26)}, 1+i%300)
		if i == 2500 {
			body = big
		}
		stream = append(stream, message('d', body)...)
		want = append(want, body)
	}
	stream = append(stream, message('Z', []byte("T"))...)
	for name, src := range map[string]func() io.Reader{
		"whole":    func() io.Reader { return bytes.NewReader(stream) },
		"one byte": func() io.Reader { return iotest.OneByteReader(bytes.NewReader(stream)) },
		"half":     func() io.Reader { return iotest.HalfReader(bytes.NewReader(stream)) },
		"data err": func() io.Reader { return iotest.DataErrReader(bytes.NewReader(stream)) },
	} {
		r := &wireReader{buf: make([]byte, wireBufferSize)}
		r.reset(src())
		for i, w := range want {
			typ, body, err := r.next()
			if err != nil || typ != 'd' || !bytes.Equal(body, w) {
				t.Fatalf("%s: message %d: %q, %d bytes, %v; want 'd', %d bytes", name, i, typ, len(body), err, len(w))
			}
		}
		if typ, body, err := r.next(); err != nil || typ != 'Z' || string(body) != "T" || r.buffered() != 0 {
			t.Fatalf("%s: the last message: %q %q %v, %d bytes left", name, typ, body, err, r.buffered())
		}
		if _, _, err := r.next(); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("%s: after the stream: %v, want io.ErrUnexpectedEOF", name, err)
		}
		r.reset(nil)
		if len(r.buf) != wireBufferSize {
			t.Errorf("%s: a big message's buffer (%d bytes) is kept", name, len(r.buf))
		}
	}
	for cut := 1; cut < 5+len(want[0]); cut++ { // inside the first message
		r := &wireReader{buf: make([]byte, wireBufferSize)}
		r.reset(bytes.NewReader(stream[:cut]))
		if _, _, err := r.next(); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("a stream cut after %d bytes: %v, want io.ErrUnexpectedEOF", cut, err)
		}
	}
	r := &wireReader{buf: make([]byte, wireBufferSize)}
	r.reset(bytes.NewReader([]byte{'d', 0, 0, 0, 3}))
	if _, _, err := r.next(); err == nil {
		t.Error("a length below 4 was accepted")
	}
}
