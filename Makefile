# The two commands a fresh machine needs: `make demo` and `make test`. Both start their own
# PostgreSQL and MinIO on loopback (scripts/stack.sh) and stop them afterwards.
.PHONY: build demo test test-unit bench

build:
	go build -o pg2s3 .

demo:
	scripts/stack.sh run -- scripts/demo.sh

# The whole suite, services included. .ci/run calls exactly this.
test:
	scripts/stack.sh run -- go test -count=1 -race -timeout 30m ./...

# Without services: the tests that need them skip and say which variable is missing.
test-unit:
	go test -count=1 ./...

bench:
	scripts/stack.sh run -- go test -run '^$$' -bench . -benchtime 3x -timeout 30m ./export/
