package engine

import (
	"encoding/binary"
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

// The keys as each COPY format sends them read back to the same values: quoting and escaping,
// NULL apart from ”, several levels, and the hex form where the text would be ambiguous.
func TestKeyCodec(t *testing.T) {
	ps := []Partition{{Name: "a"}, {Name: "b"}, {Name: "c"}}
	str := func(v string) *string { return &v }
	want := []*string{str(`x,"y"` + "\n"), nil, str("")}
	csv := &keyCodec{levels: ps, format: 'c', delim: ',', quote: '"', escape: '"'}
	backslash := &keyCodec{levels: ps, format: 'c', delim: ';', quote: '\'', escape: '\\', null: "NULL"}
	text := &keyCodec{levels: ps, format: 't', delim: '\t', null: `\N`}
	hexed := &keyCodec{levels: ps, format: 't', delim: '\t', hex: true}
	bin := &keyCodec{levels: ps, format: 'b'}
	tuple := []byte{0, 5}
	for _, v := range want {
		if v == nil {
			tuple = append(tuple, 0xff, 0xff, 0xff, 0xff)
			continue
		}
		tuple = append(binary.BigEndian.AppendUint32(tuple, uint32(len(*v))), *v...)
	}
	tuple = append(tuple, 0, 0, 0, 1, 'r', 0, 0, 0, 1, 's')
	for _, c := range []struct {
		k         *keyCodec
		row, rest string
	}{
		{csv, "\"x,\"\"y\"\"\n\",,\"\",r,s\n", "r,s\n"},
		{backslash, "'x,\"y\"\n';NULL;'';r;s\n", "r;s\n"},
		{text, "x,\"y\"\\n\t\\N\t\tr\ts\n", "r\ts\n"},
		{hexed, "v782c2279220a\tn\tv\tr\ts\n", "r\ts\n"},
		{bin, string(tuple), "\x00\x02\x00\x00\x00\x01r\x00\x00\x00\x01s"},
	} {
		key, rest := c.k.cut([]byte(c.row))
		if string(rest) != c.rest {
			t.Errorf("%c: cut(%q) leaves %q, want %q", c.k.format, c.row, rest, c.rest)
			continue
		}
		vals, err := c.k.decode(key)
		if err != nil || len(vals) != 3 {
			t.Errorf("%c: decode(%q) = %v, %v", c.k.format, key, vals, err)
			continue
		}
		for i, v := range vals {
			if (v.Value == nil) != (want[i] == nil) || (v.Value != nil && *v.Value != *want[i]) || v.Name != ps[i].Name {
				t.Errorf("%c: level %d of %q is %+v, want %v", c.k.format, i, c.row, v, want[i])
			}
		}
	}
	if vals, err := backslash.decode([]byte(`'it\'s \\';'';NULL`)); err != nil || *vals[0].Value != `it's \` {
		t.Errorf("an escaped quote and escape: %+v, %v", vals, err)
	}
	if _, err := hexed.decode([]byte("vzz\tn\tn")); err == nil {
		t.Error("a bad hex level decodes")
	}
}
