from __future__ import annotations

import logging

from flask_jwt_extended import current_user
from flask_smorest import Blueprint

from app.aliases.schemas import AliasMovePageSchema, HistoryArgs, RollbackSchema
from app.aliases.service import alias_known, history_query, rollback
from app.auth.decorators import BEARER, admin_required
from app.errors import ApiError
from app.notify import notify
from app.pagination import PageArgs, paginate
from app.state import model_store

log = logging.getLogger(__name__)

blp = Blueprint("aliases", __name__, url_prefix="/admin", description="Alias history and rollback")


@blp.route("/models/<alias>/rollback", methods=["POST"])
@admin_required
@blp.response(200, RollbackSchema)
@blp.alt_response(404, description="No such alias")
@blp.alt_response(409, description="Nothing to roll back to, or a rollback of this alias is under way")
@blp.alt_response(503, description="Model registry unreachable")
@blp.doc(security=BEARER)
def rollback_alias(alias: str):
    """Move the alias back to the version it pointed at before its last move (admin only). A
    second rollback goes back one more step. This process serves the version at once, the other
    workers within MODEL_RELOAD_INTERVAL."""
    result = rollback(alias, current_user.id)
    try:
        model_store().refresh()
    except Exception:  # noqa: BLE001 - the periodic refresh will retry
        log.warning("refresh after rollback failed", exc_info=True)
    notify(
        "model.rolled_back",
        {"alias": alias, "from_version": result["from_version"], "to_version": result["to_version"]},
    )
    return result


@blp.route("/models/<alias>/history", methods=["GET"])
@admin_required
@blp.arguments(PageArgs, location="query")
@blp.response(200, AliasMovePageSchema)
@blp.alt_response(404, description="No such alias")
@blp.doc(security=BEARER)
def alias_history(args: dict, alias: str):
    """Moves of one alias, newest first, paginated (admin only)."""
    page = paginate(history_query(alias), args)
    if page["total"] == 0 and not alias_known(alias):
        raise ApiError(404, f"Alias {alias!r} does not exist.", "alias_not_found")
    return page


@blp.route("/aliases/history", methods=["GET"])
@admin_required
@blp.arguments(HistoryArgs, location="query")
@blp.response(200, AliasMovePageSchema)
@blp.doc(security=BEARER)
def all_history(args: dict):
    """Every alias move (or those of `alias`), newest first, paginated (admin only)."""
    return paginate(history_query(args.pop("alias")), args)
