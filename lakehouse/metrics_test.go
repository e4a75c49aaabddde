package lakehouse

import (
	"encoding/binary"
	"encoding/hex"
	"testing"

	"github.com/apache/iceberg-go"
)

// Decimal bounds are Iceberg's unscaled big-endian two's complement in the fewest bytes, from each
// of Parquet's three physical forms; the others are Parquet's plain bytes, where they are the same.
func TestBounds(t *testing.T) {
	le32 := func(v int32) []byte { return binary.LittleEndian.AppendUint32(nil, uint32(v)) }
	le64 := func(v int64) []byte { return binary.LittleEndian.AppendUint64(nil, uint64(v)) }
	dec := iceberg.DecimalTypeOf(20, 2)
	for _, tt := range []struct {
		typ  iceberg.Type
		in   []byte
		want string // hex; "" for no bound
	}{
		{dec, le32(0), "00"}, {dec, le32(-1), "ff"}, {dec, le32(127), "7f"}, {dec, le32(128), "0080"},
		{dec, le32(-128), "80"}, {dec, le32(-129), "ff7f"}, {dec, le64(1 << 40), "010000000000"},
		// a FIXED_LEN_BYTE_ARRAY (precision over 18: 9 bytes and more), big-endian already
		{dec, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe}, "fe"},
		{dec, []byte{0, 0, 0, 0, 0, 0, 0, 0x01, 0x00}, "0100"},
		{iceberg.PrimitiveTypes.Int32, le32(-5), hex.EncodeToString(le32(-5))},
		{iceberg.PrimitiveTypes.Int64, le64(7), hex.EncodeToString(le64(7))},
		{iceberg.PrimitiveTypes.Float64, le64(7), ""},
		{iceberg.PrimitiveTypes.String, []byte("a"), ""},
	} {
		got, ok := bound(tt.typ, tt.in)
		if h := hex.EncodeToString(got); ok != (tt.want != "") || ok && h != tt.want {
			t.Errorf("bound(%s, %x) = %s, %v; want %q", tt.typ, tt.in, h, ok, tt.want)
		}
	}
}
