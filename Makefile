# digitserve: `make run` serves on embedded defaults; `make test` runs the whole suite.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
PY     := $(VENV)/bin/python
PORT   ?= 5000
export FLASK_APP := wsgi:app

.PHONY: run test install install-dev browser lint serve-prod bench clean

$(VENV)/.runtime: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
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
# on one gunicorn process (threads, WebSocket-capable) with SQLite, local MLflow, memory limits.
run: $(VENV)/.runtime
	$(PY) -m flask db upgrade
	$(PY) -m flask models bootstrap
	$(VENV)/bin/gunicorn -c gunicorn.conf.py --workers 1 --bind 127.0.0.1:$(PORT) wsgi:app

test: $(VENV)/.dev browser
	$(PY) -m pytest

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check .

# Scale-out: set DATABASE_URL, REDIS_URL, MLFLOW_TRACKING_URI, secrets; see README "Production".
serve-prod: $(VENV)/.runtime
	APP_ENV=production $(PY) -m flask db upgrade
	APP_ENV=production $(VENV)/bin/gunicorn -c gunicorn.conf.py wsgi:app

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
