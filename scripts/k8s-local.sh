#!/usr/bin/env bash
# k8s-local.sh: run docs/kubernetes/'s steps on this machine, as processes instead of pods, against
# the stack's PostgreSQL and MinIO (started and stopped here). The commands and the environment of
# every step are read from the manifests themselves (kubernetes_test.go: container args with
# $(VAR) expansion, envFrom of the ConfigMap and the Secret, JOB_COMPLETION_INDEX), with only the
# addresses replaced; the run is checked against psql (every row of the snapshot, none after it).
set -euo pipefail
cd "$(dirname "$0")/.."
exec scripts/stack.sh run -- go test -count=1 -run '^TestKubernetes(FlowLocally|IncrementalCronJobLocally)$' -v .
