"""A/B testing: weighted sticky split or Thompson sampling between model aliases."""

from __future__ import annotations

from flask import Flask

from app.config import ConfigError


def init_ab(app: Flask) -> None:
    from app.ab.service import MODES, parse_arms

    parse_arms(app.config["AB_ARMS"])  # refuse to start on a malformed AB_ARMS
    if app.config["AB_MODE"] not in MODES:
        raise ConfigError(f"AB_MODE must be one of {MODES}, got {app.config['AB_MODE']!r}")
