#!/usr/bin/env bash
# Builds a small Debian bookworm image with Python 3.11 (python3, python3-venv) for the image
# tests and benchmark, where Docker Hub (and so python:3.11-slim) cannot be reached: debootstrap's
# minimal base, imported with podman, then Debian's Python installed in a RUN step.
# The machine's own CA certificates go in too, with a pip.conf naming them, so pip inside builds
# works behind a proxy that re-signs TLS.
# Saved once as an image archive in a cache outside the repository; prints the archive's path.
# Load it with `podman load -i ARCHIVE`: it is tagged localhost/shipyard-test-base:bookworm.
# Uses podman as configured by the environment (CONTAINERS_CONF, CONTAINERS_STORAGE_CONF).
set -euo pipefail

cache="${SHIPYARD_IMAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/shipyard/images}"
archive="$cache/shipyard-test-base-bookworm.tar"
name="localhost/shipyard-test-base:bookworm"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"

if [ -s "$archive" ]; then
  echo "$archive"
  exit 0
fi
for tool in debootstrap podman; do
  command -v "$tool" >/dev/null 2>&1 || {
    echo "$tool is missing: bash scripts/system-deps.sh debootstrap podman" >&2
    exit 1
  }
done

mkdir -p "$cache"
work="$(mktemp -d "$cache/build.XXXXXX")"
trap 'rm -rf "$work"' EXIT

echo "debootstrap bookworm (about 30 s)" >&2
debootstrap --variant=minbase bookworm "$work/rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 || {
  tail -20 "$work/debootstrap.log" >&2
  exit 1
}
rm -rf "$work"/rootfs/var/cache/apt/archives/*.deb "$work"/rootfs/var/lib/apt/lists/*
tar -C "$work/rootfs" -c . | podman import - "$name-rootfs" >&2

mkdir -p "$work/context/certs"
if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
  cp /usr/local/share/ca-certificates/*.crt "$work/context/certs/"
fi
cat >"$work/context/Containerfile" <<EOF
FROM $name-rootfs
COPY certs/ /usr/local/share/ca-certificates/
RUN apt-get update \\
 && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \\
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb \\
 && printf '[global]\\ncert = /etc/ssl/certs/ca-certificates.crt\\n' >/etc/pip.conf
CMD ["python3"]
EOF
podman build --network host --tag "$name" "$work/context" >&2
podman save --format docker-archive --output "$work/image.tar" "$name" >&2
mv "$work/image.tar" "$archive"
podman rmi "$name-rootfs" >/dev/null 2>&1 || true
echo "$archive"
