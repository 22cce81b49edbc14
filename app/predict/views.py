from __future__ import annotations

from collections.abc import Callable

from flask import Response
from flask_smorest import Blueprint

from app.apidoc import doc_only
from app.auth.decorators import BEARER, login_required
from app.extensions import limiter
from app.predict.http import (
    batch_cost,
    error_docs,
    predict_batch,
    predict_one,
    prediction_response,
    version_limit,
    version_scope,
)
from app.predict.schemas import BatchResultSchema, BatchUploadSchema, ImageUploadSchema, PredictionSchema

blp = Blueprint("predict", __name__, url_prefix="/api", description="Digit predictions")


def _named(name: str) -> Callable[[Callable], Callable]:
    # The views are made in a loop; Flask-Limiter keys decorated limits by qualified name,
    # so each alias's view needs its own name or v1 and v2 would share one registration.
    def decorator(fn: Callable) -> Callable:
        fn.__name__ = fn.__qualname__ = name
        return fn

    return decorator


def _register(alias: str) -> None:
    limit = lambda: version_limit(alias)  # noqa: E731 - read per request: config is per app

    @blp.route(f"/{alias}/predict", methods=["POST"], endpoint=f"predict_{alias}")
    @login_required
    @limiter.shared_limit(limit, scope=version_scope(alias))
    @doc_only(
        blp.arguments(ImageUploadSchema, location="files"),
        blp.response(200, PredictionSchema),
        error_docs(blp),
        blp.doc(security=BEARER, summary=f"Predict a digit with model {alias}"),
    )
    @_named(f"predict_{alias}")
    def single() -> Response:
        return prediction_response(predict_one(alias))

    @blp.route(f"/{alias}/predict/batch", methods=["POST"], endpoint=f"predict_{alias}_batch")
    @login_required
    @limiter.shared_limit(limit, scope=version_scope(alias), cost=batch_cost)
    @blp.arguments(BatchUploadSchema, location="files")
    @blp.response(200, BatchResultSchema)
    @error_docs(blp)
    @blp.doc(security=BEARER, summary=f"Predict several digits with model {alias} in one call")
    @_named(f"predict_{alias}_batch")
    def batch(_files: dict) -> dict:
        return predict_batch(alias)


for _alias in ("v1", "v2"):
    _register(_alias)
