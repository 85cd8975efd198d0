#!/usr/bin/env bash
# The digits example end to end, as far as Shipyard goes today: the pipeline
# (train → validate with 5-fold CV and gates → register), champion vs challenger,
# caching, aliases and rollback, the audit log, and the production model loaded back.
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
