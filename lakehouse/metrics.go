package lakehouse

import (
	"encoding/binary"
	"math/big"

	"github.com/apache/iceberg-go"

	"github.com/pg2s3/pg2s3/columnar"
)

// metrics are a data file's column metrics in a manifest, by field ID: what engines prune with.
type metrics struct {
	sizes, values, nulls map[int]int64
	lower, upper         map[int][]byte
}

// fileMetrics turns a file's column statistics into Iceberg's metrics. Bounds are given where
// Iceberg's single-value form of the type follows from Parquet's plain encoding; not for floats
// (a NaN must not be a bound), strings and binary (written without bounds).
func fileMetrics(schema *iceberg.Schema, cols []columnar.ColumnStats) metrics {
	m := metrics{sizes: map[int]int64{}, values: map[int]int64{}, nulls: map[int]int64{}, lower: map[int][]byte{}, upper: map[int][]byte{}}
	for _, c := range cols {
		if c.FieldID == 0 {
			continue
		}
		m.sizes[c.FieldID], m.values[c.FieldID], m.nulls[c.FieldID] = c.Bytes, c.Values, c.Nulls
		typ, ok := schema.FindTypeByID(c.FieldID)
		if !ok || !c.Bounds {
			continue
		}
		lo, lok := bound(typ, c.Min)
		hi, hok := bound(typ, c.Max)
		if lok && hok {
			m.lower[c.FieldID], m.upper[c.FieldID] = lo, hi
		}
	}
	return m
}

// bound is Iceberg's single-value binary form of a Parquet plain-encoded value of type t.
func bound(t iceberg.Type, b []byte) ([]byte, bool) {
	switch t.(type) {
	case iceberg.BooleanType:
		return b, len(b) == 1
	case iceberg.Int32Type, iceberg.DateType:
		return b, len(b) == 4
	case iceberg.Int64Type, iceberg.TimeType, iceberg.TimestampType, iceberg.TimestampTzType:
		return b, len(b) == 8
	case iceberg.UUIDType:
		return b, len(b) == 16
	case iceberg.DecimalType: // the unscaled value, big-endian two's complement, in the fewest bytes
		var v big.Int
		switch len(b) {
		case 4:
			v.SetInt64(int64(int32(binary.LittleEndian.Uint32(b))))
		case 8:
			v.SetInt64(int64(binary.LittleEndian.Uint64(b)))
		default:
			if len(b) == 0 {
				return nil, false
			}
			v.SetBytes(b)
			if b[0]&0x80 != 0 {
				v.Sub(&v, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
			}
		}
		return twosComplement(&v), true
	}
	return nil, false
}

// twosComplement is v in big-endian two's complement, in the fewest bytes.
func twosComplement(v *big.Int) []byte {
	n := v.BitLen()/8 + 1 // room for the sign bit
	out := make([]byte, n)
	if v.Sign() >= 0 {
		v.FillBytes(out)
	} else {
		new(big.Int).Add(v, new(big.Int).Lsh(big.NewInt(1), uint(8*n))).FillBytes(out)
	}
	for len(out) > 1 && (out[0] == 0 && out[1]&0x80 == 0 || out[0] == 0xff && out[1]&0x80 != 0) {
		out = out[1:]
	}
	return out
}
