package engine

import (
	"testing"
)

func TestParsePartition(t *testing.T) {
	for in, want := range map[string]Partition{
		"order_date": {Name: "order_date", Expr: "order_date", Column: "order_date"},
		"month=date_trunc('month', created_at)::date": {Name: "month", Expr: "date_trunc('month', created_at)::date"},
		"d = day":         {Name: "d", Expr: "day", Column: "day"},
		"day(created_at)": {Name: "created_at_day", Expr: transformSQL("day", "created_at"), Transform: "day", Source: "created_at"},
		"Month( At )":     {Name: "at_month", Expr: transformSQL("month", "at"), Transform: "month", Source: "at"},
	} {
		got, err := ParsePartition(in)
		if err != nil || got != want {
			t.Errorf("ParsePartition(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "lower(x)", "1x=a", "m=", "a=b; DROP TABLE t", "week(at)", "day(a, b)", "day()"} {
		if p, err := ParsePartition(bad); err == nil {
			t.Errorf("ParsePartition(%q) = %+v, want an error", bad, p)
		}
	}
}

// Hive's escaping (FileUtils.escapePathName) and its default partition for NULL and ”.
func TestHivePath(t *testing.T) {
	s := func(v string) *string { return &v }
	for _, c := range []struct {
		vals []PartitionValue
		want string
	}{
		{[]PartitionValue{{"day", s("2026-11-25")}}, "day=2026-11-25"},
		{[]PartitionValue{{"ts", s("2026-11-25 10:00:00")}, {"k", s(`a/b=c?d#e%f"g'h*i:j\k{l[m]n^o`)}}, "ts=2026-11-25 10%3A00%3A00/k=a%2Fb%3Dc%3Fd%23e%25f%22g%27h%2Ai%3Aj%5Ck%7Bl%5Bm%5Dn%5Eo"},
		{[]PartitionValue{{"n", nil}, {"e", s("")}}, "n=__HIVE_DEFAULT_PARTITION__/e=__HIVE_DEFAULT_PARTITION__"},
		{[]PartitionValue{{"u", s("é 中\n\x7f")}}, "u=é 中%0A%7F"},
	} {
		if got := hivePath(c.vals); got != c.want {
			t.Errorf("hivePath(%v) = %q, want %q", c.vals, got, c.want)
		}
	}
}

func TestDecodeKey(t *testing.T) {
	ps := []Partition{{Name: "a"}, {Name: "b"}, {Name: "c"}}
	vals, err := decodeKey(ps, "v616263.n.v")
	if err != nil || *vals[0].Value != "abc" || vals[1].Value != nil || *vals[2].Value != "" {
		t.Fatalf("decodeKey = %+v, %v", vals, err)
	}
	for _, bad := range []string{"v61", "x.n.n", "vzz.n.n"} {
		if _, err := decodeKey(ps, bad); err == nil {
			t.Errorf("decodeKey(%q): no error", bad)
		}
	}
}
