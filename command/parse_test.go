package command

import "testing"

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		err  bool
	}{
		{"16777216", 16 << 20, false},
		{"8MiB", 8 << 20, false},
		{"8mib", 8 << 20, false},
		{"64MB", 64_000_000, false},
		{"1.5GiB", 3 << 29, false},
		{"5 GiB", 5 << 30, false},
		{"16M", 16 << 20, false},
		{"1_048_576", 1 << 20, false},
		{"10B", 10, false},
		{"", 0, true},
		{"MiB", 0, true},
		{"8 parsecs", 0, true},
		{"-5MiB", 0, true},
		{"1.2.3MB", 0, true},
	}
	for _, tt := range tests {
		got, err := parseSize(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("parseSize(%q) = %d, %v; want %d, error %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestParseCount(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want int
		err  bool
	}{{"4", 4, false}, {" 16 ", 16, false}, {"1_000", 1000, false}, {"0", 0, true}, {"-1", 0, true}, {"four", 0, true}, {"2.5", 0, true}, {"1e6", 0, true}} {
		got, err := parseCount(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("parseCount(%q) = %d, %v; want %d, error %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestPlainName(t *testing.T) {
	for in, want := range map[string]string{`"public"."orders"`: "public.orders", `"a.b"."c""d"`: `a.b.c"d`, `"s"."Mixed Case"`: "s.Mixed Case", "plain": "plain"} {
		if got := plainName(in); got != want {
			t.Errorf("plainName(%s) = %q, want %q", in, got, want)
		}
	}
}
