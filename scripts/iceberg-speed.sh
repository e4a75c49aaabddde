#!/usr/bin/env bash
# iceberg-speed.sh [RUNS]: the cost of --table-format iceberg, measured side by side, interleaved,
# RUNS times each (default 3), on the same table (2.5M rows of mixed columns, 430 MB of CSV: the
# table partition-speed.sh makes):
#
#   parquet   --format parquet --to s3://prefix/          the plain Parquet files, the baseline
#   iceberg   --table-format iceberg --to s3://prefix/    the same files, committed as an Iceberg table
#
# It prints the medians of wall time, client CPU, the servers' CPU and peak RSS, each one's
# throughput relative to the Parquet export's, and the bytes of both runs' files.
# Runs inside the stack: scripts/stack.sh run -- scripts/iceberg-speed.sh (make iceberg-speed).
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-3}"
. scripts/lib/measure.sh
if [ "$(psql -X -At -c "SELECT to_regclass('pspeed_plain') IS NOT NULL")" != t ]; then
	echo "iceberg-speed: creating the table" >&2
	psql -X -q -v ON_ERROR_STOP=1 <<SQL
CREATE TABLE pspeed_plain AS
SELECT g AS id, g % 1000 AS p, md5(g::text) AS a, md5((g * 3)::text) AS b, g * 0.25 AS n, (g % 1000)::numeric(10, 2) AS price,
       now() - g * interval '1 minute' AS ts, (g % 3 = 0) AS flag, repeat('x', g % 40) AS pad,
       CASE WHEN g % 7 = 0 THEN NULL ELSE 'note ' || g END AS note, g::float8 / 7 AS ratio
FROM generate_series(1, 2500000) g;
VACUUM ANALYZE pspeed_plain;
SQL
fi
to="s3://$PG2S3_TEST_BUCKET/iceberg-speed/$(date +%s)"
for i in $(seq 1 "$runs"); do
	measure parquet "$bin export -t pspeed_plain --format parquet --to $to/parquet-$i/ -Q"
	measure iceberg "$bin export -t pspeed_plain --table-format iceberg --to $to/iceberg/ -Q"
done
echo "pg2s3 $(git rev-parse --short HEAD): --table-format iceberg against the plain Parquet export of the same table; $runs runs each, interleaved; medians"
echo "machine: $(nproc) cores, $(awk '/model name/ {sub(/.*: /, ""); print; exit}' /proc/cpuinfo), PostgreSQL $(psql -X -At -c 'SHOW server_version' | cut -d' ' -f1), MinIO on loopback"
report parquet iceberg
"$bin" export -t pspeed_plain --format parquet --to "$to/sizes-parquet/" --json -Q >"$tmp/p.json"
"$bin" export -t pspeed_plain --table-format iceberg --to "$to/sizes-iceberg/" --json -Q >"$tmp/i.json"
python3 -c '
import json, sys
p, i = (json.load(open(f)) for f in sys.argv[1:3])
print("files: parquet %.1f MB in %d objects; iceberg %.1f MB in %d data files (its metadata aside)" % (p["bytes"] / 1e6, p["objects"], i["bytes"] / 1e6, i["objects"]))
' "$tmp/p.json" "$tmp/i.json"
