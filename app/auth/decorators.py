from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask_jwt_extended import current_user, verify_jwt_in_request

from app.errors import ApiError

BEARER = [{"bearerAuth": []}]


def role_required(role: str) -> Callable:
    """Require a valid access token whose user, as stored in the database now, has `role`.

    The role is read from the users table on every request (the JWT user loader), never from
    a claim the client could have crafted.
    """

    def decorator(fn: Callable) -> Callable:
        @wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            verify_jwt_in_request()
            if role != "user" and current_user.role != role:
                raise ApiError(403, f"This endpoint requires the {role!r} role.", "forbidden")
            return fn(*args, **kwargs)

        return wrapper

    return decorator


login_required = role_required("user")
admin_required = role_required("admin")
