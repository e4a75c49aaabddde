#!/usr/bin/env bash
# speed.sh [RUNS]: pg2s3 against psql and the pipe tools, side by side, interleaved, RUNS times each
# (default 5), on a narrow table (3M integers) and a wide one (1M rows of mixed columns):
#
#   psql COPY > /dev/null | pg2s3 --to - > /dev/null | pg2s3 --to s3:// | psql | rclone rcat | psql | aws s3 cp -
#
# and prints the medians of wall time, CPU (user+sys of every process of the pipeline) and peak RSS,
# with the ratios to psql. Runs inside the stack: scripts/stack.sh run -- scripts/speed.sh (make speed).
# Installs rclone and the aws CLI from Debian's packages when they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-5}"
if ! command -v rclone >/dev/null || [ ! -x /usr/bin/aws ]; then
	echo "speed: installing rclone and awscli from Debian's packages" >&2
	apt-get update -qq >&2 && apt-get install -y -qq rclone awscli >&2
fi
go build -o "${TMPDIR:-/tmp}/pg2s3-speed" .
bin="${TMPDIR:-/tmp}/pg2s3-speed"
psql -X -q -v ON_ERROR_STOP=1 <<'SQL'
CREATE TABLE IF NOT EXISTS speed_narrow AS SELECT g AS id FROM generate_series(1, 3000000) g;
CREATE TABLE IF NOT EXISTS speed_wide AS
SELECT g AS id, md5(g::text) AS a, md5((g * 3)::text) AS b, g * 0.25 AS n, (g % 1000)::numeric(10, 2) AS price,
       now() - g * interval '1 minute' AS ts, (g % 3 = 0) AS flag, repeat('x', g % 40) AS pad,
       CASE WHEN g % 7 = 0 THEN NULL ELSE 'note ' || g END AS note, g::float8 / 7 AS ratio
FROM generate_series(1, 1000000) g;
SQL
export RCLONE_CONFIG_STORE_TYPE=s3 RCLONE_CONFIG_STORE_PROVIDER=Minio RCLONE_CONFIG_STORE_ENDPOINT="$AWS_ENDPOINT_URL" \
	RCLONE_CONFIG_STORE_ACCESS_KEY_ID="$AWS_ACCESS_KEY_ID" RCLONE_CONFIG_STORE_SECRET_ACCESS_KEY="$AWS_SECRET_ACCESS_KEY"
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
measure() { # table tool command...
	local table="$1" tool="$2"
	shift 2
	/usr/bin/time -f "$table $tool %e %U %S %M" -a -o "$out" bash -c "$*" >/dev/null
}
for _ in $(seq 1 "$runs"); do
	for t in speed_narrow speed_wide; do
		copy="COPY $t TO STDOUT WITH (FORMAT csv)"
		measure "$t" psql "psql -X -q -c '$copy' > /dev/null"
		measure "$t" pg2s3-stdout "$bin export -t $t --to - -Q > /dev/null"
		measure "$t" pg2s3-s3 "$bin export -t $t --to s3://$PG2S3_TEST_BUCKET/speed/$t-pg2s3.csv -Q"
		measure "$t" rclone-rcat "psql -X -q -c '$copy' | env -u AWS_CA_BUNDLE rclone rcat store:$PG2S3_TEST_BUCKET/speed/$t-rclone.csv"
		measure "$t" aws-s3-cp "psql -X -q -c '$copy' | env -u AWS_CA_BUNDLE /usr/bin/aws s3 cp - s3://$PG2S3_TEST_BUCKET/speed/$t-aws.csv --endpoint-url $AWS_ENDPOINT_URL --only-show-errors"
	done
done
echo "pg2s3 $(git rev-parse --short HEAD) against psql and the pipe tools; $runs runs each, interleaved; medians"
echo "machine: $(nproc) cores, $(awk '/model name/ {sub(/.*: /, ""); print; exit}' /proc/cpuinfo), PostgreSQL $(psql -X -At -c 'SHOW server_version' | cut -d' ' -f1), MinIO on loopback"
sort -k1,1 -k2,2 "$out" | awk '
function median(a, n,   i, j, t) { for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
	return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
{ k = $1 " " $2; n[k]++; w[k, n[k]] = $3; c[k, n[k]] = $4 + $5; m[k, n[k]] = $6; keys[k] = 1; tables[$1] = 1 }
END {
	split("psql pg2s3-stdout pg2s3-s3 rclone-rcat aws-s3-cp", tools, " ")
	for (tb in tables) {
		printf "\n%s\n%-14s %8s %8s %9s %10s %10s\n", tb, "tool", "wall s", "cpu s", "rss MiB", "wall/psql", "cpu/psql"
		pk = tb " psql"
		for (i = 1; i <= n[pk]; i++) { pw[i] = w[pk, i]; pc[i] = c[pk, i] }
		bw = median(pw, n[pk]); bc = median(pc, n[pk])
		for (x = 1; x <= 5; x++) {
			k = tb " " tools[x]
			if (!(k in keys)) continue
			for (i = 1; i <= n[k]; i++) { ww[i] = w[k, i]; cc[i] = c[k, i]; mm[i] = m[k, i] }
			mw = median(ww, n[k]); mc = median(cc, n[k]); mr = median(mm, n[k])
			printf "%-14s %8.2f %8.2f %9.0f %10.2f %10.2f\n", tools[x], mw, mc, mr / 1024, mw / bw, mc / bc
		}
	}
}'
