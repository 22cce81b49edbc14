"""Password policy and secret strength, on zxcvbn (Dropbox's estimator, pinned in requirements.txt):
its 30,000-entry common-password list plus pattern matching (repeats, sequences, keyboard walks,
dates, l33t) estimate how many guesses an attacker needs."""

from __future__ import annotations

import math
from collections import Counter

from zxcvbn import zxcvbn
from zxcvbn.matching import RANKED_DICTIONARIES

MIN_PASSWORD = 8
MIN_PASSWORD_SCORE = 2  # zxcvbn 0-4; 2 = "somewhat guessable" (~1e8 guesses), refuses lists and patterns
MIN_SECRET_LENGTH = 16
MIN_SECRET_GUESSES_LOG10 = 14.0  # ~46 bits: a random 16-character key has far more
MIN_SECRET_BITS_PER_CHAR = 3.0  # Shannon entropy of the character distribution
_ZXCVBN_MAX = 100  # zxcvbn's cost grows with length; beyond this the estimate no longer matters


def is_common_password(password: str) -> bool:
    return password.strip().lower() in RANKED_DICTIONARIES["passwords"]


def password_problem(password: str, user_inputs: list[str] | None = None) -> str | None:
    """Why `password` is too weak, or None. `user_inputs` (the username, ...) count as known words."""
    if len(password) < MIN_PASSWORD:
        return f"Password must be at least {MIN_PASSWORD} characters."
    if not password.strip() or len(set(password)) < 3:
        return "Password must not be one character repeated or only spaces."
    if is_common_password(password):
        return "Password is one of the most common passwords; choose another."
    result = zxcvbn(password[:_ZXCVBN_MAX], user_inputs=[u for u in (user_inputs or []) if u])
    if result["score"] < MIN_PASSWORD_SCORE:
        hint = result["feedback"].get("warning") or "it is too easy to guess"
        return f"Password is too weak: {hint.rstrip('.')}. Use a longer phrase or more varied characters."
    return None


def shannon_bits_per_char(value: str) -> float:
    counts = Counter(value)
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in counts.values()) if n else 0.0


def secret_problem(value: str) -> str | None:
    """Why `value` is not a usable signing secret, or None: length, character entropy and
    zxcvbn's guess estimate (refuses repeats, words, common passwords and their combinations)."""
    if len(value) < MIN_SECRET_LENGTH:
        return f"shorter than {MIN_SECRET_LENGTH} characters"
    if shannon_bits_per_char(value) < MIN_SECRET_BITS_PER_CHAR:
        return "too few distinct characters (low entropy)"
    if zxcvbn(value[:_ZXCVBN_MAX])["guesses_log10"] < MIN_SECRET_GUESSES_LOG10:
        return "guessable (words, repeats or common passwords)"
    return None
