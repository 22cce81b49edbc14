"""Shadow scoring and staged rollouts: a candidate version scores every live request of an alias
beside the served one, then serves a canary share, then all of it, and is promoted or rolled back
by itself on the paired evidence (app/rollout/decision.py)."""

from __future__ import annotations

from flask import Flask

from app.extensions import api
from app.rollout.serving import RolloutCache
from app.state import after_feedback_hooks, set_rollout_cache


def init_rollout(app: Flask) -> None:
    """The process's active-rollout cache (read by the predict path) and the admin routes."""
    # Imported here, not at module level: the predict path imports this package (its serving
    # module), and the views reach the predict package again through the feedback models.
    from app.rollout.service import advance_rollouts
    from app.rollout.views import blp

    set_rollout_cache(app, RolloutCache())
    after_feedback_hooks(app).append(advance_rollouts)
    api.register_blueprint(blp)
