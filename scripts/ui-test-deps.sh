#!/usr/bin/env bash
# What the browser tests need beside Debian's chromium and chromium-driver: axe-core, the
# accessibility rules they inject into each page, from the npm registry into .venv/node.
# The UI itself needs none of this: it ships no node package and loads nothing from npm.
set -euo pipefail
cd "$(dirname "$0")/.."
AXE_VERSION=4.14.1
target=.venv/node
if [ -f "$target/node_modules/axe-core/axe.min.js" ] \
  && grep -q "\"version\": \"$AXE_VERSION\"" "$target/node_modules/axe-core/package.json"; then
  exit 0
fi
command -v npm >/dev/null 2>&1 || bash scripts/system-deps.sh npm
mkdir -p "$target"
npm install --silent --no-audit --no-fund --prefix "$target" "axe-core@$AXE_VERSION"
