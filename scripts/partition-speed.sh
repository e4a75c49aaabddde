#!/usr/bin/env bash
# partition-speed.sh [RUNS] [VALUES]: the cost of --partition-by, measured side by side, interleaved,
# RUNS times each (default 3), on the same rows (2.5M rows of mixed columns, 430 MB of CSV, a column
# p of VALUES distinct values, default 1000) held three times: as an ordinary table whose values
# arrive interleaved row by row (p = id % VALUES, the worst case for grouping rows), as an ordinary
# table whose values arrive in runs (as rows inserted day by day do), and as a table LIST-partitioned
# on p (one leaf per value).
#
#   ordinary   --to s3://prefix/                     the unpartitioned baseline
#   ordinary   --to s3://prefix/ --partition-by p    interleaved: rows wait in memory and a spill file
#   clustered  --to s3://prefix/ --partition-by p    in runs: rows go straight to their objects
#   native     --to s3://prefix/                     read leaf by leaf
#   native     --to s3://prefix/ --partition-by p    the leaves' bounds fix p: no key at all
#
# It prints the medians of wall time, pg2s3's, PostgreSQL's and MinIO's CPU and peak RSS, each
# run's throughput relative to the baseline's, and the same ratio of pg2s3's and PostgreSQL's CPU
# (the store's set apart). Then the store's own cost per object on this machine: MinIO's CPU for
# aws s3 cp of as many objects as the partitioned run wrote, against one object of the same bytes.
# Runs inside the stack: scripts/stack.sh run -- scripts/partition-speed.sh (make partition-speed).
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-3}"
values="${2:-1000}"
. scripts/lib/measure.sh
if [ "$(psql -X -At -c "SELECT count(*) FROM pg_inherits WHERE inhparent = to_regclass('pspeed_native')")" != "$values" ] ||
	[ -z "$(psql -X -At -c "SELECT to_regclass('pspeed_clustered')")" ]; then
	echo "partition-speed: creating the tables ($values partitions)" >&2
	psql -X -q -v ON_ERROR_STOP=1 <<SQL
DROP TABLE IF EXISTS pspeed_plain, pspeed_native, pspeed_clustered;
CREATE TABLE pspeed_plain AS
SELECT g AS id, g % $values AS p, md5(g::text) AS a, md5((g * 3)::text) AS b, g * 0.25 AS n, (g % 1000)::numeric(10, 2) AS price,
       now() - g * interval '1 minute' AS ts, (g % 3 = 0) AS flag, repeat('x', g % 40) AS pad,
       CASE WHEN g % 7 = 0 THEN NULL ELSE 'note ' || g END AS note, g::float8 / 7 AS ratio
FROM generate_series(1, 2500000) g;
CREATE TABLE pspeed_native (LIKE pspeed_plain) PARTITION BY LIST (p);
SELECT format('CREATE TABLE pspeed_native_%s PARTITION OF pspeed_native FOR VALUES IN (%s)', v, v) FROM generate_series(0, $values - 1) v \gexec
INSERT INTO pspeed_native SELECT * FROM pspeed_plain;
CREATE TABLE pspeed_clustered AS SELECT * FROM pspeed_plain ORDER BY p, id;
VACUUM ANALYZE pspeed_plain, pspeed_native, pspeed_clustered;
SQL
fi
to="s3://$PG2S3_TEST_BUCKET/partition-speed"
for _ in $(seq 1 "$runs"); do
	measure ordinary "$bin export -t pspeed_plain --to $to/plain/ --overwrite -Q"
	measure ordinary-partition-by "$bin export -t pspeed_plain --to $to/plain-part/ --partition-by p --overwrite -Q"
	measure clustered-partition-by "$bin export -t pspeed_clustered --to $to/clustered-part/ --partition-by p --overwrite -Q"
	measure native "$bin export -t pspeed_native --to $to/native/ --overwrite -Q"
	measure native-partition-by "$bin export -t pspeed_native --to $to/native-part/ --partition-by p --overwrite -Q"
done
echo "pg2s3 $(git rev-parse --short HEAD): --partition-by p ($values values) against the unpartitioned export of the same rows; $runs runs each, interleaved; medians"
echo "machine: $(nproc) cores, $(awk '/model name/ {sub(/.*: /, ""); print; exit}' /proc/cpuinfo), PostgreSQL $(psql -X -At -c 'SHOW server_version' | cut -d' ' -f1), MinIO on loopback"
report ordinary ordinary-partition-by clustered-partition-by native native-partition-by
echo
$bin export -t pspeed_plain --to "$to/plain-part/" --partition-by p --overwrite --json >"$tmp/sum" 2>/dev/null
objects="$(sed -E 's/.*"objects":([0-9]+).*/\1/' "$tmp/sum")"
echo "ordinary --partition-by p: $objects objects; $(sed -E 's/.*"spilled_bytes":([0-9]+).*/\1/;t;s/.*/0/' "$tmp/sum") bytes spilled"
if ! command -v aws >/dev/null; then
	echo "store's cost per object: not measured (no aws CLI)"
	exit 0
fi
# The store's cost per object: the same bytes as $objects objects and as one, with aws s3 cp.
bytes="$(sed -E 's/.*"bytes":([0-9]+).*/\1/' "$tmp/sum")"
mkdir -p "$tmp/many"
head -c "$((bytes / objects))" /dev/urandom >"$tmp/piece"
for i in $(seq 1 "$objects"); do ln "$tmp/piece" "$tmp/many/$i.csv"; done
head -c "$bytes" /dev/urandom >"$tmp/one.csv"
store() { # the store's CPU seconds while the command runs
	local before after
	before="$(servers_cpu | cut -d' ' -f2)"
	"$@" >/dev/null
	sleep 0.2
	after="$(servers_cpu | cut -d' ' -f2)"
	awk -v a="$after" -v b="$before" 'BEGIN { printf "%.2f", a - b }'
}
many="$(store aws s3 cp --recursive --quiet "$tmp/many" "$to/store-cost/many/")"
one="$(store aws s3 cp --quiet "$tmp/one.csv" "$to/store-cost/one.csv")"
awk -v m="$many" -v o="$one" -v n="$objects" 'BEGIN {
	printf "store'"'"'s cost per object: MinIO CPU %.2f s for %d objects, %.2f s for one of the same bytes (aws s3 cp): %.1f ms per object, %.2f s for this run'"'"'s objects\n", m, n, o, (m - o) / (n - 1) * 1000, (m - o) / (n - 1) * n }'
