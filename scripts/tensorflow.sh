#!/usr/bin/env bash
# A venv of its own for the keras flavor on TensorFlow: Shipyard (editable, with its serve and
# keras extras) and tensorflow-cpu, about 1.6 GB, kept out of .venv so the default one stays light.
# Made once in a cache outside the repository, again when pyproject.toml or the pin below changes.
# Prints its python. Used by `make test-tensorflow` and tests/test_keras_tensorflow.py.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${SHIPYARD_TENSORFLOW_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/shipyard/venvs/tensorflow}"
tensorflow="tensorflow-cpu==2.21.0"  # change it to remake the venv
stamp="$venv/.installed"
python="${PYTHON:-python3}"

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$tensorflow" ] && [ "$stamp" -nt "$root/pyproject.toml" ]; then
  echo "$venv/bin/python"
  exit 0
fi
echo "installing Shipyard and $tensorflow into $venv (a few minutes the first time)" >&2
rm -rf "$venv"
mkdir -p "$(dirname "$venv")"
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
  -e "$root[serve,keras]" "$tensorflow" >&2
echo "$tensorflow" >"$stamp"
echo "$venv/bin/python"
