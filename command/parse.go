package command

import (
	"fmt"
	"strconv"
	"strings"
)

// The parsers every numeric flag goes through, in every command and mode: a value means the same
// thing wherever it is given.

// parseSize reads a byte size: plain bytes (16777216), decimal units (64MB, 1.5GB: powers of 1000) or
// binary units (8MiB, 1GiB: powers of 1024; single letters K, M, G, T are binary too).
func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && (t[i] >= '0' && t[i] <= '9' || t[i] == '.' || t[i] == '_') {
		i++
	}
	num, unit := strings.ReplaceAll(t[:i], "_", ""), strings.ToLower(strings.TrimSpace(t[i:]))
	if num == "" {
		return 0, fmt.Errorf("%q is not a size (e.g. 16MiB, 64MB, 16777216)", s)
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a size (e.g. 16MiB, 64MB, 16777216)", s)
	}
	mult := map[string]float64{
		"": 1, "b": 1,
		"k": 1 << 10, "kib": 1 << 10, "kb": 1e3,
		"m": 1 << 20, "mib": 1 << 20, "mb": 1e6,
		"g": 1 << 30, "gib": 1 << 30, "gb": 1e9,
		"t": 1 << 40, "tib": 1 << 40, "tb": 1e12,
	}[unit]
	if mult == 0 {
		return 0, fmt.Errorf("%q has an unknown unit %q (use B, KiB, MiB, GiB, TiB, KB, MB, GB or TB)", s, t[i:])
	}
	v := f * mult
	if v > 1<<62 {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return int64(v), nil
}

// parseWhole reads a whole number of at least min: 4, 16, 1_000 (not 1e6, not 2.5).
func parseWhole(s string, min int64) (int64, error) {
	n, err := strconv.ParseInt(strings.ReplaceAll(strings.TrimSpace(s), "_", ""), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a whole number", s)
	}
	if n < min {
		return 0, fmt.Errorf("must be at least %d (got %d)", min, n)
	}
	return n, nil
}

// parseCount reads a positive count.
func parseCount(s string) (int, error) {
	n, err := parseWhole(s, 1)
	if err != nil {
		return 0, err
	}
	if n > 1<<31 {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return int(n), nil
}

// parsePairs reads KEY=VALUE arguments of a repeatable flag.
func parsePairs(args []string) (map[string]string, error) {
	if len(args) == 0 {
		return nil, nil
	}
	m := map[string]string{}
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%q: want KEY=VALUE", a)
		}
		if _, dup := m[k]; dup {
			return nil, fmt.Errorf("%q given twice", k)
		}
		m[k] = v
	}
	return m, nil
}
