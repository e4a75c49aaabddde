#!/usr/bin/env bash
# soak.sh [N] [NICE]: the whole suite (as `make test` runs it) N times in a row (default 10) on one
# stack, while two busy loops keep both cores loaded (at niceness NICE, default 5: they take what
# the tests leave, and about a quarter of a core each when the tests want both). Stops at the first
# failing run and prints its failures; prints each run's time.
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-10}"
nice_level="${2:-5}"
export SOAK_N="$n" SOAK_NICE="$nice_level"
scripts/stack.sh run -- bash -c '
	set -u
	pids=()
	for _ in 1 2; do nice -n "$SOAK_NICE" sh -c "while :; do :; done" & pids+=($!); done
	trap "kill ${pids[*]} 2>/dev/null" EXIT
	log="$(mktemp)"
	for i in $(seq 1 "$SOAK_N"); do
		start=$(date +%s)
		if ! go test -count=1 -race -p 1 -timeout 30m ./... >"$log" 2>&1; then
			echo "soak: run $i of $SOAK_N FAILED after $(( $(date +%s) - start ))s:"
			grep -E "^(--- FAIL|FAIL|panic)|_test.go:[0-9]+:" "$log" | head -40
			exit 1
		fi
		echo "soak: run $i of $SOAK_N passed in $(( $(date +%s) - start ))s (load: 2 busy loops at nice $SOAK_NICE)"
	done
'
