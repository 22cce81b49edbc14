"""Feedback rules: a verdict per prediction (a second one replaces the first)."""

from __future__ import annotations

from typing import Any

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.auth.models import User
from app.errors import ApiError
from app.extensions import db
from app.feedback.models import Feedback
from app.feedback.suspicion import OUTLIER_USER, flag_reason, flag_user_history
from app.predict.models import Prediction
from app.timeutil import utcnow


def _resolve_label(correct: bool, label: int | None, predicted: int | None) -> int | None:
    if correct:
        if label is not None and predicted is not None and label != predicted:
            raise ApiError(
                422,
                f"correct is true but label {label} differs from the prediction {predicted}.",
                "label_mismatch",
            )
        return predicted
    if label is None:
        raise ApiError(422, "label (0-9) is required when correct is false.", "label_required")
    if predicted is not None and label == predicted:
        raise ApiError(422, "correct is false but label equals the prediction.", "label_mismatch")
    return label


def _submit_legacy(user: User, data: dict) -> Feedback:
    """The original API's verdict without a prediction id: kept, never counted."""
    if data.get("prediction") is None:
        raise ApiError(
            422, "Give prediction_id (or, for the original API, prediction).", "prediction_required"
        )
    predicted, correct = data["prediction"], data["correct"]
    fb = Feedback(
        prediction_id=None,
        user_id=user.id,
        correct=correct,
        label=_resolve_label(correct, data.get("label"), predicted),
        predicted=predicted,
        comment=data.get("comment"),
        source="legacy",
    )
    db.session.add(fb)
    db.session.commit()
    return fb


def submit(user: User, data: dict) -> tuple[Feedback, bool]:
    """Store a verdict. Returns (feedback, replaced)."""
    pid = data.get("prediction_id")
    if pid is None:
        return _submit_legacy(user, data), False
    pred = db.session.get(Prediction, pid)
    if pred is None:
        raise ApiError(404, f"Prediction {pid} does not exist.", "prediction_not_found")
    if pred.user_id != user.id:
        # Admins included: a verdict counts only from the user who made the prediction.
        raise ApiError(403, f"Prediction {pid} belongs to another user.", "forbidden")
    if data.get("prediction") is not None and data["prediction"] != pred.predicted:
        raise ApiError(
            422, f"prediction {data['prediction']} does not match prediction {pid}.", "prediction_mismatch"
        )
    label = _resolve_label(data["correct"], data.get("label"), pred.predicted)
    # A new verdict is a new label: it is judged afresh, whatever an admin decided on the old one.
    reason = flag_reason(pred, user.id, data["correct"], current_app.config)
    values = {
        "user_id": user.id,
        "correct": data["correct"],
        "label": label,
        "predicted": pred.predicted,
        "comment": data.get("comment"),
        "review": "pending" if reason else "none",
        "review_reason": reason,
        "reviewed_by": None,
        "reviewed_at": None,
    }
    fb, replaced = _store_verdict(pid, values)
    if reason == OUTLIER_USER:
        flag_user_history(user.id)
        db.session.refresh(fb)
    return fb, replaced


def _store_verdict(pid: int, values: dict[str, Any]) -> tuple[Feedback, bool]:
    """Insert the prediction's verdict, or replace the one it has. Returns (feedback, replaced)."""
    existing = db.session.scalar(select(Feedback).where(Feedback.prediction_id == pid))
    if existing is None:
        fb = Feedback(prediction_id=pid, source="api", **values)
        db.session.add(fb)
        try:
            db.session.commit()
            return fb, False
        except IntegrityError:
            # Another request stored a verdict for this prediction first: replace it.
            db.session.rollback()
            existing = db.session.scalar(select(Feedback).where(Feedback.prediction_id == pid))
            if existing is None:
                raise
    for key, value in values.items():
        setattr(existing, key, value)
    existing.updated_at = utcnow()
    db.session.commit()
    return existing, True
