package columnar

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/pg2s3/pg2s3/copyout"
	"github.com/pg2s3/pg2s3/internal/testenv"
)

// numericText is an oracle written apart from the decoder: numeric's binary form rendered the way
// numeric_out does (src/backend/utils/adt/numeric.c, get_str_from_var), digit by digit, with
// dscale fractional digits. ok is false for a malformed value, NaN or an infinity.
func numericText(b []byte) (string, bool) {
	if len(b) < 8 {
		return "", false
	}
	be := binary.BigEndian
	ndigits, weight := int(int16(be.Uint16(b))), int(int16(be.Uint16(b[2:])))
	sign, dscale := be.Uint16(b[4:]), int(int16(be.Uint16(b[6:])))
	if ndigits < 0 || len(b) != 8+2*ndigits || dscale < 0 || (sign != 0 && sign != 0x4000) {
		return "", false
	}
	digit := func(i int) int { // the base-10000 digit of weight i (10000^i)
		k := weight - i
		if k < 0 || k >= ndigits {
			return 0
		}
		return int(be.Uint16(b[8+2*k:]))
	}
	for k := range ndigits {
		if be.Uint16(b[8+2*k:]) > 9999 {
			return "", false
		}
	}
	var s strings.Builder
	if sign == 0x4000 {
		s.WriteByte('-')
	}
	if weight < 0 {
		s.WriteByte('0')
	} else {
		fmt.Fprintf(&s, "%d", digit(weight))
		for i := weight - 1; i >= 0; i-- {
			fmt.Fprintf(&s, "%04d", digit(i))
		}
	}
	if dscale > 0 {
		var frac strings.Builder
		for i := -1; frac.Len() < dscale; i-- {
			fmt.Fprintf(&frac, "%04d", digit(i))
		}
		s.WriteString("." + frac.String()[:dscale])
	}
	return s.String(), true
}

// atScale renders a numeric's text with exactly scale fractional digits, or ok=false when its
// digits do not fit (precision, scale): what a DECIMAL(precision, scale) can hold.
func atScale(text string, precision, scale int) (string, bool) {
	r, ok := new(big.Rat).SetString(text)
	if !ok {
		return "", false
	}
	unscaled := new(big.Rat).Mul(r, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale)), nil)))
	if !unscaled.IsInt() {
		return "", false
	}
	n := unscaled.Num()
	if len(new(big.Int).Abs(n).String()) > precision && n.Sign() != 0 {
		return "", false
	}
	return formatUnscaled(n, scale), true
}

func formatUnscaled(n *big.Int, scale int) string {
	neg := n.Sign() < 0
	digits := new(big.Int).Abs(n).String()
	for len(digits) <= scale {
		digits = "0" + digits
	}
	s := digits
	if scale > 0 {
		s = digits[:len(digits)-scale] + "." + digits[len(digits)-scale:]
	}
	if neg {
		s = "-" + s
	}
	return s
}

// decoded renders a decoded DECIMAL value as text at the column's scale.
func decoded(c *Column, v parquet.Value) string {
	var n *big.Int
	switch {
	case c.Precision <= 9:
		n = big.NewInt(int64(v.Int32()))
	case c.Precision <= 18:
		n = big.NewInt(v.Int64())
	default:
		b := v.ByteArray()
		n = new(big.Int).SetBytes(b)
		if len(b) > 0 && b[0]&0x80 != 0 { // two's complement
			n.Sub(n, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
		}
	}
	return formatUnscaled(n, c.Scale)
}

// FuzzDecimal: for any bytes and any DECIMAL(precision, scale), the decoder never panics, and when
// it returns a value, that value is the numeric the bytes encode (by the oracle above, which
// TestNumericMatchesServer holds to the server's own text); when it refuses, the value really does
// not fit. The seeds in testdata/fuzz/FuzzDecimal are the server's binary output
// (TestNumericMatchesServer writes them with PG2S3_WRITE_FUZZ_SEEDS=1).
func FuzzDecimal(f *testing.F) {
	f.Add([]byte{0, 1, 0, 0, 0, 0, 0, 0, 0, 7}, 10, 2)
	f.Fuzz(func(t *testing.T, b []byte, precision, scale int) {
		precision = 1 + abs(precision)%maxDecimalPrecision
		scale = abs(scale) % (precision + 1)
		c := &Column{Name: "n", kind: kindDecimal, Precision: precision, Scale: scale}
		v, err := scalar(c, b, false)
		text, ok := numericText(b)
		want, fits := "", false
		if ok {
			want, fits = atScale(text, precision, scale)
		}
		switch {
		case err == nil && !fits:
			t.Fatalf("DECIMAL(%d,%d) of %x (%q): decoded %s, which the oracle says does not fit", precision, scale, b, text, decoded(c, v))
		case err == nil && decoded(c, v) != want:
			t.Fatalf("DECIMAL(%d,%d) of %x: decoded %s, the value is %s", precision, scale, b, decoded(c, v), want)
		case err != nil && fits && canonical(b):
			t.Fatalf("DECIMAL(%d,%d) of %x (%s): refused (%v) a value that fits", precision, scale, b, want, err)
		}
	})
}

// canonical says whether b is a numeric as the server sends it: no leading or trailing zero digits,
// and no digit past its display scale (the text form holds the whole value). The decoder may refuse
// other encodings of a fitting value, but not these.
func canonical(b []byte) bool {
	be := binary.BigEndian
	n := int(int16(be.Uint16(b)))
	if n == 0 {
		return true
	}
	if be.Uint16(b[8:]) == 0 || be.Uint16(b[8+2*(n-1):]) == 0 {
		return false
	}
	text, ok := numericText(b)
	if !ok {
		return false
	}
	shown, _ := new(big.Rat).SetString(text)
	full := new(big.Rat) // the digits' whole value
	weight := int(int16(be.Uint16(b[2:])))
	for k := range n {
		d := new(big.Rat).SetInt64(int64(be.Uint16(b[8+2*k:])))
		e := weight - k
		p := new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10000), big.NewInt(int64(abs(e))), nil))
		if e >= 0 {
			d.Mul(d, p)
		} else {
			d.Quo(d, p)
		}
		full.Add(full, d)
	}
	if be.Uint16(b[4:]) == 0x4000 {
		full.Neg(full)
	}
	return full.Cmp(shown) == 0
}

// FuzzTuples: any bytes, cut anywhere, through the framer and the decoder of a table of every kind
// never panic, and the framer hands on the same tuples whatever the cuts.
func FuzzTuples(f *testing.F) {
	f.Add(append(append([]byte{}, signature...), 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 4, 0, 0, 0, 7, 0xff, 0xff), 5)
	cols := []Column{{kind: kindInt32}, {kind: kindText}, {kind: kindDecimal, Precision: 30, Scale: 4}, {kind: kindTimestamp},
		{kind: kindInt64, Array: true}, {kind: kindUUID}, {kind: kindJSONB}, {kind: kindDate}}
	f.Fuzz(func(t *testing.T, b []byte, cut int) {
		var whole, pieces [][]byte
		collect := func(dst *[][]byte) rowFunc {
			return func(r []byte) error { *dst = append(*dst, append([]byte(nil), r...)); return nil }
		}
		f1 := &Framer{Next: collect(&whole)}
		err1 := f1.WriteRow(b)
		f2 := &Framer{Next: collect(&pieces)}
		cut = abs(cut) % (len(b) + 1)
		err2 := f2.WriteRow(b[:cut])
		if err2 == nil {
			err2 = f2.WriteRow(b[cut:])
		}
		if (err1 == nil) == (err2 == nil) && err1 == nil && len(whole) != len(pieces) {
			t.Fatalf("cut at %d: %d tuples, whole: %d", cut, len(pieces), len(whole))
		}
		for _, tup := range whole {
			enc := &Encoder{Columns: cols}
			fw := &fileWriter{enc: enc}
			fw.decode(tup) // errors are fine; panics are not
		}
	})
}

type rowFunc func([]byte) error

func (f rowFunc) WriteRow(b []byte) error { return f(b) }

// The decoder's DECIMAL values equal the server's own text of the same numerics, for every shape
// of precision and scale (INT32, INT64 and FIXED_LEN_BYTE_ARRAY), and the oracle the fuzz test
// uses agrees with the server on every value.
func TestNumericMatchesServer(t *testing.T) {
	testenv.Bucket(t) // skips without the stack
	ctx := context.Background()
	conn, err := copyout.Conn{DSN: testenv.DSN(t)}.Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	types := []struct{ p, s int }{{4, 0}, {9, 4}, {18, 0}, {18, 9}, {19, 2}, {30, 5}, {38, 0}, {38, 10}, {38, 38}}
	var seeds [][]byte
	for _, ty := range types {
		q := fmt.Sprintf(`SELECT x, x::text FROM (SELECT round(v::numeric, %[2]d)::numeric(%[1]d,%[2]d) AS x FROM (VALUES (0), (1), (-1), (0.5), (-0.0001),
			(9999), (10000), (123456.789), (-987654321.0123456789), (1e-30), (12345678901234567890.123456789)) v(v)
			WHERE abs(v) < 10::numeric ^ (%[1]d - %[2]d) UNION ALL
			SELECT (trunc(random()::numeric * 10::numeric ^ (%[1]d - %[2]d), %[2]d) * sign(random() - 0.5)::numeric)::numeric(%[1]d,%[2]d)
			FROM generate_series(1, 300)) s(x)`, ty.p, ty.s)
		res := conn.ExecParams(ctx, q, nil, nil, nil, []int16{1, 0}).Read()
		if res.Err != nil {
			t.Fatalf("numeric(%d,%d): %v", ty.p, ty.s, res.Err)
		}
		c := &Column{kind: kindDecimal, Precision: ty.p, Scale: ty.s}
		for _, r := range res.Rows {
			bin, text := r[0], string(r[1])
			if oracle, ok := numericText(bin); !ok || oracle != text {
				t.Fatalf("the oracle reads %x as %q, the server says %q", bin, oracle, text)
			}
			v, err := scalar(c, bin, false)
			if err != nil {
				t.Fatalf("numeric(%d,%d) %s: %v", ty.p, ty.s, text, err)
			}
			if got := decoded(c, v); got != text {
				t.Errorf("numeric(%d,%d): decoded %s, the server says %s", ty.p, ty.s, got, text)
			}
			if len(seeds) < 40 || bytes.Count(bin, []byte{0}) < 3 {
				seeds = append(seeds, append([]byte(nil), bin...))
			}
		}
	}
	if os.Getenv("PG2S3_WRITE_FUZZ_SEEDS") == "1" {
		dir := filepath.Join("testdata", "fuzz", "FuzzDecimal")
		os.MkdirAll(dir, 0o755)
		for i, s := range seeds[:min(len(seeds), 60)] {
			ty := types[i%len(types)]
			body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\nint(%d)\nint(%d)\n", s, ty.p, ty.s)
			os.WriteFile(filepath.Join(dir, fmt.Sprintf("server-%02d", i)), []byte(body), 0o644)
		}
	}
}
