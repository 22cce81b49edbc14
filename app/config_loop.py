"""The settings of the learning loop (A/B, labels, retraining, rollouts, the OOD flag) and of its
operations (email, notifications, the scheduler, monitoring): mixins of app.config.Config."""

from __future__ import annotations

import os

from app.envvars import ConfigError, env_bool, env_float, env_int


class LoopSettings:
    # Out-of-distribution inputs (app/ml/ood.py): "flag" answers and flags them, "refuse" answers
    # 422 out_of_distribution and stores nothing. OOD_THRESHOLD empty: the calibrated default.
    OOD_ACTION = os.environ.get("OOD_ACTION", "flag")
    OOD_THRESHOLD = env_float("OOD_THRESHOLD", 0.0) or None
    AB_ARMS = os.environ.get("AB_ARMS", "v1:0.5,v2:0.5")
    AB_MODE = os.environ.get("AB_MODE", "sticky")
    AB_EXPERIMENT = os.environ.get("AB_EXPERIMENT", "v1-vs-v2")
    # How many verdicts one user weighs at most (issue 14): per arm (per version in the report) their
    # first FEEDBACK_USER_CAP count in Thompson posteriors and report figures; a retrain's feedback
    # set takes their newest FEEDBACK_USER_CAP labels (app/feedback/training.py says why).
    FEEDBACK_USER_CAP = env_int("FEEDBACK_USER_CAP", 20)
    # Thompson mode: each process reads the arms' posterior counts (one aggregate over the
    # experiment's feedback) at most this often, not on every /api/ab/predict; 0: every request.
    AB_POSTERIOR_CACHE_SECONDS = env_float("AB_POSTERIOR_CACHE_SECONDS", 1.0)

    # Clean labels (issue 14), see FEEDBACK_USER_CAP above.
    # A "wrong" verdict on a prediction at least this probable waits for an admin's review.
    REVIEW_CONFIDENCE = env_float("REVIEW_CONFIDENCE", 0.95)
    # A user with at least REVIEW_MIN_VERDICTS verdicts (and as many from the other users) whose
    # disagreements are this improbable (one-sided binomial tail) at the other users' rate is an
    # outlier: their "wrong" verdicts wait.
    REVIEW_MIN_VERDICTS = env_int("REVIEW_MIN_VERDICTS", 10)
    REVIEW_OUTLIER_ALPHA = env_float("REVIEW_OUTLIER_ALPHA", 0.001)

    RETRAIN_FEEDBACK_WEIGHT = env_float("RETRAIN_FEEDBACK_WEIGHT", 5.0)
    RETRAIN_PROMOTION_MARGIN = env_float("RETRAIN_PROMOTION_MARGIN", 0.0)
    RETRAIN_DATA_LIMIT = env_int("RETRAIN_DATA_LIMIT", 0) or None
    # A running job's process writes a heartbeat this often; a queued/running job whose heartbeat
    # is older than RETRAIN_STALE_SECONDS belonged to a dead process (or found no worker).
    RETRAIN_HEARTBEAT_SECONDS = env_float("RETRAIN_HEARTBEAT_SECONDS", 5.0)
    RETRAIN_STALE_SECONDS = env_float("RETRAIN_STALE_SECONDS", 30.0)

    # Staged rollouts (app/rollout): the defaults of a rollout's thresholds (a request may set its
    # own). alpha: error rate of the anytime-valid paired test; *_DISCORDANT: labelled images on
    # which exactly one version is right, at least / at most; SHADOW_MIN: shadowed predictions
    # before the canary; MIN_AGREEMENT: below it the shadow stage rolls back; CANARY_MIN /
    # FULL_MIN: predictions the candidate must serve in those stages before moving on.
    ROLLOUT_CANARY_SHARE = env_float("ROLLOUT_CANARY_SHARE", 0.1)
    ROLLOUT_ALPHA = env_float("ROLLOUT_ALPHA", 0.05)
    ROLLOUT_MIN_DISCORDANT = env_int("ROLLOUT_MIN_DISCORDANT", 10)
    ROLLOUT_MAX_DISCORDANT = env_int("ROLLOUT_MAX_DISCORDANT", 500)
    ROLLOUT_SHADOW_MIN = env_int("ROLLOUT_SHADOW_MIN", 50)
    ROLLOUT_MIN_AGREEMENT = env_float("ROLLOUT_MIN_AGREEMENT", 0.5)
    ROLLOUT_CANARY_MIN = env_int("ROLLOUT_CANARY_MIN", 20)
    ROLLOUT_FULL_MIN = env_int("ROLLOUT_FULL_MIN", 20)


class OperationsSettings:
    # Email (Flask-Mail's standard settings); no MAIL_SERVER: no email is queued or sent.
    MAIL_SERVER = os.environ.get("MAIL_SERVER") or None
    MAIL_PORT = env_int("MAIL_PORT", 25)
    MAIL_USE_TLS = env_bool("MAIL_USE_TLS", False)
    MAIL_USE_SSL = env_bool("MAIL_USE_SSL", False)
    MAIL_USERNAME = os.environ.get("MAIL_USERNAME") or None
    MAIL_PASSWORD = os.environ.get("MAIL_PASSWORD") or None
    MAIL_DEFAULT_SENDER = os.environ.get("MAIL_DEFAULT_SENDER", "digitserve@localhost")
    MAIL_SUPPRESS_SEND = env_bool("MAIL_SUPPRESS_SEND", False)
    # Notifications outbox (app/notify): the per-process background deliverer, its bounded ticks,
    # short timeouts and exponential backoff (NOTIFY_BACKOFF_SECONDS * 2**(attempt-1)).
    NOTIFY_DELIVERER = env_bool("NOTIFY_DELIVERER", True)
    NOTIFY_POLL_SECONDS = env_float("NOTIFY_POLL_SECONDS", 2.0)
    NOTIFY_BATCH = env_int("NOTIFY_BATCH", 20)
    NOTIFY_HTTP_TIMEOUT = env_float("NOTIFY_HTTP_TIMEOUT", 5.0)
    NOTIFY_SMTP_TIMEOUT = env_float("NOTIFY_SMTP_TIMEOUT", 10.0)
    NOTIFY_LEASE_SECONDS = env_float("NOTIFY_LEASE_SECONDS", 120.0)
    NOTIFY_MAX_ATTEMPTS = env_int("NOTIFY_MAX_ATTEMPTS", 8)
    NOTIFY_BACKOFF_SECONDS = env_float("NOTIFY_BACKOFF_SECONDS", 10.0)

    # The scheduler (app/policy): a thread per process, of which only the holder of a database
    # lease acts; it renews the lease every tick, another takes over after it expires.
    SCHEDULER_ENABLED = env_bool("SCHEDULER_ENABLED", True)
    SCHEDULER_TICK_SECONDS = env_float("SCHEDULER_TICK_SECONDS", 10.0)
    SCHEDULER_LEASE_SECONDS = env_float("SCHEDULER_LEASE_SECONDS", 30.0)
    # Drift and estimated accuracy (app/monitoring, docs/monitoring.md): the window of recent
    # predictions per alias, the smallest window that is tested, the family-wise alarm level
    # (Bonferroni over the two tests), permutations of the MMD test, the reference sample size and
    # how long a computed answer is reused (admins refreshing must not burn CPU).
    MONITORING_WINDOW = env_int("MONITORING_WINDOW", 500)
    MONITORING_MIN_WINDOW = env_int("MONITORING_MIN_WINDOW", 100)
    MONITORING_ALPHA = env_float("MONITORING_ALPHA", 0.01)
    MONITORING_PERMUTATIONS = env_int("MONITORING_PERMUTATIONS", 500)
    MONITORING_REFERENCE_SIZE = env_int("MONITORING_REFERENCE_SIZE", 500)
    MONITORING_CACHE_SECONDS = env_float("MONITORING_CACHE_SECONDS", 60.0)
    # The scheduler checks the current A/B phase's sample ratio this often (0: only the report
    # does), so a broken assignment raises `srm.alarm` without anyone opening the report.
    AB_SRM_CHECK_SECONDS = env_float("AB_SRM_CHECK_SECONDS", 60.0)


def check_loop_settings(cfg: dict) -> None:
    """Raise ConfigError for a loop setting that cannot work."""
    check_feedback_cap(cfg)
    check_ood(cfg)


def check_feedback_cap(cfg: dict) -> None:
    cap = cfg.get("FEEDBACK_USER_CAP")
    if not isinstance(cap, int) or isinstance(cap, bool) or cap < 1:
        raise ConfigError(f"FEEDBACK_USER_CAP must be an integer >= 1, got {cap!r}")


def check_ood(cfg: dict) -> None:
    if cfg.get("OOD_ACTION", "flag") not in ("flag", "refuse"):
        raise ConfigError(f"OOD_ACTION must be 'flag' or 'refuse', got {cfg.get('OOD_ACTION')!r}")
    if cfg.get("OOD_THRESHOLD") is not None and not float(cfg["OOD_THRESHOLD"]) > 0:
        raise ConfigError("OOD_THRESHOLD must be a positive number (empty: the calibrated default)")
