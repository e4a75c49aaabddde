#!/usr/bin/env bash
# incremental-speed.sh [RUNS]: what an incremental run costs against what changed, side by side,
# on one table of 5,000,000 rows with a btree index on its updated_at (DEFAULT now()):
#
#   full        the first run (every row), to S3
#   psql-N      psql fetching the N changed rows through the index (COPY to /dev/null)
#   inc-N       the incremental run after N rows changed (1,000 / 10,000 / 100,000), to S3
#   inc-0       a run with nothing changed
#   iceberg-*   the first run and runs after 1,000 changed rows into an Iceberg table (equality deletes)
#
# Each N is measured RUNS times (default 3): change N rows, read them once (the first reader sets
# their hint bits), then psql, then pg2s3. It prints the medians,
# inc-N / psql-N and inc-N / full, and the mode and planner's scan each run recorded.
# Runs inside the stack: scripts/stack.sh run -- scripts/incremental-speed.sh (make incremental-speed).
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-3}"
. scripts/lib/measure.sh
rows=5000000
if [ "$(psql -X -At -c "SELECT to_regclass('inc_speed') IS NOT NULL")" != t ]; then
	echo "incremental-speed: creating the table" >&2
	psql -X -q -v ON_ERROR_STOP=1 <<SQL
CREATE TABLE inc_speed (id bigint PRIMARY KEY, account int NOT NULL, amount numeric(12, 2), ref text, note text,
	updated_at timestamptz NOT NULL DEFAULT now());
INSERT INTO inc_speed SELECT g, g % 100003, (g % 100000) / 100.0, md5(g::text), 'note ' || g,
	timestamptz '2026-01-01' + g * interval '1 second' FROM generate_series(1, $rows) g;
CREATE INDEX ON inc_speed (updated_at);
VACUUM ANALYZE inc_speed;
SQL
fi
base="s3://$PG2S3_TEST_BUCKET/incremental-speed/$(date +%s)/"
measure full "$bin export -t inc_speed --to $base --incremental updated_at -Q"
psql -X -At -c "SELECT pg_size_pretty(pg_relation_size('inc_speed')), pg_size_pretty(pg_indexes_size('inc_speed'))" >"$tmp/size"
for n in 1000 10000 100000; do
	for i in $(seq 1 "$runs"); do
		since="$(psql -X -At -c "SELECT now()")"
		# n rows spread over the table (one in every rows/n), as updates of live rows are
		start=$((RANDOM % (rows / n)))
		psql -X -q -c "UPDATE inc_speed SET note = 'changed', updated_at = now() WHERE id % $((rows / n)) = $start" >/dev/null
		# the first reader of the new rows sets their hint bits: not in either measurement
		psql -X -q -c "SELECT sum(length(note)) FROM inc_speed WHERE updated_at >= '$since'" >/dev/null
		measure "psql-$n" "psql -X -q -c \"COPY (SELECT * FROM inc_speed WHERE updated_at >= '$since') TO STDOUT\""
		measure "inc-$n" "$bin export -t inc_speed --to $base --incremental updated_at -Q"
	done
done
for i in $(seq 1 "$runs"); do
	measure inc-0 "$bin export -t inc_speed --to $base --incremental updated_at -Q"
done
# The same into an Iceberg table: the changed rows plus an equality delete file of their keys.
ice="s3://$PG2S3_TEST_BUCKET/incremental-speed/$(date +%s)-iceberg/"
measure iceberg-full "$bin export -t inc_speed --to $ice --table-format iceberg --incremental updated_at -Q"
for i in $(seq 1 "$runs"); do
	since="$(psql -X -At -c "SELECT now()")"
	psql -X -q -c "UPDATE inc_speed SET note = 'iceberg', updated_at = now() WHERE id % 5000 = $((RANDOM % 5000))" >/dev/null
	psql -X -q -c "SELECT sum(length(note)) FROM inc_speed WHERE updated_at >= '$since'" >/dev/null
	measure iceberg-1000 "$bin export -t inc_speed --to $ice --table-format iceberg --incremental updated_at -Q"
done
echo "pg2s3 $(git rev-parse --short HEAD): incremental runs against what changed; a table of $rows rows ($(cut -d'|' -f1 "$tmp/size") heap, $(cut -d'|' -f2 "$tmp/size") of indexes); $runs runs each; medians"
echo "machine: $(nproc) cores, $(awk '/model name/ {sub(/.*: /, ""); print; exit}' /proc/cpuinfo), PostgreSQL $(psql -X -At -c 'SHOW server_version' | cut -d' ' -f1), MinIO on loopback"
report full psql-1000 inc-1000 psql-10000 inc-10000 psql-100000 inc-100000 inc-0 iceberg-full iceberg-1000
awk '
function median(a, n,   i, j, t) { for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
	return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
{ k = $1; n[k]++; w[k, n[k]] = $2 }
END {
	for (i = 1; i <= n["full"]; i++) f[i] = w["full", i]
	full = median(f, n["full"])
	split("1000 10000 100000", ns, " ")
	for (x = 1; x <= 3; x++) {
		delete a; delete b
		for (i = 1; i <= n["inc-" ns[x]]; i++) a[i] = w["inc-" ns[x], i]
		for (i = 1; i <= n["psql-" ns[x]]; i++) b[i] = w["psql-" ns[x], i]
		inc = median(a, n["inc-" ns[x]]); ps = median(b, n["psql-" ns[x]])
		printf "%7d changed rows: pg2s3 %.2f s = %.2fx psql through the index (%.2f s), %.1f%% of the full export (%.2f s)\n", ns[x], inc, inc / ps, ps, 100 * inc / full, full
	}
	delete a; delete b
	for (i = 1; i <= n["iceberg-1000"]; i++) a[i] = w["iceberg-1000", i]
	for (i = 1; i <= n["iceberg-full"]; i++) b[i] = w["iceberg-full", i]
	ice = median(a, n["iceberg-1000"]); icefull = median(b, n["iceberg-full"])
	printf "   1000 changed rows into Iceberg: %.2f s, %.1f%% of the first run into Iceberg (%.2f s)\n", ice, 100 * ice / icefull, icefull
}' "$tmp/times"
"$bin" runs "$base" --json | python3 -c '
import json, sys
for s in json.load(sys.stdin):
    t = s["tables"][0]
    print("run %d: %s, planner: %s, est. %d rows%s" % (s["run"], t.get("mode") or "first run", t.get("planner_scan") or "-", t["est_rows"],
        (", " + t["full_scan_reason"]) if t.get("full_scan_reason") else ""))
'
