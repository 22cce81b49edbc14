"""A random signing secret per instance, for development and testing without SECRET_KEY.

Kept in instance/<name> (mode 0600), made on first start, so tokens survive restarts and the
workers of one instance share it; no published value ever signs a token."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def instance_secret(instance_path: str, name: str) -> str:
    path = Path(instance_path) / name
    try:
        value = path.read_text().strip()
        if len(value) >= 32:
            return value
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    tmp = path.with_name(f".{name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value + "\n")
    try:
        # Two workers starting at once: the first link wins and both read the winner's value.
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    return path.read_text().strip()


def fill_missing_secrets(config: dict, instance_path: str, production: bool) -> None:
    if production:
        return  # production must be given real secrets; ProductionConfig.validate says so
    for key, name in (("SECRET_KEY", "secret_key"), ("JWT_SECRET_KEY", "jwt_secret_key")):
        if not config.get(key):
            config[key] = instance_secret(instance_path, name)
