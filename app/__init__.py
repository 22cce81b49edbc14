"""digitserve: a Flask REST API that serves handwritten-digit classifiers.

The application is built by app.factory.create_app; read that module first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from app.config import Config, ConfigError

if TYPE_CHECKING:
    from flask import Flask


def create_app(config: str | type[Config] | None = None, overrides: dict[str, Any] | None = None) -> Flask:
    """Build the application for a config name ("development", "testing", "production") or class."""
    # Imported on call, not a cycle: `import app.<anything>` runs this file first, and the ML code
    # run on its own (bench/, the retrain process's imports, ML tests) must not load every feature.
    from app.factory import create_app as build

    return build(config, overrides)


__all__ = ["create_app", "ConfigError"]
