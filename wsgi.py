"""WSGI entry point: `gunicorn -c gunicorn.conf.py wsgi:app`, and FLASK_APP for the CLI."""

import sys

from app import ConfigError, create_app

try:
    app = create_app()
except ConfigError as exc:
    # One clear line and a non-zero exit instead of a traceback.
    print(f"digitserve: configuration error: {exc}", file=sys.stderr)
    raise SystemExit(2) from None
