#!/usr/bin/env bash
# demo.sh: runs inside `scripts/stack.sh run --` (make demo): a million-row table, exported to MinIO.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== building pg2s3"
go build -o pg2s3 .
echo "== creating demo.orders (1,000,000 rows)"
psql -X -q -v ON_ERROR_STOP=1 <<'SQL'
CREATE TABLE demo_orders AS
SELECT g AS id,
       'customer ' || (g % 9973) AS customer,
       round((random() * 1000)::numeric, 2) AS amount,
       now() - g * interval '1 second' AS created_at,
       CASE WHEN g % 10 = 0 THEN NULL ELSE md5(g::text) END AS note
FROM generate_series(1, 1000000) g;
ANALYZE demo_orders;
SQL
echo "== pg2s3 export --table demo_orders --to s3://$PG2S3_TEST_BUCKET/demo/orders.csv --header"
# script(1) gives pg2s3 a terminal, so the live progress line shows even when make's output is piped.
if command -v script >/dev/null 2>&1 && [ -t 2 ]; then
	script -qec "./pg2s3 export --table demo_orders --to s3://$PG2S3_TEST_BUCKET/demo/orders.csv --header" /dev/null
else
	./pg2s3 export --table demo_orders --to "s3://$PG2S3_TEST_BUCKET/demo/orders.csv" --header
fi
echo "== the object in MinIO (HEAD s3://$PG2S3_TEST_BUCKET/demo/orders.csv)"
curl -fsS -I --aws-sigv4 "aws:amz:us-east-1:s3" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
	-H "x-amz-checksum-mode: ENABLED" "$AWS_ENDPOINT_URL/$PG2S3_TEST_BUCKET/demo/orders.csv" |
	grep -iE '^(HTTP|content-length|content-type|etag|last-modified|x-amz-checksum)' | tr -d '\r'
echo
echo "== first lines, through --to - (stdout)"
./pg2s3 export --query "SELECT * FROM demo_orders ORDER BY id LIMIT 3" --header --to - --quiet
echo
echo "== typed Parquet: pg2s3 export --table demo_orders --to s3://$PG2S3_TEST_BUCKET/demo/orders.parquet"
./pg2s3 export --table demo_orders --to "s3://$PG2S3_TEST_BUCKET/demo/orders.parquet"
echo
echo "== Hive-style partitions: --partition-by 'bucket=id % 4' (pg2s3 groups the rows; the server sorts nothing)"
./pg2s3 export --table demo_orders --to "s3://$PG2S3_TEST_BUCKET/demo/partitioned/" --partition-by "bucket=id % 4" --overwrite --quiet
curl -fsS --aws-sigv4 "aws:amz:us-east-1:s3" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
	"$AWS_ENDPOINT_URL/$PG2S3_TEST_BUCKET?list-type=2&prefix=demo%2Fpartitioned%2F" | grep -o '<Key>[^<]*</Key>' | sed 's/<[^>]*>//g'
