# The two commands a new user needs: `make demo` and `make test`.
# Both set everything up on a fresh machine (system packages, .venv, dependencies).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test screenshots test-k8s test-tensorflow test-slow test-stress lint bench bench-team bench-deploy bench-alerting bench-image bench-serving bench-keras bench-loop bench-ui docs clean system

$(STAMP): pyproject.toml scripts/system-deps.sh
	bash scripts/system-deps.sh
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	bash examples/digits/demo.sh

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache
	$(BIN)/mypy

# mypy checks the types on the core the suite leaves idle while its tests wait on servers;
# its report is printed after the suite's, and either failing fails `make test`. The suite runs
# whole files on three processes: most tests wait on real servers.
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache   # the layering contract in pyproject.toml: no upward import
	bash scripts/system-deps.sh promtool prometheus amtool   # promtool checks the exported rules; a real Prometheus runs the dashboard queries; amtool brings Alertmanager too
	bash scripts/system-deps.sh podman buildah runc skopeo debootstrap docker-registry   # images built, run and pushed for real (no Docker engine needed); debootstrap makes their base
	bash scripts/postgres.sh >/dev/null   # a real PostgreSQL runs the metadata store contract tests
	bash scripts/system-deps.sh chromium chromedriver   # a real Chromium drives the web UI's tests
	bash scripts/ui-test-deps.sh   # axe-core, the accessibility rules those tests inject
	$(BIN)/python -m compileall -q -j 0 src tests   # bytecode once, not in every CLI the tests start (PYTHONDONTWRITEBYTECODE)
	@$(BIN)/mypy > $(VENV)/mypy.log 2>&1 & mypy=$$!; \
	echo "$(BIN)/pytest -n 3 --dist loadfile --durations=20   (mypy beside it)"; \
	$(BIN)/pytest -n 3 --dist loadfile --durations=20; suite=$$?; \
	wait $$mypy; typed=$$?; echo "$(BIN)/mypy"; cat $(VENV)/mypy.log; \
	if [ $$typed -ne 0 ]; then exit $$typed; fi; exit $$suite

# The README's pictures of the UI, taken by its browser tests in a real Chromium.
screenshots: $(STAMP)
	bash scripts/system-deps.sh chromium chromedriver
	bash scripts/ui-test-deps.sh
	SHIPYARD_SCREENSHOTS=docs/screenshots $(BIN)/pytest tests/test_ui_browser.py -q

# A real Kubernetes control plane (kube-apiserver and controller manager built once from Debian's
# source package into ~/.cache/shipyard/k8s, 5 to 10 minutes the first time; etcd from Debian).
test-k8s: $(STAMP)
	bash scripts/k8s-binaries.sh >/dev/null
	$(BIN)/pytest -m k8s

# The keras flavor on TensorFlow, in a venv of its own (tensorflow-cpu, 1.6 GB, made once by
# scripts/tensorflow.sh in ~/.cache/shipyard/venvs/tensorflow, about a minute or two).
test-tensorflow: $(STAMP)
	bash scripts/tensorflow.sh >/dev/null
	$(BIN)/pytest -m tensorflow

# Tests too slow for every run: the Keras image (torch in a 1.1 GB layer, about 3 minutes).
test-slow: $(STAMP)
	bash scripts/system-deps.sh podman buildah runc skopeo debootstrap docker-registry
	$(BIN)/pytest -m slow

# Fifty rounds of `shipyard serve --workers 2` started, probed and loaded at once (3-4 minutes).
test-stress: $(STAMP)
	$(BIN)/pytest -m stress

# Peers for side-by-side benchmarks live in their own venvs, never in Shipyard's dependencies.
MLFLOW_VENV := benchmarks/.venvs/mlflow

$(MLFLOW_VENV)/.installed:
	$(PYTHON) -m venv $(MLFLOW_VENV)
	$(MLFLOW_VENV)/bin/python -m pip install --quiet --disable-pip-version-check mlflow==3.17.2
	touch $@

DVC_VENV := benchmarks/.venvs/dvc

$(DVC_VENV)/.installed:
	$(PYTHON) -m venv $(DVC_VENV)
	$(DVC_VENV)/bin/python -m pip install --quiet --disable-pip-version-check dvc==3.67.1
	touch $@

bench: $(STAMP) $(MLFLOW_VENV)/.installed $(DVC_VENV)/.installed
	$(BIN)/python benchmarks/bench_loop.py
	$(BIN)/python benchmarks/bench_registry.py
	$(BIN)/python benchmarks/bench_team.py
	$(BIN)/python benchmarks/bench_pipeline.py
	$(BIN)/python benchmarks/bench_deploy.py
	$(BIN)/python benchmarks/bench_alerting.py
	$(BIN)/python benchmarks/bench_keras.py
	$(BIN)/python benchmarks/bench_ui.py
	$(MAKE) bench-image

# The everyday loop: CLI start-up and no-op re-runs, beside DVC's no-op `dvc repro`.
bench-loop: $(STAMP) $(DVC_VENV)/.installed
	$(BIN)/python benchmarks/bench_loop.py

# The web UI's pages over 10,000 versions and 100,000 events.
bench-ui: $(STAMP)
	$(BIN)/python benchmarks/bench_ui.py

bench-team: $(STAMP)
	$(BIN)/python benchmarks/bench_team.py

bench-deploy: $(STAMP)
	$(BIN)/python benchmarks/bench_deploy.py

bench-alerting: $(STAMP)
	$(BIN)/python benchmarks/bench_alerting.py

bench-image: $(STAMP)
	bash scripts/system-deps.sh podman buildah runc skopeo debootstrap docker-registry
	$(BIN)/python benchmarks/bench_image.py

# The serving peers load the same skops file as Shipyard: the same scikit-learn and skops as .venv.
BENTOML_VENV  := benchmarks/.venvs/bentoml
LITSERVE_VENV := benchmarks/.venvs/litserve
PEER_MODEL_LIBS := scikit-learn==1.9.1 skops==0.16.0

$(BENTOML_VENV)/.installed:
	$(PYTHON) -m venv $(BENTOML_VENV)
	$(BENTOML_VENV)/bin/python -m pip install --quiet --disable-pip-version-check \
		bentoml==1.4.39 $(PEER_MODEL_LIBS)
	touch $@

$(LITSERVE_VENV)/.installed:
	$(PYTHON) -m venv $(LITSERVE_VENV)
	$(LITSERVE_VENV)/bin/python -m pip install --quiet --disable-pip-version-check \
		litserve==0.2.19 $(PEER_MODEL_LIBS)
	touch $@

PEER_VENVS := $(MLFLOW_VENV)/.installed $(BENTOML_VENV)/.installed $(LITSERVE_VENV)/.installed

bench-serving: $(STAMP) $(PEER_VENVS)
	bash scripts/system-deps.sh wrk
	$(BIN)/python benchmarks/bench_serving.py

bench-keras: $(STAMP)
	bash scripts/system-deps.sh wrk
	$(BIN)/python benchmarks/bench_keras.py

docs: $(STAMP)
	$(BIN)/python scripts/cli_reference.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
