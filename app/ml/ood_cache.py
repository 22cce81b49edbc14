"""The fitted OOD detector on disk, so serving workers load it instead of fitting it.

Fitting costs each process about 3 s and leaves ~80 MB of its heap behind (the training images,
the hand-drawn negatives and the drawing code stay mapped); loading the fitted arrays costs a few
milliseconds and under 2 MB. `flask models bootstrap` (run by `make run` and `make serve-prod`
before the workers start) fits once and writes the file; a worker that finds no usable file fits
as before and writes it.

The file is named after a digest of everything the fit depends on: the source of app/ml (the
detector, the features, the data loading and the drawing code), the bundled data files, and the
NumPy and scikit-learn versions. Any change there is a new name, so a stale fit is never loaded.
Only plain arrays are stored (`allow_pickle=False`). Writes go to a temporary file renamed into
place, so concurrent workers never read half a file.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import TypeVar

import numpy as np
import sklearn

log = logging.getLogger(__name__)

ML_DIR = Path(__file__).resolve().parent
T = TypeVar("T")


def cache_dir() -> Path:
    """OOD_CACHE_DIR, else $XDG_CACHE_HOME/digitserve (~/.cache/digitserve)."""
    explicit = os.environ.get("OOD_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "digitserve"


@lru_cache(maxsize=1)
def fit_digest() -> str:
    h = hashlib.sha256(f"numpy {np.__version__} sklearn {sklearn.__version__}".encode())
    for path in sorted(ML_DIR.rglob("*")):
        if path.is_file() and (path.suffix in (".py", ".npz")) and "__pycache__" not in path.parts:
            h.update(str(path.relative_to(ML_DIR)).encode())
            h.update(path.read_bytes())
    return h.hexdigest()[:24]


def cache_path() -> Path:
    return cache_dir() / f"ood-{fit_digest()}.npz"


def load(cls: type[T]) -> T | None:
    """The cached detector, or None when there is no usable file."""
    path = cache_path()
    try:
        with np.load(path, allow_pickle=False) as z:
            fields = {f.name: np.array(z[f.name]) for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    except FileNotFoundError:
        return None
    except Exception:  # noqa: BLE001 - unreadable or incomplete file: fit again (and overwrite it)
        log.warning("ignoring unreadable OOD detector cache %s", path, exc_info=True)
        return None
    return cls(**fields)


def save(detector: object) -> Path | None:
    """Write the detector's arrays; None (and a warning) when the folder is not writable."""
    path = cache_path()
    arrays = {f.name: getattr(detector, f.name) for f in dataclasses.fields(detector)}  # type: ignore[arg-type]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".ood-", suffix=".npz", dir=path.parent)
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)
        os.replace(tmp, path)
    except OSError:
        log.warning("could not write the OOD detector cache in %s; each process fits its own", path.parent)
        return None
    return path
