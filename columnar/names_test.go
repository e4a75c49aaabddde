package columnar

import (
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

func TestUniqueNames(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"a a a_2", "a a_3 a_2"},
		{"a_2 a a", "a_2 a a_3"},
		{"a A b", "a A_2 b"},
		{"x x x x", "x x_2 x_3 x_4"},
		{"id name", "id name"},
	} {
		var fields []pgconn.FieldDescription
		for _, n := range strings.Fields(tt.in) {
			fields = append(fields, pgconn.FieldDescription{Name: n})
		}
		if got := strings.Join(uniqueNames(fields), " "); got != tt.want {
			t.Errorf("%s: got %s, want %s", tt.in, got, tt.want)
		}
		lower := strings.Fields(strings.ToLower(strings.Join(uniqueNames(fields), " ")))
		slices.Sort(lower)
		if len(slices.Compact(lower)) != len(fields) {
			t.Errorf("%s: names not unique without regard to case: %v", tt.in, uniqueNames(fields))
		}
	}
}
