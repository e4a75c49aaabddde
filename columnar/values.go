package columnar

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/big"

	"github.com/parquet-go/parquet-go"
)

// PostgreSQL's epoch is 2000-01-01; Parquet's is 1970-01-01.
const (
	epochDays   = 10957
	epochMicros = 946684800000000
)

// appendValue decodes one non-NULL field of column i (a scalar, or a whole array) into its
// Parquet values, with their levels.
func appendValue(vs []parquet.Value, c *Column, i int, b []byte, extremes bool) ([]parquet.Value, error) {
	if !c.Array {
		v, err := scalar(c, b, extremes)
		if err != nil {
			return vs, err
		}
		def := 1 // optional: defined
		if c.Required {
			def = 0
		}
		return append(vs, v.Level(0, def, i)), nil
	}
	// An array: ndim, has-null flag, element type, then per dimension (size, lower bound), then
	// the elements, each with its length (-1: NULL).
	if len(b) < 12 {
		return vs, errors.New("short array header")
	}
	ndim := int32(binary.BigEndian.Uint32(b))
	switch {
	case ndim == 0:
		return append(vs, parquet.NullValue().Level(0, 1, i)), nil // an empty list
	case ndim != 1:
		return vs, fmt.Errorf("a %d-dimensional array: only one-dimensional arrays map to a Parquet LIST; "+
			"cast the column (to text, or unnest it) in the query", ndim)
	}
	if len(b) < 20 {
		return vs, errors.New("short array header")
	}
	n := int(int32(binary.BigEndian.Uint32(b[12:])))
	if lower := int32(binary.BigEndian.Uint32(b[16:])); lower != 1 {
		// A LIST has no lower bound: writing the elements would lose it, and '[0:2]={1,2,3}' would
		// read back as '{1,2,3}'.
		return vs, fmt.Errorf("an array whose subscripts start at %d ('[%d:%d]={...}'), not 1: a Parquet LIST cannot keep that; "+
			"cast the column to text, or re-base it (array_lower), in the query", lower, lower, int(lower)+n-1)
	}
	pos := 20
	for k := range n {
		rep := 1
		if k == 0 {
			rep = 0
		}
		if len(b) < pos+4 {
			return vs, errors.New("array cut short")
		}
		l := int(int32(binary.BigEndian.Uint32(b[pos:])))
		pos += 4
		if l < 0 {
			vs = append(vs, parquet.NullValue().Level(rep, 2, i))
			continue
		}
		if len(b) < pos+l {
			return vs, errors.New("array cut short")
		}
		v, err := scalar(c, b[pos:pos+l], extremes)
		if err != nil {
			return vs, fmt.Errorf("element %d: %w", k+1, err)
		}
		vs = append(vs, v.Level(rep, 3, i))
		pos += l
	}
	if n == 0 {
		vs = append(vs, parquet.NullValue().Level(0, 1, i))
	}
	return vs, nil
}

func need(b []byte, n int) error {
	if len(b) != n {
		return fmt.Errorf("a %d-byte value where %d bytes were expected", len(b), n)
	}
	return nil
}

// scalar decodes one value of c's kind from its binary send form. With extremes, an infinite date
// or timestamp becomes plus or minus the largest value of its Parquet type (how DuckDB stores and
// reads back infinity); without, it is an error.
func scalar(c *Column, b []byte, extremes bool) (parquet.Value, error) {
	be := binary.BigEndian
	switch c.kind {
	case kindBool:
		if err := need(b, 1); err != nil {
			return parquet.Value{}, err
		}
		return parquet.BooleanValue(b[0] != 0), nil
	case kindInt16:
		if err := need(b, 2); err != nil {
			return parquet.Value{}, err
		}
		return parquet.Int32Value(int32(int16(be.Uint16(b)))), nil
	case kindInt32, kindOid:
		if err := need(b, 4); err != nil {
			return parquet.Value{}, err
		}
		return parquet.Int32Value(int32(be.Uint32(b))), nil
	case kindInt64, kindTime:
		if err := need(b, 8); err != nil {
			return parquet.Value{}, err
		}
		return parquet.Int64Value(int64(be.Uint64(b))), nil
	case kindFloat32:
		if err := need(b, 4); err != nil {
			return parquet.Value{}, err
		}
		return parquet.FloatValue(math.Float32frombits(be.Uint32(b))), nil
	case kindFloat64:
		if err := need(b, 8); err != nil {
			return parquet.Value{}, err
		}
		return parquet.DoubleValue(math.Float64frombits(be.Uint64(b))), nil
	case kindDate:
		if err := need(b, 4); err != nil {
			return parquet.Value{}, err
		}
		d := int32(be.Uint32(b))
		if d == math.MaxInt32 || d == math.MinInt32 {
			if extremes { // DuckDB's infinities: +-MaxInt32 (MinInt32 is not a date to it)
				return parquet.Int32Value(max(d, -math.MaxInt32)), nil
			}
			return parquet.Value{}, errors.New(infinite("date", "DATE"))
		}
		days := int64(d) + epochDays
		if days > math.MaxInt32 {
			return parquet.Value{}, errors.New("a date past Parquet DATE's range")
		}
		return parquet.Int32Value(int32(days)), nil
	case kindTimestamp, kindTimestampTZ:
		if err := need(b, 8); err != nil {
			return parquet.Value{}, err
		}
		t := int64(be.Uint64(b))
		if t == math.MaxInt64 || t == math.MinInt64 {
			if extremes { // DuckDB's infinities: +-MaxInt64
				return parquet.Int64Value(max(t, -math.MaxInt64)), nil
			}
			return parquet.Value{}, errors.New(infinite("timestamp", "TIMESTAMP"))
		}
		if t > math.MaxInt64-epochMicros {
			return parquet.Value{}, errors.New("a timestamp past Parquet TIMESTAMP(MICROS)'s range")
		}
		return parquet.Int64Value(t + epochMicros), nil
	case kindUUID:
		if err := need(b, 16); err != nil {
			return parquet.Value{}, err
		}
		return parquet.FixedLenByteArrayValue(b), nil
	case kindJSONB:
		if len(b) == 0 || b[0] != 1 {
			return parquet.Value{}, errors.New("unknown jsonb binary version")
		}
		return parquet.ByteArrayValue(b[1:]), nil
	case kindDecimal:
		return decimal(c, b)
	}
	return parquet.ByteArrayValue(b), nil // text, bytea, json
}

func infinite(pg, pq string) string {
	return "an infinite " + pg + " has no Parquet " + pq + ": give Options.InfinityExtremes to store it as the type's " +
		"largest or smallest value (which DuckDB reads as infinity), or cast the column to text in the query"
}

// numeric's sign word (src/backend/utils/adt/numeric.c).
const (
	numericPos  = 0x0000
	numericNeg  = 0x4000
	numericNaN  = 0xC000
	numericPInf = 0xD000
	numericNInf = 0xF000
)

var pow10 = func() [19]int64 {
	var p [19]int64
	p[0] = 1
	for i := 1; i < len(p); i++ {
		p[i] = p[i-1] * 10
	}
	return p
}()

// decimal decodes a numeric into its unscaled integer at the column's scale: base-10000 digits
// with a weight (the power of 10000 of the first digit) and a sign.
func decimal(c *Column, b []byte) (parquet.Value, error) {
	be := binary.BigEndian
	if len(b) < 8 {
		return parquet.Value{}, errors.New("short numeric")
	}
	ndigits := int(int16(be.Uint16(b)))
	weight := int(int16(be.Uint16(b[2:])))
	sign := be.Uint16(b[4:])
	if len(b) != 8+2*ndigits || ndigits < 0 || int16(be.Uint16(b[6:])) < 0 { // dscale
		return parquet.Value{}, errors.New("malformed numeric")
	}
	switch sign {
	case numericNaN:
		return parquet.Value{}, fmt.Errorf("NaN has no Parquet DECIMAL(%d,%d); cast the column to text or float8 in the query", c.Precision, c.Scale)
	case numericPInf, numericNInf:
		return parquet.Value{}, fmt.Errorf("infinity has no Parquet DECIMAL(%d,%d); cast the column to text or float8 in the query", c.Precision, c.Scale)
	case numericPos, numericNeg:
	default:
		return parquet.Value{}, fmt.Errorf("numeric sign word %#x", sign)
	}
	// The digits read as one integer are the value times 10000^(ndigits-1-weight), that is times
	// 10^exp; rescale to 10^scale. Digits dropped by the rescale are zeros (dscale <= scale).
	exp := 4 * (ndigits - 1 - weight)
	// The server never sends a digit past the display scale (dscale), which is at most the column's
	// scale; a value that does is malformed, whatever the column could hold.
	if dscale := int(int16(be.Uint16(b[6:]))); ndigits > 0 && exp > dscale && !zeroTail(b[8:], ndigits, exp-dscale) {
		return parquet.Value{}, errors.New("malformed numeric: digits past its display scale")
	}
	if v, ok, err := smallDecimal(c, b[8:], ndigits, exp); ok || err != nil {
		if err != nil {
			return parquet.Value{}, err
		}
		if sign == numericNeg {
			v = -v
		}
		if c.Precision <= 9 {
			return parquet.Int32Value(int32(v)), nil
		}
		return parquet.Int64Value(v), nil
	}
	return bigDecimal(c, b[8:], ndigits, exp, sign == numericNeg)
}

// bigDecimal is the path of a DECIMAL the int64 fast path does not take: the digits in a big.Int,
// rescaled to the column's scale, checked against its precision, in the column's physical type.
func bigDecimal(c *Column, digits []byte, ndigits, exp int, neg bool) (parquet.Value, error) {
	be := binary.BigEndian
	v := new(big.Int)
	tenK := big.NewInt(10000)
	for k := range ndigits {
		d := be.Uint16(digits[2*k:])
		if d > 9999 {
			return parquet.Value{}, errors.New("malformed numeric digit")
		}
		v.Mul(v, tenK).Add(v, big.NewInt(int64(d)))
	}
	if ndigits > 0 && exp != c.Scale {
		p := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(abs(exp-c.Scale))), nil)
		if exp > c.Scale {
			var r big.Int
			if v.QuoRem(v, p, &r); r.Sign() != 0 {
				return parquet.Value{}, errors.New("more fractional digits than the column's scale")
			}
		} else {
			v.Mul(v, p)
		}
	}
	if len(v.String()) > c.Precision && v.Sign() != 0 {
		return parquet.Value{}, errors.New("more digits than the column's precision")
	}
	if neg {
		v.Neg(v)
	}
	if c.Precision <= 18 {
		if c.Precision <= 9 {
			return parquet.Int32Value(int32(v.Int64())), nil
		}
		return parquet.Int64Value(v.Int64()), nil
	}
	n := decimalBytes(c.Precision)
	out := make([]byte, n)
	if v.Sign() >= 0 {
		v.FillBytes(out)
	} else { // two's complement: 2^(8n) + v (the precision check above keeps it in range)
		v.Add(v, new(big.Int).Lsh(big.NewInt(1), uint(8*n)))
		v.FillBytes(out)
	}
	return parquet.FixedLenByteArrayValue(out), nil
}

// smallDecimal is the fast path of a DECIMAL(p <= 18): the digits in an int64 while they fit
// (ok=false: they do not, or p > 18; the caller takes the big.Int path), rescaled to the scale.
func smallDecimal(c *Column, digits []byte, ndigits, exp int) (v int64, ok bool, err error) {
	if c.Precision > 18 {
		return 0, false, nil
	}
	for k := range ndigits {
		d := int64(binary.BigEndian.Uint16(digits[2*k:]))
		if d > 9999 || v > (math.MaxInt64-d)/10000 {
			return 0, false, nil
		}
		v = v*10000 + d
	}
	switch {
	case ndigits == 0 || exp == c.Scale:
	case exp > c.Scale:
		if exp-c.Scale > 18 {
			return 0, false, nil
		}
		d := pow10[exp-c.Scale]
		if v%d != 0 {
			return 0, false, errors.New("more fractional digits than the column's scale")
		}
		v /= d
	default:
		if c.Scale-exp > 18 || v > math.MaxInt64/pow10[c.Scale-exp] {
			return 0, false, nil
		}
		v *= pow10[c.Scale-exp]
	}
	if v >= pow10[c.Precision] {
		return 0, false, errors.New("more digits than the column's precision")
	}
	return v, true, nil
}

// zeroTail says whether the last n decimal digits of the base-10000 digits are zeros.
func zeroTail(digits []byte, ndigits, n int) bool {
	for k := ndigits - 1; k >= 0 && n > 0; k-- {
		d := int(binary.BigEndian.Uint16(digits[2*k:]))
		for range min(n, 4) {
			if d%10 != 0 {
				return false
			}
			d /= 10
		}
		n -= 4
	}
	return true
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
