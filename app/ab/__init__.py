"""A/B testing: weighted sticky split or Thompson sampling between model aliases."""

from __future__ import annotations

import logging
import threading

from flask import Flask

from app.ab.service import MODES, parse_arms
from app.ab.views import blp
from app.auth.cache import TtlCache
from app.config import ConfigError
from app.extensions import api
from app.state import model_store, set_ab_posterior_cache

log = logging.getLogger(__name__)
REGISTRY_CHECK_S = 10.0  # a registry that does not answer by then does not block start-up


def init_ab(app: Flask) -> None:
    """Validate AB_ARMS and AB_MODE and add the A/B routes. Needs init_predict's model store."""
    model_store(app)  # raises RuntimeError when init_predict has not run: the arms are its aliases
    parse_arms(app.config["AB_ARMS"])  # refuse to start on a malformed AB_ARMS
    if app.config["AB_MODE"] not in MODES:
        raise ConfigError(f"AB_MODE must be one of {MODES}, got {app.config['AB_MODE']!r}")
    set_ab_posterior_cache(app, TtlCache(float(app.config["AB_POSTERIOR_CACHE_SECONDS"])))
    api.register_blueprint(blp)


def check_arm_aliases(app: Flask) -> None:
    """Start-up (app/startup.py): refuse to start when AB_ARMS names an alias the registry lacks
    (a typo would otherwise send that arm's share of /api/ab traffic to 503s).

    Only a definite answer refuses: an empty registry (before `flask models bootstrap`, which
    itself loads the app) or one that is unreachable or slow is logged and left to /health/ready.
    """
    wanted = [a.alias for a in parse_arms(app.config["AB_ARMS"])]
    store = model_store(app)
    answer: dict = {}

    def ask() -> None:
        try:
            answer["aliases"] = store.aliases()
        except Exception as exc:  # noqa: BLE001 - any registry failure: cannot tell, do not block
            answer["error"] = exc

    thread = threading.Thread(target=ask, name="ab-alias-check", daemon=True)
    thread.start()
    thread.join(REGISTRY_CHECK_S)
    known = answer.get("aliases")
    if known is None:
        reason = answer.get("error", f"no answer within {REGISTRY_CHECK_S:.0f}s")
        log.warning("cannot check the AB_ARMS aliases against the model registry: %s", reason)
        return
    missing = [alias for alias in wanted if alias not in known]
    if known and missing:
        raise ConfigError(
            f"AB_ARMS names alias(es) {missing} that the model registry lacks (known: {sorted(known)})"
        )
