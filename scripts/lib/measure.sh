# Shared by the side-by-side measurements (partition-speed.sh, iceberg-speed.sh,
# incremental-speed.sh): sourcing it makes $tmp (a scratch folder, removed at exit) and builds this
# tree's pg2s3 as $bin. measure NAME COMMAND... runs a command once and appends its wall time,
# client CPU, peak RSS and the servers' CPU (PostgreSQL's and MinIO's apart) to $tmp/times; report
# BASELINE NAME... prints the medians per name, each one's throughput relative to BASELINE's, and
# the same ratio of pg2s3's and PostgreSQL's CPU, with the store's set apart.

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/pg2s3" .
bin="$tmp/pg2s3"

servers_cpu() { # PostgreSQL's CPU seconds, then the store's (MinIO's)
	{ cat /proc/[0-9]*/stat 2>/dev/null || true; } |
		awk -v hz="$(getconf CLK_TCK)" '$2 == "(postgres)" { p += $14 + $15 + $16 + $17 } $2 == "(minio)" { m += $14 + $15 + $16 + $17 } END { printf "%.2f %.2f", p / hz, m / hz }'
}

measure() { # name command...
	local name="$1" before
	shift
	before="$(servers_cpu)"
	/usr/bin/time -f "$name %e %U %S %M" -o "$tmp/one" bash -c "$*" >/dev/null
	sleep 0.2
	echo "$(cat "$tmp/one") $(echo "$(servers_cpu) $before" | awk '{ printf "%.2f %.2f", $1 - $3, $2 - $4 }')" >>"$tmp/times"
}

report() { # baseline name...
	local names="$*"
	awk -v names="$names" '
function median(a, n,   i, j, t) { for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
	return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
{ k = $1; n[k]++; w[k, n[k]] = $2; c[k, n[k]] = $3 + $4; m[k, n[k]] = $5; p[k, n[k]] = $6; s[k, n[k]] = $7 }
END {
	count = split(names, list, " ")
	printf "%-22s %7s %11s %11s %10s %8s %14s %20s\n", "export", "wall s", "pg2s3 cpu s", "postgres s", "store s", "rss MiB", "throughput/" list[1], "cpu without store/" list[1]
	for (x = 1; x <= count; x++) {
		k = list[x]
		for (i = 1; i <= n[k]; i++) { ww[i] = w[k, i]; cc[i] = c[k, i]; mm[i] = m[k, i]; pp[i] = p[k, i]; ss[i] = s[k, i]; ee[i] = c[k, i] + p[k, i] }
		mw[x] = median(ww, n[k]); mc = median(cc, n[k]); mp = median(pp, n[k]); me[x] = median(ee, n[k])
		printf "%-22s %7.2f %11.2f %11.2f %10.2f %8.0f %14.2f %20.2f\n", k, mw[x], mc, mp, median(ss, n[k]), median(mm, n[k]) / 1024, mw[1] / mw[x], me[1] / me[x]
	}
	print "(cpu without store: pg2s3 and PostgreSQL CPU seconds of " list[1] " over this export'"'"'s, the store'"'"'s CPU set apart)"
}' "$tmp/times"
}
