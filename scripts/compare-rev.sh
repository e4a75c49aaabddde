#!/usr/bin/env bash
# compare-rev.sh REV [RUNS]: HEAD's pg2s3 against REV's, side by side in one run, on one table of
# about 200 MB (2M mixed rows): to one S3 object, to stdout, and to a prefix in many objects (8 MiB
# chunks over 4 jobs), RUNS times each (default 5), interleaved.
# Prints each one's mean wall and CPU (user+sys) seconds, peak RSS, and the ratio new/old.
# Needs a running stack: scripts/stack.sh run -- scripts/compare-rev.sh REV   (make compare REV=...)
set -euo pipefail
rev="${1:?usage: compare-rev.sh REV [RUNS]}"
runs="${2:-5}"
cd "$(dirname "$0")/.."
work="$(mktemp -d)"
trap 'git worktree remove --force "$work/old" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
git worktree add -q "$work/old" "$rev"
(cd "$work/old" && go build -o "$work/pg2s3-old" .)
go build -o "$work/pg2s3-new" .
psql -X -q -v ON_ERROR_STOP=1 -c "CREATE TABLE IF NOT EXISTS cmp_mixed AS SELECT g AS id, md5(g::text) AS a,
  g * 0.25 AS n, now() - g * interval '1 minute' AS ts, (g % 3 = 0) AS flag, repeat('x', g % 50) AS pad
  FROM generate_series(1, 2000000) g" 2>/dev/null
out="$work/times"
for _ in $(seq 1 "$runs"); do
	for v in old new; do
		/usr/bin/time -f "$v s3 %e %U %S %M" "$work/pg2s3-$v" export -t cmp_mixed -Q \
			--to "s3://$PG2S3_TEST_BUCKET/compare/$v.csv" >/dev/null 2>>"$out"
		/usr/bin/time -f "$v stdout %e %U %S %M" "$work/pg2s3-$v" export -t cmp_mixed -Q --to - >/dev/null 2>>"$out"
		/usr/bin/time -f "$v many %e %U %S %M" "$work/pg2s3-$v" export -t cmp_mixed -Q --chunk-size 8MiB --jobs 4 --overwrite \
			--to "s3://$PG2S3_TEST_BUCKET/compare/$v-many/" >/dev/null 2>>"$out"
	done
done
echo "HEAD ($(git rev-parse --short HEAD)) against $rev, $runs runs each, interleaved:"
awk '{k=$2; w[$1,k]+=$3; c[$1,k]+=$4+$5; if ($6>m[$1,k]) m[$1,k]=$6; n[$1,k]++}
END {
	for (d = 1; d <= 3; d++) {
		k = (d == 1) ? "s3" : (d == 2) ? "stdout" : "many"
		printf "%-7s old: wall %.2fs cpu %.2fs rss %.0f MiB | new: wall %.2fs cpu %.2fs rss %.0f MiB | new/old: wall %.3f cpu %.3f\n", k,
			w["old",k]/n["old",k], c["old",k]/n["old",k], m["old",k]/1024, w["new",k]/n["new",k], c["new",k]/n["new",k], m["new",k]/1024,
			(w["new",k]/n["new",k])/(w["old",k]/n["old",k]), (c["new",k]/n["new",k])/(c["old",k]/n["old",k])
	}
}' "$out"
