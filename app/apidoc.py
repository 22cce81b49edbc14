"""OpenAPI documentation from flask-smorest's decorators, without their run-time wrappers.

`blp.arguments` parses a request with webargs and `blp.response` dumps the answer with
marshmallow on every call; each `alt_response` and `doc` adds a wrapper too. On the predict
routes that was ~0.4 ms of a ~3 ms request. Those views read their upload and write their JSON
themselves (app/predict/http.py), and keep the same documentation through `doc_only`.
"""

from __future__ import annotations

from collections.abc import Callable
from copy import deepcopy
from typing import Any


def doc_only(*decorators: Callable[[Callable], Callable]) -> Callable[[Callable], Callable]:
    """Give the view the OpenAPI entries that `decorators` (flask-smorest's, listed top to
    bottom as they would be stacked) would give it, and none of their wrappers.

    flask-smorest keeps a view's documentation in its `_apidoc` attribute and reads only that when
    it builds the spec, so the decorators are applied to a stand-in and their `_apidoc` is copied.
    """

    def decorator(fn: Callable) -> Callable:
        if getattr(fn, "_apidoc", None):
            raise TypeError(f"{fn.__name__} is documented already; give doc_only all its decorators")

        def stand_in(*_args: Any, **_kwargs: Any) -> None:
            raise AssertionError("a documentation stand-in is never called")

        documented = stand_in
        for apply in reversed(decorators):
            documented = apply(documented)
        fn._apidoc = deepcopy(documented._apidoc)  # type: ignore[attr-defined]
        return fn

    return decorator
