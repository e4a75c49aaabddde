#!/usr/bin/env bash
# lint.sh: go vet, staticcheck and govulncheck (pinned versions, installed through the Go module proxy
# when missing). govulncheck needs its database at vuln.go.dev; where that host is unreachable (this
# project's CI machines have no internet) it is skipped with a message, not silently.
set -euo pipefail
cd "$(dirname "$0")/.."
gobin="$(go env GOPATH)/bin"
go vet ./...
[ -x "$gobin/staticcheck" ] && "$gobin/staticcheck" -version | grep -q '(0.8.2)' ||
	(cd / && go install honnef.co/go/tools/cmd/staticcheck@v0.8.2)
"$gobin/staticcheck" ./...
[ -x "$gobin/govulncheck" ] || (cd / && go install golang.org/x/vuln/cmd/govulncheck@v1.9.0)
if curl -fsS --max-time 10 -o /dev/null https://vuln.go.dev/index/db.json 2>/dev/null; then
	"$gobin/govulncheck" ./...
else
	echo "lint: govulncheck skipped: https://vuln.go.dev is not reachable from this machine" >&2
fi
echo "lint: go vet and staticcheck clean" >&2
