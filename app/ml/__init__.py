"""Model package: pure Python, no Flask.

- ``preprocess``: untrusted image bytes -> (28, 28) MNIST-style array.
- ``data``: bundled MNIST subset, fixed train/holdout split.
- ``models``: model families, training, evaluation, ``DigitModel`` runtime.
- ``registry``: MLflow store layout, bootstrap of v1/v2, ``ModelStore`` cache.
- ``retrain``: retraining core with the promotion gate.
- ``synth``: generator of the synthetic training uploads and the real-world
  evaluation set (committed under ``assets/``; fonts only needed to regenerate).
- ``realworld``: the real-world evaluation set, judged through ``preprocess``.
- ``evaluate``: the README's model table (``python -m app.ml.evaluate``).

Kept free of imports so that unpickling a model (which imports
``app.ml.features``) stays cheap.
"""
