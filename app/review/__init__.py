"""Label review (issue 14): the admins' queue of suspicious verdicts, accepted or rejected.

Verdicts are flagged on submit by app/feedback/suspicion.py; what each review state means for
the report, the bandit and retraining is in app/feedback/models.py (COUNTED_FEEDBACK,
TRAINABLE_FEEDBACK)."""

from __future__ import annotations

from flask import Flask

from app.config import ConfigError
from app.extensions import api
from app.review.views import blp


def init_review(app: Flask) -> None:
    cfg = app.config
    if not 0.0 < cfg["REVIEW_CONFIDENCE"] <= 1.0:
        raise ConfigError(f"REVIEW_CONFIDENCE must be in (0, 1], got {cfg['REVIEW_CONFIDENCE']!r}")
    if not 0.0 < cfg["REVIEW_OUTLIER_ALPHA"] < 1.0:
        raise ConfigError(f"REVIEW_OUTLIER_ALPHA must be in (0, 1), got {cfg['REVIEW_OUTLIER_ALPHA']!r}")
    if cfg["REVIEW_MIN_VERDICTS"] < 1:
        raise ConfigError(f"REVIEW_MIN_VERDICTS must be at least 1, got {cfg['REVIEW_MIN_VERDICTS']!r}")
    api.register_blueprint(blp)
