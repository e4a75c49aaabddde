#!/usr/bin/env bash
# image.sh: build pg2s3's FROM-scratch image with podman, offline, and check it by its filesystem
# (this sandbox cannot run containers): the binary in the image is static, runs, and reports the
# revision it was built from; the CA bundle is there; the entrypoint is the binary.
#
#   scripts/image.sh [TAG]     (default localhost/pg2s3:dev)
set -euo pipefail
cd "$(dirname "$0")/.."
tag="${1:-localhost/pg2s3:dev}"
log() { echo "image: $*" >&2; }
die() { echo "image: error: $*" >&2; exit 1; }

if ! command -v podman >/dev/null 2>&1; then
	log "podman not found; installing it from Debian's packages"
	{ apt-get update -qq && apt-get install -y -qq podman; } >&2
fi
ctx="$(mktemp -d)"
mnt=""
cleanup() {
	[ -n "$mnt" ] && podman image unmount "$tag" >/dev/null 2>&1 || true
	rm -rf "$ctx"
}
trap cleanup EXIT

# The same static build as .goreleaser.yaml's.
CGO_ENABLED=0 go build -trimpath -buildvcs=auto \
	-ldflags "-s -w -X github.com/pg2s3/pg2s3/command.BuildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)" -o "$ctx/pg2s3" .
cp /etc/ssl/certs/ca-certificates.crt "$ctx/ca-certificates.crt"
cp Containerfile "$ctx/Containerfile"
log "building $tag (FROM scratch: no image is pulled)"
podman build --quiet --network=none --pull=never -t "$tag" -f "$ctx/Containerfile" "$ctx" >/dev/null

# Check it by its filesystem.
mnt="$(podman image mount "$tag")"
[ -x "$mnt/pg2s3" ] || die "no executable /pg2s3 in the image"
[ -s "$mnt/etc/ssl/certs/ca-certificates.crt" ] || die "no CA bundle in the image"
if readelf -l "$mnt/pg2s3" | grep -q 'Requesting program interpreter'; then
	die "/pg2s3 in the image is dynamically linked: it cannot run FROM scratch"
fi
files="$(cd "$mnt" && find . -type f | sort | tr '\n' ' ')"
[ "$files" = "./etc/ssl/certs/ca-certificates.crt ./pg2s3 " ] || die "unexpected files in the image: $files"
# Run the image's own binary with nothing from this machine's environment, as the container would.
version="$(env -i SSL_CERT_FILE="$mnt/etc/ssl/certs/ca-certificates.crt" "$mnt/pg2s3" version)" || die "the image's binary does not run"
want="$(git rev-parse HEAD 2>/dev/null || true)"
if [ -n "$want" ] && ! grep -q "revision: *$want" <<<"$version"; then
	die "the image's binary reports another revision than HEAD ($want):
$version"
fi
env -i "$mnt/pg2s3" export --help >/dev/null || die "the image's binary cannot print its help"
entry="$(podman image inspect --format '{{json .Config.Entrypoint}} {{.Config.User}}' "$tag")"
[ "$entry" = '["/pg2s3"] 65532:65532' ] || die "entrypoint and user are $entry"
size="$(podman image inspect --format '{{.Size}}' "$tag")"
log "ok: $tag ($((size / 1024 / 1024)) MiB): static /pg2s3 and the CA bundle only; it runs:"
sed 's/^/image:   /' <<<"$version" >&2
