#!/usr/bin/env bash
# partition-speed.sh [RUNS] [VALUES]: the cost of --partition-by, measured side by side, interleaved,
# RUNS times each (default 3), on the same rows (2.5M rows of mixed columns, 430 MB of CSV, a column
# p of VALUES distinct values, default 1000) held twice: as an ordinary table, and as a table
# LIST-partitioned on p (one leaf per value).
#
#   ordinary  --to s3://prefix/                     the unpartitioned baseline
#   ordinary  --to s3://prefix/ --partition-by p    the server computes a key and sorts each chunk
#   native    --to s3://prefix/                     read leaf by leaf
#   native    --to s3://prefix/ --partition-by p    the leaves' bounds fix p: no key, no sort
#
# It prints the medians of wall time, client CPU, the servers' CPU (PostgreSQL and MinIO) and peak
# RSS, and each run's throughput relative to the baseline's.
# Runs inside the stack: scripts/stack.sh run -- scripts/partition-speed.sh (make partition-speed).
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-3}"
values="${2:-1000}"
. scripts/lib/measure.sh
if [ "$(psql -X -At -c "SELECT count(*) FROM pg_inherits WHERE inhparent = to_regclass('pspeed_native')")" != "$values" ]; then
	echo "partition-speed: creating the tables ($values partitions)" >&2
	psql -X -q -v ON_ERROR_STOP=1 <<SQL
DROP TABLE IF EXISTS pspeed_plain, pspeed_native;
CREATE TABLE pspeed_plain AS
SELECT g AS id, g % $values AS p, md5(g::text) AS a, md5((g * 3)::text) AS b, g * 0.25 AS n, (g % 1000)::numeric(10, 2) AS price,
       now() - g * interval '1 minute' AS ts, (g % 3 = 0) AS flag, repeat('x', g % 40) AS pad,
       CASE WHEN g % 7 = 0 THEN NULL ELSE 'note ' || g END AS note, g::float8 / 7 AS ratio
FROM generate_series(1, 2500000) g;
CREATE TABLE pspeed_native (LIKE pspeed_plain) PARTITION BY LIST (p);
SELECT format('CREATE TABLE pspeed_native_%s PARTITION OF pspeed_native FOR VALUES IN (%s)', v, v) FROM generate_series(0, $values - 1) v \gexec
INSERT INTO pspeed_native SELECT * FROM pspeed_plain;
VACUUM ANALYZE pspeed_plain, pspeed_native;
SQL
fi
to="s3://$PG2S3_TEST_BUCKET/partition-speed"
for _ in $(seq 1 "$runs"); do
	measure ordinary "$bin export -t pspeed_plain --to $to/plain/ --overwrite -Q"
	measure ordinary-partition-by "$bin export -t pspeed_plain --to $to/plain-part/ --partition-by p --overwrite -Q"
	measure native "$bin export -t pspeed_native --to $to/native/ --overwrite -Q"
	measure native-partition-by "$bin export -t pspeed_native --to $to/native-part/ --partition-by p --overwrite -Q"
done
echo "pg2s3 $(git rev-parse --short HEAD): --partition-by p ($values values) against the unpartitioned export of the same rows; $runs runs each, interleaved; medians"
echo "machine: $(nproc) cores, $(awk '/model name/ {sub(/.*: /, ""); print; exit}' /proc/cpuinfo), PostgreSQL $(psql -X -At -c 'SHOW server_version' | cut -d' ' -f1), MinIO on loopback"
report ordinary ordinary-partition-by native native-partition-by
