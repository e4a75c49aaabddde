# The two commands a fresh machine needs: `make demo` and `make test`. Both start their own
# PostgreSQL and MinIO on loopback (scripts/stack.sh) and stop them afterwards.
.PHONY: build demo test test-unit bench bench-approaches lint faults compare soak speed partition-speed iceberg-speed incremental-speed image release-snapshot k8s-local man

# The VCS stamp (pg2s3 version's revision) and a build date, as the release build has.
build:
	go build -buildvcs=auto -ldflags "-X github.com/pg2s3/pg2s3/command.BuildDate=$$(date -u +%Y-%m-%dT%H:%M:%SZ)" -o pg2s3 .

demo:
	scripts/stack.sh run -- scripts/demo.sh

# The whole suite, services included. .ci/run calls exactly this. Packages run one at a time (-p 1)
# because the fault suite restarts the PostgreSQL server.
test: lint
	scripts/stack.sh run -- go test -count=1 -race -p 1 -timeout 30m ./...

lint:
	scripts/lint.sh

# The fault-injection suite, PG2S3_FAULT_RUNS times each, tallied into docs/reliability.md.
faults:
	scripts/faults.sh

# Without services: the tests that need them skip and say which variable is missing.
test-unit:
	go test -count=1 ./...

bench:
	scripts/stack.sh run -- go test -run '^$$' -bench . -benchtime 3x -timeout 30m ./engine/ ./bench/

# pg2s3 bench on the README's two tables: COPY against the cursor and in-memory approaches.
bench-approaches:
	scripts/stack.sh run -- scripts/bench.sh

# HEAD against an earlier revision, side by side on one table: one object, stdout, many objects (make compare REV=3eb1df6).
compare:
	scripts/stack.sh run -- scripts/compare-rev.sh $(REV)

# The whole suite 10 times in a row while two busy loops keep both cores loaded.
soak:
	scripts/soak.sh 10

# pg2s3 against psql, rclone rcat and aws s3 cp, side by side (docs/speed.md); BASE=rev adds an
# earlier revision in the same rounds.
speed:
	scripts/stack.sh run -- scripts/speed.sh 5 $(BASE)

# --partition-by against the unpartitioned export of the same rows, on an ordinary and a
# LIST-partitioned table (docs/speed.md); VALUES=n sets the number of partitions (default 1000).
partition-speed:
	scripts/stack.sh run -- scripts/partition-speed.sh 3 $(or $(VALUES),1000)

iceberg-speed:
	scripts/stack.sh run -- scripts/iceberg-speed.sh 3

# Incremental runs after 1,000 / 10,000 / 100,000 changed rows of a 5M-row table, against psql
# fetching those rows through the index and against the full export (docs/speed.md).
incremental-speed:
	scripts/stack.sh run -- scripts/incremental-speed.sh 3

# The FROM-scratch image (Containerfile), built offline with podman and checked by its filesystem.
image:
	scripts/image.sh

# The release build of .goreleaser.yaml (linux and darwin, amd64 and arm64, archives and checksums
# in dist/), offline, publishing nothing. Installs the pinned goreleaser when it is missing.
GORELEASER_VERSION := v2.15.1
release-snapshot:
	command -v goreleaser >/dev/null || (cd / && go install github.com/goreleaser/goreleaser/v2@$(GORELEASER_VERSION))
	PATH="$$(go env GOPATH)/bin:$$PATH" goreleaser release --snapshot --clean

# docs/kubernetes/'s steps as local processes, against the stack.
k8s-local:
	scripts/k8s-local.sh

# The manual page, from the flag definitions.
man:
	go run . man > pg2s3.1
