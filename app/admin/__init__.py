"""Admin-only endpoints: users, and (with their features) reports and A/B settings."""

from __future__ import annotations

from flask import Flask

from app.admin.views import blp
from app.extensions import api


def init_admin(app: Flask) -> None:
    api.register_blueprint(blp)
