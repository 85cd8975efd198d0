#!/usr/bin/env bash
# The digits example end to end: the pipeline (train → validate with 5-fold CV and
# gates → package → register → deploy → verify), champion vs challenger, caching, a
# canary rollout under live load with analysis at each step, an instant rollback, the
# audit log, and the deployment left answering on a local port.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$here"
export PATH="$root/.venv/bin:$PATH"
# The demo keeps its own registry beside the example, fresh on every run; a previous
# run's deployment and control plane are stopped first.
export SHIPYARD_HOME="$here/.shipyard/home"
if [ -f "$SHIPYARD_HOME/run/server.json" ]; then
  shipyard undeploy digits >/dev/null 2>&1 || true
  shipyard server --stop >/dev/null 2>&1 || true
fi
rm -rf "$SHIPYARD_HOME"
free_port() { python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# `shipyard deploy` and the pipeline's deploy stage start the control plane on this port.
export SHIPYARD_SERVER_PORT="${SHIPYARD_SERVER_PORT:-$(free_port)}"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "1. run the pipeline: train, validate (5-fold CV, gates), register, deploy v1, verify it"
shipyard run
url=$(shipyard status digits --json | python -c 'import json, sys; print(json.load(sys.stdin)["url"])')
echo "digits v1 answers on $url (production alias moved by the rollout)"

step "2. run it again with nothing changed: every stage is cached, nothing to roll out"
time shipyard run

step "3. a worse challenger (C=0.0005) is stopped at the gate: exit code 3, nothing registered"
if shipyard run --param C=0.0005; then
  echo "the worse model passed the gates: that is a bug" >&2
  exit 1
else
  code=$?
  [ "$code" -eq 3 ] || { echo "expected exit code 3, got $code" >&2; exit 1; }
  echo "stopped at the gate (exit code $code)"
fi

step "4. a challenger within 0.005 of the champion (C=1.0) passes, and is rolled out by canary"
echo "a steady load runs against $url meanwhile, counting every failed request"
python load.py "$url" --clients 4 --out .shipyard/load.json > /dev/null &
load=$!
trap 'kill -TERM $load 2>/dev/null || true' EXIT
sleep 1
shipyard run --param C=1.0
sleep 1
kill -TERM $load && wait $load
trap - EXIT
python - <<'PY'
import json
s = json.load(open(".shipyard/load.json"))
print(f"load during the rollout: {s['requests']} requests in {s['seconds']} s "
      f"({s['per_second']}/s), answered by {s['answered_by']}, failed: {s['failed']}")
assert s["failed"] == 0, s["failures"]
PY
shipyard status digits

step "5. the registry, the runs and the validation report"
shipyard models versions digits
shipyard runs list
sed -n '1,12p' .shipyard/reports/validate.md

step "6. roll back: v1 is still warm, so traffic and the production alias move back at once"
shipyard rollback digits --reason "demo: roll back to the first release"
shipyard alias history digits production
shipyard events --model digits --limit 14

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

step "9. the deployment answers KServe V1 and Open Inference Protocol V2, and exposes metrics"
python - "$url" <<'PY'
import json, sys, urllib.request

from sklearn.datasets import load_digits

url = sys.argv[1]


def call(path, body=None):
    data = None if body is None else json.dumps(body).encode()
    with urllib.request.urlopen(urllib.request.Request(url + path, data=data), timeout=10) as r:
        return json.loads(r.read()) if "json" in r.headers["content-type"] else r.read().decode()


row = load_digits().data[0].tolist()
print("V1 predict :", call("/v1/models/digits:predict", {"instances": [row]}))
v2 = {"inputs": [{"name": "input-0", "shape": [1, 64], "datatype": "FP32", "data": row}]}
answer = call("/v2/models/digits/infer", v2)
print("V2 infer   :", answer["model_version"], answer["outputs"])
lines = call("/metrics").splitlines()
print("metrics    :", *[l for l in lines if l.startswith("shipyard_requests_total")], sep="\n  ")
PY

step "10. monitoring: live labels give live accuracy, shifted inputs show as drift"
python - "$url" <<'PY'
import json, sys, urllib.request

import numpy as np
from sklearn.datasets import load_digits

url = sys.argv[1]
images, labels = load_digits(return_X_y=True)


def post(path, body):
    request = urllib.request.Request(url + path, data=json.dumps(body).encode())
    with urllib.request.urlopen(request, timeout=10) as answer:
        return answer.headers["x-request-id"], json.loads(answer.read())


right = 0
for row, label in zip(images[:200], labels[:200]):  # answers, then their true labels
    request_id, _ = post("/v1/models/digits:predict", {"instances": [row.tolist()]})
    _, judged = post("/v1/models/digits/feedback", {"request_id": request_id, "label": int(label)})
    right += judged["correct"]
print(f"feedback on 200 answers: {right} correct")
for row in np.clip(16 - images[200:400], 0, 16):  # the same images in negative
    post("/v1/models/digits:predict", {"instances": [row.tolist()]})
print("sent 200 images in negative")
PY
sleep 6  # two scrapes of the control plane
shipyard metrics digits --window 1m
shipyard alerts list

step "done"
cat <<TXT
digits is deployed and answering on $url (the control plane's log: $SHIPYARD_HOME/logs/).
Explore it:
  export SHIPYARD_HOME=$SHIPYARD_HOME PATH=$root/.venv/bin:\$PATH
  shipyard status --watch
  shipyard deploy digits --version 2 --strategy blue-green
  shipyard events --follow
  shipyard runs list
Stop it:  shipyard undeploy digits && shipyard server --stop
Start your own project with:  shipyard init my-model
TXT
