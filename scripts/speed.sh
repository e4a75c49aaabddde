#!/usr/bin/env bash
# speed.sh [RUNS] [BASE]: pg2s3 against psql and the pipe tools, side by side, interleaved, RUNS times
# each (default 5), on a narrow table (3M integers, 24 MB of CSV) and a wide one (2.5M rows of mixed
# columns, 430 MB of CSV):
#
#   psql COPY > /dev/null | pg2s3 --to - > /dev/null | pg2s3 --to s3:// | pg2s3 --to s3://...parquet
#   | pg2s3 --to s3://prefix/ | pg2s3 --to s3://prefix/ --partition-by 'p=id % 1000'
#   | psql | rclone rcat | psql | aws s3 cp -
#
# and prints the medians of wall time, CPU (user+sys of every process of the pipeline) and peak RSS,
# with the ratios to psql. With BASE (a git revision), that revision's pg2s3 runs too, in the same
# rounds (base-stdout, base-s3): before and after, measured side by side.
# Runs inside the stack: scripts/stack.sh run -- scripts/speed.sh (make speed, make speed BASE=rev).
# Installs rclone and the aws CLI from Debian's packages when they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-5}"
base="${2:-}"
if ! command -v rclone >/dev/null || [ ! -x /usr/bin/aws ]; then
	echo "speed: installing rclone and awscli from Debian's packages" >&2
	apt-get update -qq >&2 && apt-get install -y -qq rclone awscli >&2
fi
tmp="$(mktemp -d)"
trap 'git worktree remove --force "$tmp/base" 2>/dev/null || true; rm -rf "$tmp"' EXIT
go build -o "$tmp/pg2s3" .
bin="$tmp/pg2s3"
if [ -n "$base" ]; then
	git worktree add -q --detach "$tmp/base" "$base"
	(cd "$tmp/base" && go build -o "$tmp/pg2s3-base" .)
fi
psql -X -q -v ON_ERROR_STOP=1 <<'SQL'
CREATE TABLE IF NOT EXISTS speed_narrow AS SELECT g AS id FROM generate_series(1, 3000000) g;
CREATE TABLE IF NOT EXISTS speed_wide AS
SELECT g AS id, md5(g::text) AS a, md5((g * 3)::text) AS b, g * 0.25 AS n, (g % 1000)::numeric(10, 2) AS price,
       now() - g * interval '1 minute' AS ts, (g % 3 = 0) AS flag, repeat('x', g % 40) AS pad,
       CASE WHEN g % 7 = 0 THEN NULL ELSE 'note ' || g END AS note, g::float8 / 7 AS ratio
FROM generate_series(1, 2500000) g;
SQL
export RCLONE_CONFIG_STORE_TYPE=s3 RCLONE_CONFIG_STORE_PROVIDER=Minio RCLONE_CONFIG_STORE_ENDPOINT="$AWS_ENDPOINT_URL" \
	RCLONE_CONFIG_STORE_ACCESS_KEY_ID="$AWS_ACCESS_KEY_ID" RCLONE_CONFIG_STORE_SECRET_ACCESS_KEY="$AWS_SECRET_ACCESS_KEY"
out="$tmp/times"
# The servers' CPU in seconds: every postgres and minio process, with the children they reaped
# (a backend's CPU reaches the postmaster's when it exits).
servers_cpu() {
	{ cat /proc/[0-9]*/stat 2>/dev/null || true; } | # processes come and go while it reads
		awk -v hz="$(getconf CLK_TCK)" '$2 == "(postgres)" || $2 == "(minio)" { s += $14 + $15 + $16 + $17 } END { printf "%.2f", s / hz }'
}
measure() { # table tool command...
	local table="$1" tool="$2" before
	shift 2
	before="$(servers_cpu)"
	/usr/bin/time -f "$table $tool %e %U %S %M" -o "$tmp/one" bash -c "$*" >/dev/null
	sleep 0.2 # the backend's exit, for the postmaster's count
	echo "$(cat "$tmp/one") $(awk -v a="$(servers_cpu)" -v b="$before" 'BEGIN { printf "%.2f", a - b }')" >>"$out"
}
for _ in $(seq 1 "$runs"); do
	for t in speed_narrow speed_wide; do
		copy="COPY $t TO STDOUT WITH (FORMAT csv)"
		measure "$t" psql "psql -X -q -c '$copy' > /dev/null"
		measure "$t" pg2s3-stdout "$bin export -t $t --to - -Q > /dev/null"
		measure "$t" pg2s3-s3 "$bin export -t $t --to s3://$PG2S3_TEST_BUCKET/speed/$t-pg2s3.csv -Q"
		measure "$t" pg2s3-parquet "$bin export -t $t --to s3://$PG2S3_TEST_BUCKET/speed/$t-pg2s3.parquet -Q"
		# Many objects under a prefix (chunks in parallel), unpartitioned and in 1,000 partitions.
		measure "$t" pg2s3-prefix "$bin export -t $t --to s3://$PG2S3_TEST_BUCKET/speed/$t-prefix/ --overwrite -Q"
		measure "$t" pg2s3-part1000 "$bin export -t $t --to s3://$PG2S3_TEST_BUCKET/speed/$t-part/ --partition-by 'p=id % 1000' --overwrite -Q"
		if [ -n "$base" ]; then
			measure "$t" base-stdout "$tmp/pg2s3-base export -t $t --to - -Q > /dev/null"
			measure "$t" base-s3 "$tmp/pg2s3-base export -t $t --to s3://$PG2S3_TEST_BUCKET/speed/$t-base.csv -Q"
		fi
		measure "$t" rclone-rcat "psql -X -q -c '$copy' | env -u AWS_CA_BUNDLE rclone rcat store:$PG2S3_TEST_BUCKET/speed/$t-rclone.csv"
		measure "$t" aws-s3-cp "psql -X -q -c '$copy' | env -u AWS_CA_BUNDLE /usr/bin/aws s3 cp - s3://$PG2S3_TEST_BUCKET/speed/$t-aws.csv --endpoint-url $AWS_ENDPOINT_URL --only-show-errors"
	done
done
echo "pg2s3 $(git rev-parse --short HEAD)${base:+ (base: $base = $(git rev-parse --short "$base"))} against psql and the pipe tools; $runs runs each, interleaved; medians"
echo "servers cpu: PostgreSQL's and MinIO's CPU during the run; cpu/cores: (cpu + servers cpu) / cores, the"
echo "shortest wall time the shared machine's CPU allows for that tool"
echo "machine: $(nproc) cores, $(awk '/model name/ {sub(/.*: /, ""); print; exit}' /proc/cpuinfo), PostgreSQL $(psql -X -At -c 'SHOW server_version' | cut -d' ' -f1), MinIO on loopback"
sort -k1,1 -k2,2 "$out" | awk -v cores="$(nproc)" '
function median(a, n,   i, j, t) { for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
	return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
{ k = $1 " " $2; n[k]++; w[k, n[k]] = $3; c[k, n[k]] = $4 + $5; m[k, n[k]] = $6; sv[k, n[k]] = $7; keys[k] = 1; tables[$1] = 1 }
END {
	nt = split("psql base-stdout pg2s3-stdout base-s3 pg2s3-s3 pg2s3-parquet pg2s3-prefix pg2s3-part1000 rclone-rcat aws-s3-cp", tools, " ")
	for (tb in tables) {
		printf "\n%s\n%-14s %8s %8s %9s %10s %10s %13s %10s\n", tb, "tool", "wall s", "cpu s", "rss MiB", "wall/psql", "cpu/psql", "servers cpu s", "cpu/cores"
		pk = tb " psql"
		for (i = 1; i <= n[pk]; i++) { pw[i] = w[pk, i]; pc[i] = c[pk, i] }
		bw = median(pw, n[pk]); bc = median(pc, n[pk])
		for (x = 1; x <= nt; x++) {
			k = tb " " tools[x]
			if (!(k in keys)) continue
			for (i = 1; i <= n[k]; i++) { ww[i] = w[k, i]; cc[i] = c[k, i]; mm[i] = m[k, i]; ss[i] = sv[k, i] }
			mw = median(ww, n[k]); mc = median(cc, n[k]); mr = median(mm, n[k]); ms = median(ss, n[k])
			printf "%-14s %8.2f %8.2f %9.0f %10.2f %10.2f %13.2f %10.2f\n", tools[x], mw, mc, mr / 1024, mw / bw, mc / bc, ms, (mc + ms) / cores
		}
	}
}'
