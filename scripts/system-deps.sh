#!/usr/bin/env bash
# Installs the system packages Shipyard needs when they are missing (Debian/Ubuntu, as root or via sudo).
# Extra arguments name further commands to make sure of (e.g. `wrk` for the serving benchmark).
set -euo pipefail

# the Debian package that brings a command, where the names differ
package_of() {
  case "$1" in
    promtool) echo prometheus ;;
    amtool) echo prometheus-alertmanager ;;
    chromedriver) echo chromium-driver ;;
    *) echo "$1" ;;
  esac
}

missing=()
for extra in "$@"; do
  command -v "$extra" >/dev/null 2>&1 || missing+=("$(package_of "$extra")")
done
command -v git >/dev/null 2>&1 || missing+=(git)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "installing system packages: ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
