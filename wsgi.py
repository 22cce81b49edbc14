"""WSGI entry point: `gunicorn -c gunicorn.conf.py wsgi:app`, and FLASK_APP for the CLI."""

import sys


def _refuse(exc: BaseException) -> None:
    # One clear line and a non-zero exit instead of a traceback.
    print(f"digitserve: configuration error: {exc}", file=sys.stderr)
    raise SystemExit(2) from None


try:
    # The config classes read the environment when imported: a bad value fails already here,
    # before ConfigError itself can be imported, hence the check by name.
    from app import ConfigError, create_app
except RuntimeError as exc:
    if type(exc).__name__ != "ConfigError":
        raise
    _refuse(exc)

try:
    app = create_app()
except ConfigError as exc:
    _refuse(exc)
