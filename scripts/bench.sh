#!/usr/bin/env bash
# bench.sh: runs inside `scripts/stack.sh run --` (make bench-approaches). Creates the two tables of
# the README's results and runs `pg2s3 bench` on each, writing docs/bench.md and two SVG charts.
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${RUNS:-3}"
go build -o pg2s3 .
psql -X -q -v ON_ERROR_STOP=1 <<'SQL'
-- The classic example: 3 million single integers, about 23 MB of CSV.
CREATE TABLE IF NOT EXISTS bench_narrow AS SELECT g AS id FROM generate_series(1, 3000000) g;
-- A wide table of mixed types, about 400 MB of CSV.
CREATE TABLE IF NOT EXISTS bench_wide AS
SELECT g AS id, (g::bigint * 7919) % 1000003 AS account, round((random() * 100000)::numeric, 2) AS amount,
       random() * 1e6 AS score, md5(g::text) AS ref, 'customer ' || (g % 50000) || ', "vip"' AS name,
       CASE WHEN g % 4 = 0 THEN NULL ELSE repeat(md5((g + 1)::text), 2) END AS note,
       now() - g * interval '37 seconds' AS created_at, DATE '2000-01-01' + (g % 9000) AS day, g % 3 = 0 AS active,
       jsonb_build_object('k', g, 'tags', jsonb_build_array('a', 'b,c', g % 10)) AS attrs,
       ARRAY[g, g + 1, NULL] AS ids
FROM generate_series(1, 1500000) g;
ANALYZE bench_narrow, bench_wide;
SQL
mkdir -p docs
{
	echo "# pg2s3 bench results"
	echo
	echo "Measured on $(date -u +%Y-%m-%d): $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), PostgreSQL"
	echo "$(psql -XAtc 'SHOW server_version') and MinIO on loopback, all on the same machine. Reproduce with \`make bench-approaches\`"
	echo "(\`RUNS=$runs\`), which runs, against a fresh stack:"
	echo
	echo '```'
	echo "pg2s3 bench --table bench_narrow --to s3://\$PG2S3_TEST_BUCKET/bench/ --runs $runs --markdown --svg docs/bench-narrow.svg"
	echo "pg2s3 bench --table bench_wide   --to s3://\$PG2S3_TEST_BUCKET/bench/ --runs $runs --markdown --svg docs/bench-wide.svg"
	echo '```'
	echo
	echo "## Narrow: 3,000,000 single integers"
	echo
	./pg2s3 bench --table bench_narrow --to "s3://$PG2S3_TEST_BUCKET/bench/" --runs "$runs" --markdown --svg docs/bench-narrow.svg
	echo
	echo "![narrow](bench-narrow.svg)"
	echo
	echo "## Wide: 1,500,000 rows of mixed types"
	echo
	./pg2s3 bench --table bench_wide --to "s3://$PG2S3_TEST_BUCKET/bench/" --runs "$runs" --markdown --svg docs/bench-wide.svg
	echo
	echo "![wide](bench-wide.svg)"
} >docs/bench.md.tmp
mv docs/bench.md.tmp docs/bench.md
echo "wrote docs/bench.md" >&2
