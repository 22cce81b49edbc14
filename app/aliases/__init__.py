"""Alias moves: the one function every move of a registry alias goes through (``move_alias``:
the MLflow alias, then a history row), the history API and the rollback (issue 14 item 4)."""

from __future__ import annotations

from flask import Flask

from app.aliases.service import move_alias, mover
from app.aliases.views import blp
from app.extensions import api

__all__ = ["init_aliases", "move_alias", "mover"]


def init_aliases(app: Flask) -> None:
    api.register_blueprint(blp)
