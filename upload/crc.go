package upload

import (
	"encoding/base64"
	"encoding/binary"
	"hash/crc32"
	"hash/crc64"
)

// The two checksums S3 can verify over a whole multipart object (ChecksumType FULL_OBJECT), as
// reflected polynomials. Both start from all ones and end with an XOR of all ones.
const (
	castagnoli = 0x82f63b78         // CRC-32C
	nvme       = 0x9a6c9329ac4bc9b5 // CRC-64/NVME
)

var (
	crc32cTable = crc32.MakeTable(crc32.Castagnoli)
	crc64nvme   = crc64.MakeTable(nvme)
)

// raw returns c's CRC of b (0 for NoChecksum).
func (c Checksum) raw(b []byte) uint64 {
	switch c {
	case CRC32C:
		return uint64(crc32.Checksum(b, crc32cTable))
	case CRC64NVME:
		return crc64.Checksum(b, crc64nvme)
	}
	return 0
}

// encode returns a CRC as S3's headers carry it: its big-endian bytes in base64.
func (c Checksum) encode(v uint64) string {
	switch c {
	case CRC32C:
		return base64.StdEncoding.EncodeToString(binary.BigEndian.AppendUint32(nil, uint32(v)))
	case CRC64NVME:
		return base64.StdEncoding.EncodeToString(binary.BigEndian.AppendUint64(nil, v))
	}
	return ""
}

// sum returns the base64 checksum of b, as S3 headers carry it.
func (c Checksum) sum(b []byte) string { return c.encode(c.raw(b)) }

// combine returns c's CRC of A followed by B from the CRC of A, the CRC of B and B's length, so
// that the whole object's checksum comes from the parts' own (each part is read once, by the
// goroutine that uploads it) rather than from a second pass over every byte in stream order.
// It is zlib's crc32_combine, for either width: appending len2 zero bytes to A is a linear map on
// the CRC register, applied by repeated squaring of the one-zero-bit operator.
func (c Checksum) combine(crc1, crc2 uint64, len2 int64) uint64 {
	var poly uint64
	var width int
	switch c {
	case CRC32C:
		poly, width = castagnoli, 32
	case CRC64NVME:
		poly, width = nvme, 64
	default:
		return 0
	}
	if len2 <= 0 {
		return crc1 // B is empty
	}
	odd := make([]uint64, width) // the operator for one zero bit
	even := make([]uint64, width)
	odd[0] = poly
	for n, row := 1, uint64(1); n < width; n, row = n+1, row<<1 {
		odd[n] = row
	}
	gf2Square(even, odd) // two zero bits
	gf2Square(odd, even) // four zero bits
	for {                // the first square gives one zero byte
		gf2Square(even, odd)
		if len2&1 != 0 {
			crc1 = gf2Times(even, crc1)
		}
		if len2 >>= 1; len2 == 0 {
			break
		}
		gf2Square(odd, even)
		if len2&1 != 0 {
			crc1 = gf2Times(odd, crc1)
		}
		if len2 >>= 1; len2 == 0 {
			break
		}
	}
	return crc1 ^ crc2
}

func gf2Times(mat []uint64, vec uint64) uint64 {
	var sum uint64
	for i := 0; vec != 0; i, vec = i+1, vec>>1 {
		if vec&1 != 0 {
			sum ^= mat[i]
		}
	}
	return sum
}

func gf2Square(square, mat []uint64) {
	for n := range mat {
		square[n] = gf2Times(mat, mat[n])
	}
}
