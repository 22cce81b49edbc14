from __future__ import annotations

from flask_jwt_extended import current_user
from flask_smorest import Blueprint
from sqlalchemy import delete, select

from app.auth.decorators import BEARER, admin_required
from app.errors import ApiError
from app.extensions import db
from app.notify.models import Delivery, Webhook
from app.notify.outbox import enqueue_test
from app.notify.schemas import (
    DeliveryPageSchema,
    QueuedDeliverySchema,
    WebhookCreateSchema,
    WebhookPageSchema,
    WebhookSchema,
)
from app.pagination import PageArgs, paginate
from app.security import DB_INT_MAX

blp = Blueprint("notify", __name__, url_prefix="/admin", description="Webhooks and notifications (admin)")


def _webhook(webhook_id: int) -> Webhook:
    hook = db.session.get(Webhook, webhook_id) if webhook_id <= DB_INT_MAX else None
    if hook is None:
        raise ApiError(404, f"Webhook {webhook_id} does not exist.", "webhook_not_found")
    return hook


@blp.route("/webhooks", methods=["POST"])
@admin_required
@blp.arguments(WebhookCreateSchema)
@blp.response(201, WebhookSchema)
@blp.alt_response(422, description="Not an http(s) URL, unknown events, or a secret that is too short")
@blp.doc(security=BEARER)
def create_webhook(data: dict):
    """Subscribe a URL to events. The server POSTs signed JSON to it: only admins may do this."""
    hook = Webhook(url=data["url"], events=data["events"], secret=data["secret"], created_by=current_user.id)
    db.session.add(hook)
    db.session.commit()
    return hook


@blp.route("/webhooks", methods=["GET"])
@admin_required
@blp.arguments(PageArgs, location="query")
@blp.response(200, WebhookPageSchema)
@blp.doc(security=BEARER)
def list_webhooks(args: dict):
    """Webhooks, oldest first, paginated (secrets are never returned)."""
    return paginate(select(Webhook).order_by(Webhook.id), args)


@blp.route("/webhooks/<int:webhook_id>", methods=["DELETE"])
@admin_required
@blp.response(204)
@blp.alt_response(404, description="No such webhook")
@blp.doc(security=BEARER)
def delete_webhook(webhook_id: int):
    """Remove a webhook with its delivery records (pending deliveries are dropped)."""
    hook = _webhook(webhook_id)
    db.session.execute(delete(Delivery).where(Delivery.webhook_id == hook.id))
    db.session.delete(hook)
    db.session.commit()


@blp.route("/webhooks/<int:webhook_id>/test", methods=["POST"])
@admin_required
@blp.response(202, QueuedDeliverySchema)
@blp.alt_response(404, description="No such webhook")
@blp.doc(security=BEARER)
def test_webhook(webhook_id: int):
    """Queue a `webhook.test` delivery; its outcome appears under /deliveries."""
    row = enqueue_test(_webhook(webhook_id))
    return row


@blp.route("/webhooks/<int:webhook_id>/deliveries", methods=["GET"])
@admin_required
@blp.arguments(PageArgs, location="query")
@blp.response(200, DeliveryPageSchema)
@blp.alt_response(404, description="No such webhook")
@blp.doc(security=BEARER)
def list_deliveries(args: dict, webhook_id: int):
    """A webhook's deliveries, newest first: status, attempts, last HTTP status and error, times."""
    hook = _webhook(webhook_id)
    stmt = select(Delivery).where(Delivery.webhook_id == hook.id).order_by(Delivery.id.desc())
    return paginate(stmt, args)
