from __future__ import annotations

import marshmallow as ma
from flask_smorest import Blueprint
from sqlalchemy import select

from app.auth.decorators import BEARER, admin_required
from app.auth.models import User
from app.auth.schemas import UserSchema
from app.extensions import db

blp = Blueprint("admin", __name__, url_prefix="/admin", description="Administration")


class PageArgs(ma.Schema):
    page = ma.fields.Integer(load_default=1, validate=ma.validate.Range(min=1))
    page_size = ma.fields.Integer(load_default=50, validate=ma.validate.Range(min=1, max=500))


@blp.route("/users", methods=["GET"])
@admin_required
@blp.arguments(PageArgs, location="query")
@blp.response(200, UserSchema(many=True))
@blp.doc(security=BEARER)
def list_users(args: dict):
    """Users, oldest first (admin only)."""
    stmt = (
        select(User).order_by(User.id).offset((args["page"] - 1) * args["page_size"]).limit(args["page_size"])
    )
    return [u.to_dict() for u in db.session.scalars(stmt)]
