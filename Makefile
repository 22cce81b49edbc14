# digitserve: `make run` serves on embedded defaults; `make test` runs the whole suite.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
PY     := $(VENV)/bin/python
PORT   ?= 5000
export FLASK_APP := wsgi:app

.PHONY: run test smoke install install-dev browser lint serve-prod worker bench synth-data clean

# The pins first, then the project itself, editable (pyproject.toml): `app` and `devstack` import
# from anywhere, and `python -m bench.compare` etc. need no path set-up.
$(VENV)/.runtime: requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet -e .
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.runtime
install-dev: $(VENV)/.dev

# Headless Chromium for the browser tests (tests/e2e): Debian's package, driven by Playwright
# (pinned in requirements-dev.txt). Never `playwright install`: it downloads a browser build.
CHROMIUM ?= /usr/bin/chromium
SUDO     := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)
browser: $(CHROMIUM)
$(CHROMIUM):
	$(SUDO) apt-get update -qq
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=300 \
	  --no-install-recommends chromium fonts-dejavu-core
	test -x $@

# Install, migrate, train and register the models on first start (idempotent), then serve
# on gunicorn (gevent workers, one per core, WebSocket-capable) with SQLite, local MLflow, memory
# limits.
run: $(VENV)/.runtime
	$(PY) -m flask db upgrade
	$(PY) -m flask models bootstrap
	$(VENV)/bin/gunicorn -c gunicorn.conf.py --bind 127.0.0.1:$(PORT) wsgi:app

test: $(VENV)/.dev browser
	$(PY) -m pytest

# The README's curl walk-through, as written, against a server started like `make run` (free port,
# temporary database and MLflow store: instance/ and mlruns/ are not touched); checks every answer.
smoke: $(VENV)/.dev
	$(PY) -m tests.smoke.readme_walkthrough

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check .

# Scale-out: set DATABASE_URL, REDIS_URL, MLFLOW_TRACKING_URI, SECRET_KEY, JWT_SECRET_KEY; see
# README "Production". WEB_CONCURRENCY workers (4) on BIND (0.0.0.0:8000); migrates and registers
# v1/v2 first if missing (both idempotent). Metrics of all workers are summed through
# PROMETHEUS_MULTIPROC_DIR (default instance/prometheus, emptied at each start).
#
# Retrains run outside the serving workers: with REDIS_URL set, on RQ queue workers
# (RETRAIN_WORKERS of them, default 1, started here beside gunicorn; more with `make worker` on
# other machines); without it, in the embedded retrain process gunicorn's master starts.
RETRAIN_WORKERS ?= 1
serve-prod: $(VENV)/.runtime
	APP_ENV=production $(PY) -m flask db upgrade
	APP_ENV=production $(PY) -m flask models bootstrap
	@set -e; pids=""; \
	if [ -n "$$REDIS_URL" ] && [ "$${RETRAIN_EXECUTOR:-rq}" = rq ]; then \
	  for i in $$(seq 1 $(RETRAIN_WORKERS)); do APP_ENV=production $(PY) -m app.retrain.worker & pids="$$pids $$!"; done; \
	fi; \
	trap 'kill $$pids 2>/dev/null' EXIT INT TERM; \
	APP_ENV=production PROMETHEUS_MULTIPROC_DIR=$${PROMETHEUS_MULTIPROC_DIR:-$(CURDIR)/instance/prometheus} \
	  $(VENV)/bin/gunicorn -c gunicorn.conf.py wsgi:app

# One retrain queue worker (RQ on REDIS_URL), for any machine that reaches the database, Redis
# and the MLflow server; same environment as serve-prod.
worker: $(VENV)/.runtime
	APP_ENV=production $(PY) -m app.retrain.worker

# Benchmarks (see each bench/*.py docstring): model vs end to end, our API vs
# `mlflow models serve` (wrk), retrain to serving. Needs wrk (apt-get install -y wrk); the
# PostgreSQL rows need PostgreSQL on 127.0.0.1:5432 and Redis on 6379 (BENCH_BACKENDS=sqlite
# skips them). Results go to bench/results/; every server started is stopped.
BENCH_BACKENDS ?= sqlite postgres
BENCH_SECONDS  ?= 10
bench: $(VENV)/.dev
	@command -v wrk >/dev/null || { if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq wrk; \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq wrk; fi; }
	$(PY) -m bench.predict --seconds $(BENCH_SECONDS)
	$(PY) -m bench.compare --seconds $(BENCH_SECONDS) --backends $(BENCH_BACKENDS)
	$(PY) -m bench.cpu_budget --seconds $(BENCH_SECONDS)
	$(PY) -m bench.retrain

# Regenerate the committed synthetic training uploads and the real-world evaluation set
# (app/ml/assets/*.npz) from Debian's font packages. Not needed to train, test or serve.
synth-data: $(VENV)/.runtime
	$(SUDO) apt-get update -qq
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=300 \
	  --no-install-recommends $$($(PY) -c 'from app.ml.synth import FONT_PACKAGES; print(FONT_PACKAGES)')
	$(PY) -m app.ml.synth

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
