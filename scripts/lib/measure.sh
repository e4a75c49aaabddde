# Shared by the side-by-side measurements (partition-speed.sh, iceberg-speed.sh,
# incremental-speed.sh): sourcing it makes $tmp (a scratch folder, removed at exit) and builds this
# tree's pg2s3 as $bin. measure NAME COMMAND... runs a command once and appends its wall time,
# client CPU, peak RSS and the servers' CPU (PostgreSQL and MinIO) to $tmp/times; report BASELINE
# NAME... prints the medians per name and each one's throughput relative to BASELINE's.

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/pg2s3" .
bin="$tmp/pg2s3"

servers_cpu() {
	{ cat /proc/[0-9]*/stat 2>/dev/null || true; } |
		awk -v hz="$(getconf CLK_TCK)" '$2 == "(postgres)" || $2 == "(minio)" { s += $14 + $15 + $16 + $17 } END { printf "%.2f", s / hz }'
}

measure() { # name command...
	local name="$1" before
	shift
	before="$(servers_cpu)"
	/usr/bin/time -f "$name %e %U %S %M" -o "$tmp/one" bash -c "$*" >/dev/null
	sleep 0.2
	echo "$(cat "$tmp/one") $(awk -v a="$(servers_cpu)" -v b="$before" 'BEGIN { printf "%.2f", a - b }')" >>"$tmp/times"
}

report() { # baseline name...
	local names="$*"
	awk -v names="$names" '
function median(a, n,   i, j, t) { for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
	return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
{ k = $1; n[k]++; w[k, n[k]] = $2; c[k, n[k]] = $3 + $4; m[k, n[k]] = $5; s[k, n[k]] = $6 }
END {
	count = split(names, list, " ")
	printf "%-22s %8s %8s %14s %9s %22s\n", "export", "wall s", "cpu s", "servers cpu s", "rss MiB", "throughput/" list[1]
	for (i = 1; i <= n[list[1]]; i++) bw[i] = w[list[1], i]
	base = median(bw, n[list[1]])
	for (x = 1; x <= count; x++) {
		k = list[x]
		for (i = 1; i <= n[k]; i++) { ww[i] = w[k, i]; cc[i] = c[k, i]; mm[i] = m[k, i]; ss[i] = s[k, i] }
		mw = median(ww, n[k])
		printf "%-22s %8.2f %8.2f %14.2f %9.0f %22.2f\n", k, mw, median(cc, n[k]), median(ss, n[k]), median(mm, n[k]) / 1024, base / mw
	}
}' "$tmp/times"
}
