"""The fitted OOD detector on disk (app/ml/ood_cache.py): a worker loads the same detector the
fit produced; a damaged file or an unwritable folder falls back to fitting."""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from app.ml import ood, ood_cache


def test_saved_detector_loads_identical_and_scores_the_same(tmp_path, monkeypatch, split):
    monkeypatch.setenv("OOD_CACHE_DIR", str(tmp_path))
    fitted = ood.detector()
    path = ood_cache.save(fitted)
    assert path is not None and path.parent == tmp_path and path.name.startswith("ood-")
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    loaded = ood_cache.load(ood.OodDetector)
    assert loaded is not None
    for field in dataclasses.fields(ood.OodDetector):
        assert np.array_equal(getattr(loaded, field.name), getattr(fitted, field.name)), field.name
    X = split.X_holdout[:50]
    assert np.array_equal(loaded.score(X), fitted.score(X))


def test_missing_or_damaged_file_is_not_loaded(tmp_path, monkeypatch):
    monkeypatch.setenv("OOD_CACHE_DIR", str(tmp_path))
    assert ood_cache.load(ood.OodDetector) is None
    ood_cache.cache_path().write_bytes(b"not an npz file")
    assert ood_cache.load(ood.OodDetector) is None
    # A file of other arrays (say, an older detector's) lacks fields: not loaded either.
    with open(ood_cache.cache_path(), "wb") as fh:
        np.savez(fh, mean=np.zeros(3))
    assert ood_cache.load(ood.OodDetector) is None


def test_unwritable_folder_only_skips_the_cache(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the folder should be")
    monkeypatch.setenv("OOD_CACHE_DIR", str(blocker / "sub"))
    assert ood_cache.save(ood.detector()) is None
    assert ood_cache.load(ood.OodDetector) is None


def test_name_follows_what_the_fit_depends_on():
    digest = ood_cache.fit_digest()
    assert len(digest) == 24 and ood_cache.cache_path().name == f"ood-{digest}.npz"
    ood_cache.fit_digest.cache_clear()
    assert ood_cache.fit_digest() == digest  # stable for the same sources, data and versions
