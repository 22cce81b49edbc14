"""Model package: pure Python, no Flask.

- ``preprocess``: untrusted image bytes -> (28, 28) MNIST-style array.
- ``data``: bundled MNIST subset, fixed train/holdout split.
- ``models``: model families, training, evaluation, ``DigitModel`` runtime.
- ``registry``: MLflow store layout, bootstrap of v1/v2, ``ModelStore`` cache.
- ``retrain``: retraining core with the promotion gate.

Kept free of imports so that unpickling a model (which imports
``app.ml.features``) stays cheap.
"""
