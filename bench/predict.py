"""Real predictions: the model's own time per image against what a client sees end to end.

In-process (the registered v2 loaded from the registry, as the server loads it): PNG decode +
preprocessing, and predict_proba single and batched (timing helper from bench/predict_model.py).
End to end: /api/v2/predict through gunicorn (production config, JWT auth, rate limits on but
high, every prediction stored) loaded by bench.common's closed-loop client (as bench.compare).
Server overhead = end-to-end p50 at concurrency 1 minus the in-process decode + predict time of
the same image.

    .venv/bin/python -m bench.predict [--seconds 10] [--backend sqlite|postgres] [--workers N]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from bench import common
from bench.predict_model import per_call
from devstack.images import multipart

BATCHES = (1, 64)


def in_process(png: bytes, repeat: int) -> dict[str, float]:
    """ms per image: decode+preprocess, predict_proba at each batch size, and their sum (batch 1)."""
    from app.ml.preprocess import preprocess_image
    from app.ml.store import ModelStore

    store = ModelStore(common.registry_uri())
    model = store.get("v2")
    from app.ml import data

    split = data.load_split()
    out = {"model_version": model.version}
    out["preprocess_ms"] = per_call(lambda: preprocess_image(png), repeat=repeat) * 1e3
    image = preprocess_image(png)[None]
    for batch in BATCHES:
        X = np.ascontiguousarray(split.X_holdout[:batch]) if batch > 1 else image
        t = per_call(lambda X=X: model.predict_proba(X), repeat=repeat)
        out[f"predict_b{batch}_ms"] = t / batch * 1e3
        out[f"predict_b{batch}_images_per_s"] = batch / t
    out["model_total_ms"] = out["preprocess_ms"] + out["predict_b1_ms"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--backend", default="sqlite", choices=["sqlite", "postgres"])
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()

    png = common.sample_png()
    load_before = common.load_average()
    model = in_process(png, args.repeat)
    body, ctype = multipart([("d.png", png)])
    e2e = []
    with tempfile.TemporaryDirectory(prefix="bench-predict-") as tmpdir:
        with common.our_server(args.backend, Path(tmpdir), workers=args.workers) as srv:
            for conc in args.concurrency:
                res = common.run_closed_loop(
                    f"{srv['url']}/api/v2/predict", body, ctype,
                    connections=conc, seconds=args.seconds, token=srv["tokens"]["user"],
                )  # fmt: skip
                res["concurrency"] = conc
                e2e.append(res)
    overhead = e2e[0]["p50_ms"] - model["model_total_ms"]
    meta = {
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
        "backend": args.backend,
        "workers": args.workers,
        "load_average_before": load_before,
        "load_average_after": common.load_average(),
    }
    pre, total = model["preprocess_ms"], model["model_total_ms"]
    rows = [["decode + preprocess PNG (140x140)", "1", f"{pre:.3f}", f"{1e3 / pre:,.0f}"]]
    for b in BATCHES:
        ms, rate = model[f"predict_b{b}_ms"], model[f"predict_b{b}_images_per_s"]
        what = f"v2 predict_proba (version {model['model_version']})"
        rows.append([what, str(b), f"{ms:.3f}", f"{rate:,.0f}"])
    rows.append(["model total (decode + predict, batch 1)", "1", f"{total:.3f}", f"{1e3 / total:,.0f}"])
    table1 = common.markdown_table(["in-process", "batch", "ms/image", "images/s"], rows)
    table2 = common.markdown_table(
        ["/api/v2/predict end to end", "req/s", "p50 ms", "p95 ms", "p99 ms", "errors"],
        [[f"concurrency {r['concurrency']}", r["rps"], r["p50_ms"], r["p95_ms"], r["p99_ms"], r["errors"]]
         for r in e2e],
    )  # fmt: skip
    md = (
        f"# Predictions: model time vs end to end ({meta['when']})\n\n"
        f"gunicorn {args.workers} workers, {args.backend}, JWT auth, limits on (high), predictions stored; "
        f"closed-loop client, {args.seconds} s per row. Load average before {load_before}, "
        f"after {meta['load_average_after']}.\n\n{table1}\n\n{table2}\n\n"
        f"Server overhead at p50 (concurrency 1): {overhead:.2f} ms above the model's "
        f"{model['model_total_ms']:.2f} ms (target ≤ 1 ms). Batch: "
        f"{model['predict_b64_images_per_s']:,.0f} images/s in process (target ≥ 5,000).\n"
    )
    common.RESULTS.mkdir(parents=True, exist_ok=True)
    (common.RESULTS / "predict.json").write_text(
        json.dumps({"meta": meta, "model": model, "e2e": e2e, "overhead_p50_ms": overhead}, indent=2)
    )
    (common.RESULTS / "predict.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
