#!/usr/bin/env bash
# Makes sure PostgreSQL's server binaries are installed (Debian's `postgresql`, as root or
# via sudo) and prints the directory that holds them: Debian keeps initdb and pg_ctl in
# /usr/lib/postgresql/VERSION/bin, off PATH. Used by `make test`; the tests start their own
# server on 127.0.0.1 (the package's own cluster is not needed).
set -euo pipefail

bin_dir() {
  # the newest installed version's, if any
  local initdb
  initdb=$(ls -d /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n 1 || true)
  [ -n "$initdb" ] || return 1
  dirname "$initdb"
}

if ! dir=$(bin_dir); then
  echo "installing system packages: postgresql" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq >&2
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    postgresql >&2
  dir=$(bin_dir) || { echo "postgresql installed but no initdb found" >&2; exit 1; }
fi
echo "$dir"
