package engine

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"
)

// keyCodec is how a partitioned COPY sends each row's partition values, as its leading fields (one
// per level), and how pg2s3 reads them back. A value is its text, as its output function gives it
// (as psql shows it), in the COPY's own format: the server adds a column and nothing more (measured
// on 2.5M rows: +0.05 s of server CPU on a 2.5 s COPY, where the hex of textsend cost +0.6 s and
// format() +0.2 s). Binary COPY sends the text (textSQL), whose bytes are the value's. Where the text
// would be ambiguous (text format with a NULL string of the user's, which the server does not
// escape; an ENCODING other than UTF8), each level is sent as n for NULL, or v and the hex of its
// text.
type keyCodec struct {
	levels               []Partition
	format               byte // 'c' (csv), 't' (text) or 'b' (binary)
	hex                  bool
	delim, quote, escape byte   // csv and text
	null                 string // the NULL marker (csv and text)
	buf                  []byte // binary: the keys cut off the last tuple
}

// keyCodec is the run's key codec (one per splitter: it keeps a buffer).
func (p *Plan) keyCodec() *keyCodec {
	k := &keyCodec{levels: p.cfg.PartitionBy}
	if p.cfg.Parquet != nil {
		k.format = 'b'
		return k
	}
	o := p.cfg.CSV
	k.format, k.delim, k.quote, k.null = 'c', ',', '"', ""
	if o.Format == "text" {
		k.format, k.delim, k.null = 't', '\t', `\N`
	}
	if o.Delimiter != "" {
		k.delim = o.Delimiter[0]
	}
	if o.Quote != "" {
		k.quote = o.Quote[0]
	}
	k.escape = k.quote
	if o.Escape != "" {
		k.escape = o.Escape[0]
	}
	if o.Null != nil {
		k.null = *o.Null
	}
	enc := strings.ToLower(strings.ReplaceAll(o.Encoding, "-", ""))
	k.hex = (k.format == 't' && o.Null != nil) || (enc != "" && enc != "utf8" && enc != "unicode")
	return k
}

// exprs are the key columns' SQL expressions, one per level.
func (k *keyCodec) exprs() []string {
	out := make([]string, len(k.levels))
	for i, p := range k.levels {
		switch {
		case k.hex:
			out[i] = fmt.Sprintf("CASE WHEN (%[1]s) IS NULL THEN 'n' ELSE 'v' || pg_catalog.encode(pg_catalog.textsend(pg_catalog.format('%%s', (%[1]s))), 'hex') END", p.Expr)
		case k.format == 'b':
			out[i] = textSQL(p.Expr)
		default:
			out[i] = "(" + p.Expr + ")"
		}
	}
	return out
}

// cut cuts the key fields off a row (a CSV or text line, or a binary tuple): key is their bytes as
// sent (equal keys are equal values), rest the row without them. key may be overwritten by the next
// cut.
func (k *keyCodec) cut(row []byte) (key, rest []byte) {
	if k.format == 'b' {
		end := 2
		for range k.levels {
			if len(row) < end+4 {
				return nil, row
			}
			l := int(int32(binary.BigEndian.Uint32(row[end:])))
			end += 4 + max(l, 0)
		}
		if len(row) < end {
			return nil, row
		}
		k.buf = append(k.buf[:0], row[2:end]...) // the count below overwrites the keys' last two bytes
		rest = row[end-2:]
		binary.BigEndian.PutUint16(rest, uint16(int(int16(binary.BigEndian.Uint16(row)))-len(k.levels)))
		return k.buf, rest
	}
	end := 0
	for i := range k.levels {
		n := k.fieldEnd(row[end:])
		end += n
		if end >= len(row) || row[end] != k.delim { // no field after the keys: the line end is the rest
			n := len(bytes.TrimRight(row, "\r\n"))
			return row[:n], row[n:]
		}
		if i < len(k.levels)-1 {
			end++
		}
	}
	return row[:end], row[end+1:]
}

// fieldEnd is the length of the field line starts with (before its delimiter or line end).
func (k *keyCodec) fieldEnd(line []byte) int {
	if k.format == 'c' && len(line) > 0 && line[0] == k.quote {
		for i := 1; i < len(line); i++ {
			switch {
			case line[i] == k.escape && k.escape != k.quote && i+1 < len(line) && (line[i+1] == k.quote || line[i+1] == k.escape):
				i++
			case line[i] == k.quote && k.escape == k.quote && i+1 < len(line) && line[i+1] == k.quote:
				i++
			case line[i] == k.quote:
				return i + 1
			}
		}
		return len(line)
	}
	for i := 0; i < len(line); i++ {
		switch {
		case line[i] == '\\' && k.format == 't':
			i++
		case line[i] == k.delim || line[i] == '\n' || line[i] == '\r':
			return i
		}
	}
	return len(line)
}

// decode reads a key back into its values.
func (k *keyCodec) decode(key []byte) ([]PartitionValue, error) {
	out := make([]PartitionValue, len(k.levels))
	for i := range k.levels {
		out[i].Name = k.levels[i].Name
		var field []byte
		if k.format == 'b' {
			if len(key) < 4 {
				return nil, fmt.Errorf("partition key %q is cut short", key)
			}
			l := int(int32(binary.BigEndian.Uint32(key)))
			key = key[4:]
			if l < 0 {
				continue // NULL
			}
			if len(key) < l {
				return nil, fmt.Errorf("partition key %q is cut short", key)
			}
			v := string(key[:l])
			out[i].Value, key = &v, key[l:]
			continue
		}
		n := k.fieldEnd(key)
		field, key = key[:n], key[min(n+1, len(key)):]
		v, null, err := k.value(field)
		if err != nil {
			return nil, fmt.Errorf("partition key %q: %w", field, err)
		}
		if !null {
			out[i].Value = &v
		}
	}
	if len(key) > 0 {
		return nil, fmt.Errorf("partition key has %d levels and more, want %d", len(k.levels), len(k.levels))
	}
	return out, nil
}

// value is a CSV or text field's value.
func (k *keyCodec) value(field []byte) (v string, null bool, err error) {
	switch {
	case k.hex:
		switch {
		case len(field) == 1 && field[0] == 'n':
			return "", true, nil
		case len(field) > 0 && field[0] == 'v':
			b, err := hex.DecodeString(string(field[1:]))
			return string(b), false, err
		}
		return "", false, fmt.Errorf("bad level %q", field)
	case k.format == 'c':
		if len(field) >= 2 && field[0] == k.quote && field[len(field)-1] == k.quote {
			return k.unquote(field[1 : len(field)-1]), false, nil
		}
		return string(field), string(field) == k.null, nil
	}
	if string(field) == k.null {
		return "", true, nil
	}
	return unescapeText(field), false, nil
}

// unquote reads a quoted CSV field's inside.
func (k *keyCodec) unquote(in []byte) string {
	var b strings.Builder
	for i := 0; i < len(in); i++ {
		if in[i] == k.escape && i+1 < len(in) && (in[i+1] == k.quote || in[i+1] == k.escape) {
			i++
		}
		b.WriteByte(in[i])
	}
	return b.String()
}

// unescapeText reads a text-format field: COPY TO escapes a backslash, the delimiter and the
// control characters below with a backslash.
func unescapeText(in []byte) string {
	var b strings.Builder
	for i := 0; i < len(in); i++ {
		c := in[i]
		if c == '\\' && i+1 < len(in) {
			i++
			c = in[i]
			switch c {
			case 'b':
				c = '\b'
			case 'f':
				c = '\f'
			case 'n':
				c = '\n'
			case 'r':
				c = '\r'
			case 't':
				c = '\t'
			case 'v':
				c = '\v'
			}
		}
		b.WriteByte(c)
	}
	return b.String()
}

// textSQL is expr's text as its output function gives it, NULL for NULL (format alone gives ”).
func textSQL(expr string) string {
	return "CASE WHEN (" + expr + ") IS NULL THEN NULL ELSE pg_catalog.format('%s', (" + expr + ")) END"
}

// keyValues are a leaf's fixed values (nil: NULL) as the levels' values.
func keyValues(ps []Partition, key []*string) []PartitionValue {
	out := make([]PartitionValue, len(ps))
	for i, p := range ps {
		out[i] = PartitionValue{Name: p.Name, Value: key[i]}
	}
	return out
}
