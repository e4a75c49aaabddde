#!/usr/bin/env bash
# stack.sh: a throwaway PostgreSQL cluster, MinIO server and Prometheus Pushgateway on loopback, for
# the demo and the tests.
#
#   scripts/stack.sh run -- CMD...   start both, run CMD with the stack's environment, stop both
#                                    (CMD's exit status is returned; the stack is stopped even on failure)
#   scripts/stack.sh up              start both in the background and print the environment (eval-able)
#   scripts/stack.sh env             print the environment of a running stack
#   scripts/stack.sh down            stop both and delete their data
#
# Installs what is missing: PostgreSQL from Debian's packages, MinIO with a pinned `go install` (the
# binary is cached in $(go env GOPATH)/bin, so only the first run pays the ~6 minute build).
# State lives in $PG2S3_STACK_DIR (default: a new temporary folder for `run`, /tmp/pg2s3-stack for `up`).
set -euo pipefail

MINIO_VERSION="v0.0.0-20260212201848-7aac2a2c5b7c"
PUSHGATEWAY_VERSION="v1.11.0"
MINIO_USER="pg2s3minio"
MINIO_PASSWORD="pg2s3-minio-secret"
PG_PASSWORD="pg2s3-pg-secret"
BUCKET="pg2s3-test"

log() { echo "stack: $*" >&2; }
die() { echo "stack: error: $*" >&2; exit 1; }

free_port() {
	python3 - <<'EOF' 2>/dev/null || echo $((20000 + RANDOM % 20000))
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
EOF
}

pg_bindir() {
	local d
	if command -v pg_config >/dev/null 2>&1; then
		d="$(pg_config --bindir)"
		if [ -x "$d/initdb" ]; then echo "$d"; return 0; fi
	fi
	for d in /usr/lib/postgresql/*/bin; do
		if [ -x "$d/initdb" ]; then echo "$d"; return 0; fi
	done
	return 1
}

ensure_postgres() {
	if ! pg_bindir >/dev/null || ! command -v psql >/dev/null 2>&1; then
		log "PostgreSQL not found; installing it from Debian's packages"
		apt-get update -qq >&2
		apt-get install -y -qq postgresql postgresql-client >&2
	fi
	pg_bindir >/dev/null || die "PostgreSQL server binaries (initdb) not found after install"
}

ensure_minio() {
	local gobin
	gobin="$(go env GOPATH)/bin"
	if [ -x "$gobin/minio" ]; then MINIO_BIN="$gobin/minio"; return; fi
	if command -v minio >/dev/null 2>&1; then MINIO_BIN="$(command -v minio)"; return; fi
	log "MinIO not found; building github.com/minio/minio@$MINIO_VERSION (about six minutes, cached afterwards)"
	(cd / && GOFLAGS=-mod=mod go install "github.com/minio/minio@$MINIO_VERSION") >&2
	MINIO_BIN="$gobin/minio"
}

# ensure_pushgateway builds the Prometheus Pushgateway (for --pushgateway's tests). The module proxy
# serves v1.11.0 without a version list, so `go install mod@v` refuses it; a throwaway module that
# requires it and runs `go build` works. The binary is cached beside MinIO's.
ensure_pushgateway() {
	local gobin tmp
	gobin="$(go env GOPATH)/bin"
	if [ -x "$gobin/pushgateway" ]; then PUSHGATEWAY_BIN="$gobin/pushgateway"; return; fi
	log "Pushgateway not found; building github.com/prometheus/pushgateway@$PUSHGATEWAY_VERSION (cached afterwards)"
	tmp="$(mktemp -d)"
	printf 'module pushgatewaybuild\n\ngo 1.26\n\nrequire github.com/prometheus/pushgateway %s\n' "$PUSHGATEWAY_VERSION" >"$tmp/go.mod"
	printf '//go:build tools\n\npackage tools\n\nimport _ "github.com/prometheus/pushgateway"\n' >"$tmp/tools.go"
	(cd "$tmp" && GOFLAGS=-mod=mod go mod tidy && go build -o "$gobin/pushgateway" github.com/prometheus/pushgateway) >&2 ||
		{ rm -rf "$tmp"; die "could not build the Pushgateway"; }
	rm -rf "$tmp"
	PUSHGATEWAY_BIN="$gobin/pushgateway"
}

# ensure_shells installs zsh and fish (Debian's packages) when missing, so that the completion
# scripts are checked by the shells that load them.
ensure_shells() {
	if ! command -v zsh >/dev/null 2>&1 || ! command -v fish >/dev/null 2>&1; then
		log "zsh or fish not found; installing them from Debian's packages (for the completion tests)"
		{ apt-get update -qq && apt-get install -y -qq zsh fish; } >&2 || log "warning: could not install zsh and fish"
	fi
}

# ensure_iceberg_reader installs the tests' Iceberg and Avro readers (npm's icebird and avsc, at the
# versions testdata/iceberg/package-lock.json pins) when they are missing.
ensure_iceberg_reader() {
	local dir
	dir="$(cd "$(dirname "$0")/.." && pwd)/testdata/iceberg"
	ICEBERG_READER="$dir/read.mjs"
	if [ -d "$dir/node_modules/icebird" ] && [ -d "$dir/node_modules/avsc" ]; then return; fi
	log "installing the Iceberg test readers (icebird, avsc) from the npm registry"
	(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error) >&2 || die "could not install the Iceberg test readers (npm ci in $dir)"
}

# as_postgres runs a command as the postgres user when we are root (PostgreSQL refuses to run as root).
as_postgres() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

# wait_ready NAME URL DIR waits up to a minute for URL to answer, while DIR/pid runs.
wait_ready() {
	local i
	for i in $(seq 1 120); do
		if curl -fsS "$2" >/dev/null 2>&1; then return 0; fi
		kill -0 "$(cat "$3/pid")" 2>/dev/null || { cat "$3/server.log" >&2; die "$1 exited"; }
		sleep 0.5
	done
	die "$1 did not become ready"
}

start() {
	local dir="$1"
	ensure_postgres
	ensure_minio
	ensure_pushgateway
	ensure_shells
	ensure_iceberg_reader
	mkdir -p "$dir"
	local bindir pgport minioport consoleport pushport
	bindir="$(pg_bindir)"
	pgport="$(free_port)"
	minioport="$(free_port)"
	consoleport="$(free_port)"
	pushport="$(free_port)"

	# PostgreSQL: trust on the Unix socket (for psql in scripts), scram over TCP so that passwords are real.
	mkdir -p "$dir/pg"
	printf '%s\n' "$PG_PASSWORD" >"$dir/pgpass.txt"
	if [ "$(id -u)" = 0 ]; then chown -R postgres "$dir/pg" "$dir/pgpass.txt"; chmod 755 "$dir"; fi
	as_postgres "$bindir/initdb" -D "$dir/pg/data" -U postgres --pwfile="$dir/pgpass.txt" \
		--auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
		{ cat "$dir/initdb.log" >&2; die "initdb failed"; }
	# A self-signed certificate, so that sslmode=require/verify-ca/verify-full can be tested.
	openssl req -x509 -newkey rsa:2048 -nodes -days 7 -subj "/CN=localhost" \
		-addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
		-keyout "$dir/pg/server.key" -out "$dir/pg/server.crt" >/dev/null 2>&1 || die "openssl could not make a certificate"
	chmod 600 "$dir/pg/server.key"
	if [ "$(id -u)" = 0 ]; then chown postgres "$dir/pg/server.key" "$dir/pg/server.crt"; fi
	as_postgres "$bindir/pg_ctl" -D "$dir/pg/data" -l "$dir/pg/server.log" -w -t 60 start \
		-o "-p $pgport -k $dir/pg -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200 -c max_prepared_transactions=10 -c ssl=on -c ssl_cert_file=$dir/pg/server.crt -c ssl_key_file=$dir/pg/server.key" >&2 ||
		{ cat "$dir/pg/server.log" >&2; die "PostgreSQL did not start"; }
	as_postgres "$bindir/psql" -h "$dir/pg" -p "$pgport" -U postgres -d postgres -qc "CREATE DATABASE pg2s3" >&2

	# MinIO on loopback.
	mkdir -p "$dir/minio/data"
	# A static KMS key, so that --sse AES256 and --sse aws:kms --sse-kms-key-id pg2s3-key can be tested.
	MINIO_ROOT_USER="$MINIO_USER" MINIO_ROOT_PASSWORD="$MINIO_PASSWORD" MINIO_BROWSER=off \
		MINIO_KMS_SECRET_KEY="pg2s3-key:$(printf 'pg2s3-test-kms-key-32-bytes-long' | base64)" \
		nohup "$MINIO_BIN" server --quiet --address "127.0.0.1:$minioport" \
		--console-address "127.0.0.1:$consoleport" "$dir/minio/data" >"$dir/minio/server.log" 2>&1 &
	echo $! >"$dir/minio/pid"
	# /live answers as soon as the process listens; /ready once the object layer serves requests
	# (before that, S3 calls get 503 "server not initialized").
	wait_ready MinIO "http://127.0.0.1:$minioport/minio/health/ready" "$dir/minio"
	curl -fsS --retry 10 --retry-delay 1 --aws-sigv4 "aws:amz:us-east-1:s3" --user "$MINIO_USER:$MINIO_PASSWORD" \
		-X PUT "http://127.0.0.1:$minioport/$BUCKET" >/dev/null || die "could not create bucket $BUCKET"

	# The Pushgateway on loopback, for --pushgateway.
	mkdir -p "$dir/pushgateway"
	nohup "$PUSHGATEWAY_BIN" --web.listen-address="127.0.0.1:$pushport" >"$dir/pushgateway/server.log" 2>&1 &
	echo $! >"$dir/pushgateway/pid"
	wait_ready "the Pushgateway" "http://127.0.0.1:$pushport/-/ready" "$dir/pushgateway"

	cat >"$dir/env" <<EOF
export PG2S3_STACK_DIR='$dir'
export PG2S3_PG_BINDIR='$bindir'
export PGHOST='127.0.0.1'
export PGPORT='$pgport'
export PGUSER='postgres'
export PGPASSWORD='$PG_PASSWORD'
export PGDATABASE='pg2s3'
export PGSSLMODE='disable'
export PG2S3_TEST_DSN='postgres://postgres:$PG_PASSWORD@127.0.0.1:$pgport/pg2s3?sslmode=disable'
export PG2S3_TEST_PGSOCKET='$dir/pg'
export PG2S3_TEST_PG_CA='$dir/pg/server.crt'
export AWS_ACCESS_KEY_ID='$MINIO_USER'
export AWS_SECRET_ACCESS_KEY='$MINIO_PASSWORD'
export AWS_REGION='us-east-1'
export AWS_ENDPOINT_URL='http://127.0.0.1:$minioport'
export PG2S3_TEST_S3_ENDPOINT='http://127.0.0.1:$minioport'
export PG2S3_TEST_BUCKET='$BUCKET'
export PG2S3_TEST_KMS_KEY='pg2s3-key'
export PG2S3_TEST_PUSHGATEWAY='http://127.0.0.1:$pushport'
export PG2S3_TEST_ICEBERG_READER='$ICEBERG_READER'
EOF
	log "PostgreSQL on 127.0.0.1:$pgport, MinIO on 127.0.0.1:$minioport, bucket $BUCKET, Pushgateway on 127.0.0.1:$pushport (state in $dir)"
}

stop() {
	local dir="$1"
	[ -d "$dir" ] || return 0
	local p
	for p in minio pushgateway; do
		if [ -f "$dir/$p/pid" ]; then
			kill "$(cat "$dir/$p/pid")" 2>/dev/null || true
		fi
	done
	if [ -f "$dir/pg/data/postmaster.pid" ]; then
		as_postgres "$(pg_bindir)/pg_ctl" -D "$dir/pg/data" -m immediate -w stop >/dev/null 2>&1 || true
	fi
	rm -rf "$dir"
}

cmd="${1:-}"
shift || true
case "$cmd" in
run)
	[ "${1:-}" = "--" ] && shift
	[ $# -gt 0 ] || die "usage: stack.sh run -- CMD..."
	dir="${PG2S3_STACK_DIR:-$(mktemp -d /tmp/pg2s3-stack.XXXXXX)}"
	trap 'stop "$dir"' EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	start "$dir"
	# shellcheck disable=SC1091
	set +e
	(. "$dir/env" && "$@")
	rc=$?
	exit $rc
	;;
up)
	dir="${PG2S3_STACK_DIR:-/tmp/pg2s3-stack}"
	if [ -f "$dir/env" ]; then
		log "already running (state in $dir)"
	else
		start "$dir"
	fi
	cat "$dir/env"
	;;
env)
	dir="${PG2S3_STACK_DIR:-/tmp/pg2s3-stack}"
	[ -f "$dir/env" ] || die "no stack running in $dir (run: scripts/stack.sh up)"
	cat "$dir/env"
	;;
down)
	stop "${PG2S3_STACK_DIR:-/tmp/pg2s3-stack}"
	;;
*)
	sed -n '2,12p' "$0" >&2
	exit 2
	;;
esac
