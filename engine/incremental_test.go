package engine

import (
	"fmt"
	"strings"
	"testing"

	"github.com/pg2s3/pg2s3/internal/testenv"
)

// changedSince maps a row's 32-bit xmin onto the snapshots' 64-bit IDs: checked on the server,
// with literal xmins in place of the column, across an epoch boundary.
func TestChangedSinceAcrossEpochs(t *testing.T) {
	testenv.DSN(t)
	const epoch = uint64(1) << 32
	for _, tt := range []struct {
		prevXmin, xmax uint64
		xmin32         uint64
		want           bool
	}{
		{epoch + 50, epoch + 100, 60, true},          // after the previous horizon, this epoch
		{epoch + 50, epoch + 100, 50, true},          // at it
		{epoch + 50, epoch + 100, 49, false},         // just below it
		{epoch - 10, epoch + 100, epoch - 5, true},   // written in the previous epoch, after the horizon
		{epoch - 10, epoch + 100, epoch - 11, false}, // written in the previous epoch, before it
		{epoch - 10, epoch + 100, 3, true},           // this epoch
		{100, 5000, 4_000_000_000, false},            // an old row: mapped to the epoch before 0
		{100, 100 + epoch + 1, 42, true},             // more than 2^32 between the runs: everything
		{3 * epoch, 3*epoch + 10, 2, false},          // FrozenTransactionId
		{3*epoch + 5, 3*epoch + 10, 3*epoch + 7 - 3*epoch, true},
	} {
		cond := changedSince(`"c"`, "int", nil, tt.prevXmin, tt.xmax)
		cond = strings.ReplaceAll(cond, "xmin::text::bigint", fmt.Sprintf("%d::bigint", tt.xmin32))
		got := strings.TrimSpace(testenv.PsqlValue(t, "SELECT "+cond))
		if (got == "t") != tt.want {
			t.Errorf("prev xmin %d, xmax %d, row xmin %d: %s is %s, want %v", tt.prevXmin, tt.xmax, tt.xmin32, cond, got, tt.want)
		}
	}
	// With a high-water mark, a row above it is changed whatever its xmin.
	cond := changedSince(`"c"`, "int", func() *string { s := "10"; return &s }(), epoch+50, epoch+100)
	cond = strings.ReplaceAll(strings.ReplaceAll(cond, "xmin::text::bigint", "1::bigint"), `"c"`, "11")
	if got := strings.TrimSpace(testenv.PsqlValue(t, "SELECT "+cond)); got != "t" {
		t.Errorf("%s is %s, want t", cond, got)
	}
}
