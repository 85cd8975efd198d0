#!/usr/bin/env bash
# The digits example end to end, as far as Shipyard goes today: the pipeline
# (train → validate with 5-fold CV and gates → register), champion vs challenger,
# caching, aliases and rollback, the audit log, the production model loaded back, and
# served over HTTP with a hot swap to the next version.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$here"
export PATH="$root/.venv/bin:$PATH"
# The demo keeps its own registry beside the example, fresh on every run.
export SHIPYARD_HOME="$here/.shipyard/home"
rm -rf "$SHIPYARD_HOME"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "1. run the pipeline: train, validate (5-fold CV, quality gates), register the candidate"
shipyard run

step "2. run it again with nothing changed: every stage is cached"
time shipyard run
shipyard alias set digits production 1 --reason "first release"

step "3. a worse challenger (C=0.0005) is stopped at the gate: exit code 3, nothing registered"
if shipyard run --param C=0.0005; then
  echo "the worse model passed the gates: that is a bug" >&2
  exit 1
else
  code=$?
  [ "$code" -eq 3 ] || { echo "expected exit code 3, got $code" >&2; exit 1; }
  echo "stopped at the gate (exit code $code)"
fi

step "4. a challenger within 0.005 of the champion (C=1.0) passes and becomes the candidate"
shipyard run --param C=1.0
shipyard alias set digits production 2 --reason "challenger promoted"

step "5. the registry, the runs and the validation report"
shipyard models versions digits
shipyard runs list
sed -n '1,12p' .shipyard/reports/validate.md

step "6. roll production back, then read the alias history and the audit log"
shipyard alias rollback digits production --reason "demo: roll back to the first release"
shipyard alias history digits production
shipyard events --model digits --limit 12

step "7. every stored artifact still matches its sha256"
shipyard models verify digits

step "8. load digits@production from the registry (digest-verified) and predict"
python - <<'PY'
import numpy as np
from sklearn.datasets import load_digits

import shipyard

features, labels = load_digits(return_X_y=True)
model = shipyard.load_model("digits@production")
predicted = model.predict(features.astype(np.float32))
print(f"digits@production predicts {predicted[:10].tolist()} for labels {labels[:10].tolist()}")
print(f"accuracy on all {len(labels)} images: {float((predicted == labels).mean()):.4f}")
PY

step "9. serve digits@production with 2 workers; KServe V1, Open Inference Protocol V2, metrics"
port=$(python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
shipyard serve digits@production --port "$port" --workers 2 &
server=$!
trap 'kill -TERM $server 2>/dev/null || true' EXIT
python -u - "$port" "$SHIPYARD_HOME/run/serve-$port.sock" <<'PY'
import json, sys, time, urllib.request
from collections import Counter
from pathlib import Path

from sklearn.datasets import load_digits

from shipyard.serving.admin_client import AdminClient

port, socket_path = sys.argv[1], Path(sys.argv[2])
url = f"http://127.0.0.1:{port}"


def call(path, body=None, headers=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url + path, data=data, headers=headers or {})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read()) if "json" in response.headers["content-type"] else response.read().decode()


deadline = time.monotonic() + 60
while True:
    try:
        call("/v2/health/ready")
        break
    except OSError:
        if time.monotonic() > deadline:
            raise
        time.sleep(0.1)
row = load_digits().data[0].tolist()
print("V1 predict :", call("/v1/models/digits:predict", {"instances": [row]}))
v2 = {"inputs": [{"name": "input-0", "shape": [1, 64], "datatype": "FP32", "data": row}]}
answer = call("/v2/models/digits/infer", v2)
print("V2 infer   :", answer["model_version"], answer["outputs"])
print("metrics    :", *[line for line in call("/metrics").splitlines() if line.startswith("shipyard_requests_total")], sep="\n  ")

admin = AdminClient(socket_path, (socket_path.parent / (socket_path.name + ".token")).read_text().strip())
admin.load(2)                       # beside version 1, while traffic flows
admin.route({"1": 50, "2": 50})
split = Counter(call("/v2/models/digits/infer", v2)["model_version"] for _ in range(200))
print("50/50 split:", dict(sorted(split.items())))
admin.route({"2": 100})
admin.unload(1)                     # drained, then freed
print("after swap :", admin.state()["routes"], "versions", admin.state()["versions"])
PY
kill -TERM $server && wait $server
trap - EXIT

step "done"
cat <<TXT
The demo's registry is in $SHIPYARD_HOME; the validation report in $here/.shipyard/reports/.
Explore it:
  export SHIPYARD_HOME=$SHIPYARD_HOME PATH=$root/.venv/bin:\$PATH
  shipyard runs list
  shipyard runs show RUN_ID
  shipyard models show digits 2 --json
  shipyard events --json
Start your own project with:  shipyard init my-model
TXT
