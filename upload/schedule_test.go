package upload

import "testing"

func TestPartSizeScheduleReaches5TiB(t *testing.T) {
	for _, base := range []int64{MinPartSize, 6 << 20, 8 << 20, DefaultPart, 64 << 20, 1 << 30, MaxPartSize} {
		var total int64
		reached := 0
		prev := int64(0)
		for n := 1; n <= MaxParts; n++ {
			s := PartSize(n, base)
			if s < MinPartSize || s > MaxPartSize {
				t.Fatalf("base %d: part %d has size %d, outside S3's limits", base, n, s)
			}
			if s < prev {
				t.Fatalf("base %d: part %d (%d) smaller than part %d (%d)", base, n, s, n-1, prev)
			}
			if n <= growEvery && s != base {
				t.Fatalf("base %d: part %d has size %d, want the base until part %d", base, n, s, growEvery)
			}
			prev = s
			total += s
			if reached == 0 && total >= MaxObjectSize {
				reached = n
			}
		}
		if reached == 0 {
			t.Errorf("base %d: 10,000 parts hold only %d bytes, less than 5 TiB", base, total)
		}
		t.Logf("base %4d MiB: 5 TiB reached at part %d; 10,000 parts hold %.1f TiB", base>>20, reached, float64(total)/(1<<40))
	}
}

func TestPartSizeValues(t *testing.T) {
	tests := []struct {
		n    int
		base int64
		want int64
	}{
		{1, 16 << 20, 16 << 20},
		{900, 16 << 20, 16 << 20},
		{901, 16 << 20, 32 << 20},
		{1801, 16 << 20, 64 << 20},
		{9000, 16 << 20, MaxPartSize},
		{10000, 5 << 20, 5 << 30},
		{0, 5 << 20, 5 << 20},
		{901, MaxPartSize, MaxPartSize},
	}
	for _, tt := range tests {
		if got := PartSize(tt.n, tt.base); got != tt.want {
			t.Errorf("PartSize(%d, %d) = %d, want %d", tt.n, tt.base, got, tt.want)
		}
	}
}

func TestCheckPartSize(t *testing.T) {
	for _, tt := range []struct {
		size int64
		ok   bool
	}{{MinPartSize - 1, false}, {MinPartSize, true}, {MaxPartSize, true}, {MaxPartSize + 1, false}, {0, false}} {
		if err := CheckPartSize(tt.size); (err == nil) != tt.ok {
			t.Errorf("CheckPartSize(%d) = %v, want ok=%v", tt.size, err, tt.ok)
		}
	}
}
