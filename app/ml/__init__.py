"""Model package: pure Python, no Flask.

- ``preprocess``: untrusted image bytes -> (28, 28) MNIST-style array.
- ``data``: bundled MNIST subset, fixed train/holdout split.
- ``codec``: image sizes and the stored-image codec (image <-> stored bytes).
- ``families``: model families, training, evaluation.
- ``runtime``: ``DigitModel``, the loaded model that predicts.
- ``registry``: MLflow access: store layout, alias names, clients, loading a version.
- ``tracking``: logging runs, registering versions, bootstrap of v1/v2.
- ``store``: ``ModelStore``, the per-process serving cache (hot swap).
- ``retrain``: retraining core (``RetrainRequest`` -> ``RetrainResult``), with
  ``feedback_set`` (the feedback split) and ``promotion`` (the gate).
- ``synth``: generator of the synthetic training uploads and the real-world
  evaluation set (committed under ``assets/``; fonts only needed to regenerate).
- ``realworld``: the real-world evaluation set, judged through ``preprocess``.
- ``evaluate``: the README's model table (``python -m app.ml.evaluate``).

Kept free of imports so that unpickling a model (which imports
``app.ml.features``) stays cheap.
"""
