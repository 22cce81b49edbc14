"""Socket.IO namespace and room names, shared by the handlers (app/realtime) and the guard."""

from __future__ import annotations

NAMESPACE = "/"
ADMINS_ROOM = "admins"


def user_room(user_id: int | str) -> str:
    return f"user:{user_id}"
