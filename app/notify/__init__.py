"""Notifications: signed webhooks and admin emails, sent from a stored outbox (app/notify/outbox.py)
by a background deliverer (app/notify/deliverer.py). Features call `notify(event, payload)`."""

from __future__ import annotations

from flask import Flask

from app.extensions import api
from app.notify.deliverer import ensure_deliverer
from app.notify.mail import mail
from app.notify.outbox import EVENTS, notify
from app.notify.views import blp

__all__ = ["EVENTS", "init_notify", "notify"]


def init_notify(app: Flask) -> None:
    mail.init_app(app)
    api.register_blueprint(blp)
    if app.config["NOTIFY_DELIVERER"]:

        @app.before_request
        def _start_deliverer() -> None:
            ensure_deliverer(app)
