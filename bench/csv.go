package bench

import (
	"bufio"
	"bytes"
)

// encoder writes rows of PostgreSQL text-format values as PostgreSQL's own COPY ... (FORMAT csv)
// writes them, byte for byte (CopyAttributeOutCSV in src/backend/commands/copyto.c):
//
//   - NULL is an unquoted empty field; the empty string is "" (it would read back as NULL otherwise);
//   - a value is quoted when it contains the delimiter, the quote, CR or LF, and, in a one-column
//     row, when it is exactly \. (which would read back as the end-of-data marker);
//   - inside quotes, a quote is doubled; rows end with LF.
type encoder struct {
	w *bufio.Writer
}

// newEncoder returns an encoder writing to w (which it does not flush: call Flush).
func newEncoder(w *bufio.Writer) *encoder { return &encoder{w: w} }

// WriteRow writes one row; a nil value is NULL.
func (e *encoder) WriteRow(values [][]byte) error {
	single := len(values) == 1
	for i, v := range values {
		if i > 0 {
			e.w.WriteByte(',')
		}
		if v == nil {
			continue
		}
		if !needsQuote(v, single) {
			e.w.Write(v)
			continue
		}
		e.w.WriteByte('"')
		for {
			j := bytes.IndexByte(v, '"')
			if j < 0 {
				e.w.Write(v)
				break
			}
			e.w.Write(v[:j+1])
			e.w.WriteByte('"')
			v = v[j+1:]
		}
		e.w.WriteByte('"')
	}
	return e.w.WriteByte('\n')
}

// Flush flushes the underlying writer.
func (e *encoder) Flush() error { return e.w.Flush() }

func needsQuote(v []byte, single bool) bool {
	if len(v) == 0 {
		return true // "" is not NULL
	}
	if single && len(v) == 2 && v[0] == '\\' && v[1] == '.' {
		return true
	}
	for _, c := range v {
		if c == ',' || c == '"' || c == '\n' || c == '\r' {
			return true
		}
	}
	return false
}
