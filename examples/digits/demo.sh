#!/usr/bin/env bash
# The digits example end to end, as far as Shipyard goes today:
# train → register with lineage → alias → roll back → audit → load the production model back.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$here"
export PATH="$root/.venv/bin:$PATH"
# The demo keeps its own registry beside the example, fresh on every run.
export SHIPYARD_HOME="$here/.shipyard/home"
rm -rf "$SHIPYARD_HOME"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "1. train the digits model (C=0.1) and register it as production"
python train.py
shipyard register --alias production --reason "first release"

step "2. train a challenger (C=1.0) and register it"
SHIPYARD_PARAMS='{"C": 1.0}' python train.py
shipyard register --param C=1.0 --alias production --reason "challenger: higher C"

step "3. the registry"
shipyard models versions digits
shipyard models show digits production

step "4. roll production back, then read the alias history and the audit log"
shipyard alias rollback digits production --reason "demo: roll back to the first release"
shipyard alias history digits production
shipyard events --model digits

step "5. every stored artifact still matches its sha256"
shipyard models verify digits

step "6. load digits@production from the registry (digest-verified) and predict"
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
The demo's registry is in $SHIPYARD_HOME. Explore it:
  export SHIPYARD_HOME=$SHIPYARD_HOME PATH=$root/.venv/bin:\$PATH
  shipyard models list
  shipyard models show digits 2 --json
  shipyard alias set digits staging 2 --reason "try it"
  shipyard events --json
Start your own project with:  shipyard init my-model
TXT
