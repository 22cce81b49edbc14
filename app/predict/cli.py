from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from app.aliases import mover
from app.ml.tracking import bootstrap
from app.state import model_store


def register_cli(app: Flask) -> None:
    models = AppGroup("models", help="Train, register and inspect the digit models.")

    @models.command("bootstrap")
    @click.option("--limit", type=int, default=None, help="Train on a stratified subset (for quick tries).")
    def bootstrap_cmd(limit: int | None) -> None:
        """Train v1 and v2, log them to MLflow and register them (idempotent)."""
        cfg = current_app.config
        result = bootstrap(
            cfg["MLFLOW_TRACKING_URI"],
            limit=limit,
            model_name=cfg["MODEL_NAME"],
            log=click.echo,
            move=mover("bootstrap"),  # recorded in the alias history
        )
        click.echo(f"bootstrap: {result}")
        # Fit the OOD detector once here, before the workers start: they load it from the cache
        # file instead of each fitting it (app/ml/ood_cache.py).
        from app.ml import ood, ood_cache

        ood.detector()
        click.echo(f"ood detector: {ood_cache.cache_path()}")

    @models.command("list")
    def list_cmd() -> None:
        """Registered versions and the aliases pointing at them."""
        for row in model_store().versions():
            click.echo(f"version {row['version']}: aliases={row['aliases']} run={row['run_id']}")

    app.cli.add_command(models)
