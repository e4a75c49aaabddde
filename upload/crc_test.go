package upload

import (
	"math/rand/v2"
	"testing"
)

// The whole object's checksum combined from its parts' equals the checksum of the bytes in one
// pass, for both algorithms, for parts of any size (empty, one byte, odd sizes, several MiB).
func TestCombineEqualsOnePass(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	data := make([]byte, 9<<20+13)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	for _, c := range []Checksum{CRC32C, CRC64NVME} {
		for trial := 0; trial < 20; trial++ {
			var cuts []int
			for rest := len(data); rest > 0; {
				n := min(rest, []int{0, 1, 7, 4096, rng.IntN(3 << 20)}[rng.IntN(5)])
				cuts = append(cuts, n)
				rest -= n
			}
			var crc uint64
			off := 0
			for i, n := range cuts {
				part := c.raw(data[off : off+n])
				if i == 0 {
					crc = part
				} else {
					crc = c.combine(crc, part, int64(n))
				}
				off += n
			}
			if want := c.raw(data); crc != want {
				t.Fatalf("%s, parts %v: combined %x, one pass %x", c, cuts, crc, want)
			}
		}
	}
}
