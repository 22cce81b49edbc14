"""Feedback: a user's verdict on one of their predictions (the labels retraining learns from)."""

from __future__ import annotations

from flask import Flask

from app.extensions import api
from app.feedback.views import blp


def init_feedback(app: Flask) -> None:
    api.register_blueprint(blp)
