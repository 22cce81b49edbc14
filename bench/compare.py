"""Our API against `mlflow models serve`, same model (v2's registered version), same machine.

(a) mlflow models serve -m models:/digit-classifier@model-v2 --env-manager local, /invocations
    with one preprocessed image as {"inputs": [[784 floats]]};
    every client cycles through the same 16 holdout digits on both servers;
(b) our POST /api/v2/predict with a PNG upload, JWT auth, rate limits on (set high) and every
    prediction stored in the database;
(c) our POST /api/v2/predict/batch with BATCH images per request (figures in images/s).

Load: one closed-loop client program (bench/common.py run_closed_loop; `--client wrk` for wrk) on
loopback, fixed duration per concurrency level, the same for every server.
Results: bench/results/compare.{json,md,png}.

    .venv/bin/python -m bench.compare [--seconds 10] [--concurrency 1 8 32] [--backends sqlite postgres]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import common
from devstack import stack
from devstack.images import multipart

BATCH = 32


def start_mlflow_serve(tmp: Path, workers: int) -> stack.Server:
    from app.ml.registry import model_uri

    port = stack.free_port()
    cmd = [
        str(stack.VENV_BIN / "mlflow"), "models", "serve", "-m", model_uri("v2"), "--env-manager", "local",
        "-h", "127.0.0.1", "-p", str(port), "-w", str(workers),
    ]  # fmt: skip
    env = stack.base_env(MLFLOW_TRACKING_URI=common.registry_uri())
    server = stack.spawn("mlflow-serve", cmd, env, tmp, f"http://127.0.0.1:{port}")
    try:
        stack.wait_http(server, "/ping", timeout=180)
    except BaseException:
        server.stop()
        raise
    return server


def mlflow_body(png: bytes | None = None) -> bytes:
    from app.ml.preprocess import preprocess_image

    pixels = preprocess_image(png or common.sample_png()).reshape(784)
    return json.dumps({"inputs": [[round(float(v), 6) for v in pixels]]}).encode()


def mlflow_bodies() -> list[bytes]:
    """The load's images as mlflow takes them: each upload's preprocessed 784 floats."""
    return [mlflow_body(png) for png in common.sample_pngs()]


def sweep(
    label: str,
    url: str,
    body: bytes | list[bytes],
    ctype: str | list[str],
    args: argparse.Namespace,
    **kw: Any,
) -> list[dict]:
    rows = []
    for conc in args.concurrency:
        run = common.run_wrk if args.client == "wrk" else common.run_closed_loop
        res = run(url, body, ctype, connections=conc, seconds=args.seconds, **kw)
        res.update(target=label, concurrency=conc, load_average=common.load_average())
        print(
            f"  {label:<28} c={conc:<3} {res['rps']:>9.1f} req/s  p50 {res['p50_ms']:.2f}  "
            f"p95 {res['p95_ms']:.2f}  p99 {res['p99_ms']:.2f} ms  errors {res['errors']}",
            flush=True,
        )
        rows.append(res)
    return rows


def check_answers(server_url: str, token: str, mlflow_url: str) -> None:
    """Both servers answer the same image with the same class before any timing."""
    import numpy as np
    import requests

    ours = requests.post(
        f"{server_url}/api/v2/predict",
        headers={"Authorization": f"Bearer {token}"},
        files={"file": ("d.png", common.sample_png(), "image/png")},
        timeout=30,
    )
    ours.raise_for_status()
    theirs = requests.post(
        f"{mlflow_url}/invocations",
        data=mlflow_body(),
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    theirs.raise_for_status()
    preds = theirs.json()["predictions"]
    assert int(np.argmax(preds[0])) == ours.json()["prediction"], (preds, ours.json())


def chart(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    for target in dict.fromkeys(r["target"] for r in rows):
        sel = [r for r in rows if r["target"] == target]
        xs = [r["concurrency"] for r in sel]
        ax1.plot(xs, [r["images_per_s"] for r in sel], marker="o", label=target)
        ax2.plot(xs, [r["p99_ms"] for r in sel], marker="o", label=target)
    for ax, title in ((ax1, "images/s (higher is better)"), (ax2, "p99 latency, ms (lower is better)")):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("concurrent connections")
        ax.set_title(title)
        ax.grid(alpha=0.3)
    ax2.set_yscale("log")
    ax1.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def worker_rss_mb(server: stack.Server) -> list[dict[str, float]]:
    """Memory of each gunicorn worker (children of the master), in MB: resident (RSS, counts the
    shared library pages in full), proportional (PSS, shared pages split between the processes
    sharing them) and private (USS, this worker's alone)."""
    import subprocess

    out = subprocess.run(
        ["ps", "--ppid", str(server.proc.pid), "-o", "pid=,args="], capture_output=True, text=True
    ).stdout
    result = []
    for line in out.splitlines():
        if "gunicorn" not in line:
            continue
        fields: dict[str, int] = {}
        try:
            with open(f"/proc/{line.split()[0]}/smaps_rollup") as fh:
                for row in fh:
                    parts = row.split()
                    if len(parts) >= 2 and parts[1].isdigit():
                        fields[parts[0].rstrip(":")] = int(parts[1])
        except OSError:
            continue
        private = fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0)
        result.append({
            "rss": round(fields.get("Rss", 0) / 1024, 1),
            "pss": round(fields.get("Pss", 0) / 1024, 1),
            "uss": round(private / 1024, 1),
        })  # fmt: skip
    return result


def during_retrain(srv: dict, single: list[bytes], single_ct: list[str], args: argparse.Namespace) -> dict:
    """c=8 load while a full-data retrain runs in the retrain process / queue worker."""
    import requests

    admin = {"Authorization": f"Bearer {srv['tokens']['admin']}"}
    resp = requests.post(f"{srv['url']}/admin/retrain", headers=admin, json={"base": "v2"}, timeout=30)
    resp.raise_for_status()
    job_url = f"{srv['url']}/admin/retrain/{resp.json()['job_id']}"
    run = common.run_wrk if args.client == "wrk" else common.run_closed_loop
    res = run(
        f"{srv['url']}/api/v2/predict", single, single_ct, connections=8, seconds=args.seconds,
        token=srv["tokens"]["user"],
    )  # fmt: skip
    job = requests.get(job_url, headers=admin, timeout=30).json()
    res["retrain_status_after_run"] = job["status"]
    res["retrain_progress_after_run"] = job["progress"]
    deadline = time.monotonic() + 600
    while job["status"] in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(1)  # poll interval: the retrain must end before the server stops
        job = requests.get(job_url, headers=admin, timeout=30).json()
    res["retrain_final_status"] = job["status"]
    res["retrain_duration_s"] = job.get("duration_s")
    return res


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    ap.add_argument("--backends", nargs="+", default=["sqlite", "postgres"], choices=["sqlite", "postgres"])
    ap.add_argument(
        "--workers", type=int, default=0, help="our gunicorn workers (0: the default, one per core)"
    )
    ap.add_argument("--mlflow-workers", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--batch", action="store_true", help="also the batch endpoint (c)")
    ap.add_argument("--no-retrain", action="store_true", help="skip the c=8 run during a retrain")
    ap.add_argument("--client", choices=["python", "wrk"], default="python", help="load generator")
    ap.add_argument("--out", default="compare")
    return ap.parse_args()


def run_mlflow(tmp: Path, args: argparse.Namespace) -> list[dict]:
    """(a) at each worker count."""
    rows = []
    # uvicorn's multi-worker mode answers keep-alive requests ~40 ms late here (its inherited
    # sockets miss TCP_NODELAY: Nagle meets delayed ACK), so -w 1 (mlflow's default) is its
    # best case at low concurrency; "best" below is the best (a) at each concurrency.
    for n in args.mlflow_workers:
        print(f"(a) mlflow models serve -w {n}", flush=True)
        with stack.running(lambda n=n: start_mlflow_serve(tmp / f"w{n}", n)) as mlflow_srv:
            for r in sweep(f"(a) mlflow /invocations -w{n}", f"{mlflow_srv.url}/invocations",
                           mlflow_bodies(), "application/json", args):  # fmt: skip
                r["images_per_s"] = r["rps"]
                r["mlflow_workers"] = n
                rows.append(r)
    return rows


def run_ours(
    backend: str, sub: Path, args: argparse.Namespace, bodies: dict[str, tuple[Any, str]], mlflow_url: str
) -> tuple[list[dict], dict[str, Any]]:
    """(b), (c) if asked, memory, and the run during a retrain, on one backend."""
    rows, extra = [], {}
    (single, single_ct), (batch, batch_ct) = bodies["single"], bodies["batch"]
    # Full-data retrains in the during-retrain run, as a real one would be.
    with common.our_server(backend, sub, workers=args.our_workers, RETRAIN_DATA_LIMIT="",
                           mlflow_uri=common.private_registry(sub)) as srv:  # fmt: skip
        token = srv["tokens"]["user"]
        check_answers(srv["url"], token, mlflow_url)
        for r in sweep(f"(b) /api/v2/predict [{backend}]", f"{srv['url']}/api/v2/predict",
                       single, single_ct, args, token=token):  # fmt: skip
            r["images_per_s"] = r["rps"]
            r["backend"] = backend
            rows.append(r)
        if args.batch:
            for r in sweep(f"(c) batch x{BATCH} [{backend}]", f"{srv['url']}/api/v2/predict/batch",
                           batch, batch_ct, args, token=token):  # fmt: skip
                r["images_per_s"] = r["rps"] * BATCH
                rows.append(r)
        extra[f"rss_mb_{backend}"] = worker_rss_mb(srv["server"])
        if not args.no_retrain:
            res = during_retrain(srv, single, single_ct, args)
            res["load_average"] = common.load_average()
            extra[f"during_retrain_{backend}"] = res
            print(f"  during a retrain c=8: {res['rps']:.1f} req/s p99 {res['p99_ms']:.1f} ms "
                  f"(retrain {res['retrain_status_after_run']} at the end of the run)", flush=True)  # fmt: skip # noqa: E501
    return rows, extra


def run_all(args: argparse.Namespace) -> tuple[list[dict], dict[str, Any]]:
    # Every run cycles through the same distinct digits (mlflow gets each one's preprocessed form),
    # each upload with its own multipart boundary, as browsers and HTTP libraries send them.
    pngs = common.sample_pngs()
    bodies = {
        "single": common.sample_uploads(pngs),
        "batch": multipart([(f"d{i}.png", pngs[i % len(pngs)]) for i in range(BATCH)]),
    }
    extra: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-compare-") as tmpdir:
        tmp = Path(tmpdir)
        rows = run_mlflow(tmp, args)
        with stack.running(lambda: start_mlflow_serve(tmp / "check", 1)) as mlflow_srv:
            for backend in args.backends:
                sub = tmp / backend
                sub.mkdir()
                label = "make run" if backend == "sqlite" else "serve-prod"
                print(f"our API ({label}), gunicorn {args.our_workers} workers, {backend}", flush=True)
                more, found = run_ours(backend, sub, args, bodies, mlflow_srv.url)
                rows += more
                extra.update(found)
    return rows, extra


def add_ratios(rows: list[dict]) -> tuple[dict[int, float], dict[int, float]]:
    """Each row's ratio to (a) with mlflow's default -w 1 and to the best (a), at its concurrency;
    returns those two (a) figures per concurrency."""
    a_default = {r["concurrency"]: r["rps"] for r in rows if r.get("mlflow_workers") == 1}
    a_best: dict[int, float] = {}
    for r in rows:
        if r["target"].startswith("(a)"):
            a_best[r["concurrency"]] = max(a_best.get(r["concurrency"], 0.0), r["rps"])
    for r in rows:
        base = a_best.get(r["concurrency"])
        r["ratio_vs_best_a"] = round(r["images_per_s"] / base, 2) if base else None
        default = a_default.get(r["concurrency"])
        r["ratio_vs_default_a"] = round(r["images_per_s"] / default, 2) if default else None
    return a_default, a_best


def headline_table(rows: list[dict], args: argparse.Namespace, a_default: dict, a_best: dict) -> str:
    headline = []
    for backend in args.backends:
        ours = {r["concurrency"]: r for r in rows if r.get("backend") == backend}
        for conc in args.concurrency:
            r = ours.get(conc)
            if r is None:
                continue
            headline.append([
                "make run (SQLite)" if backend == "sqlite" else "serve-prod (PostgreSQL + Redis)", conc,
                r["rps"], a_default.get(conc), r["ratio_vs_default_a"], a_best.get(conc), r["ratio_vs_best_a"],  # noqa: E501
                r["p50_ms"], r["p99_ms"], r["errors"],
            ])  # fmt: skip
    return common.markdown_table(
        ["ours", "clients", "our req/s", "mlflow default (-w1) req/s", "× default", "mlflow best req/s",
         "× best", "our p50 ms", "our p99 ms", "errors"],
        headline,
    )  # fmt: skip


def all_rows_table(rows: list[dict]) -> str:
    return common.markdown_table(
        ["target", "conc.", "req/s", "images/s", "p50 ms", "p95 ms", "p99 ms", "errors", "× best (a)", "load avg"],  # noqa: E501
        [
            [r["target"], r["concurrency"], r["rps"], r["images_per_s"], r["p50_ms"], r["p95_ms"],
             r["p99_ms"], r["errors"], r["ratio_vs_best_a"], r.get("load_average", "")]
            for r in rows
        ],
    )  # fmt: skip


def notes(rows: list[dict], extra: dict[str, Any], args: argparse.Namespace) -> list[str]:
    out = []
    for backend in args.backends:
        res = extra.get(f"during_retrain_{backend}")
        base = next((r for r in rows if r.get("backend") == backend and r["concurrency"] == 8), None)
        if res and base:
            out.append(
                f"- {backend}: c=8 while a full-data retrain runs: {res['rps']:.1f} req/s, p99 "
                f"{res['p99_ms']:.1f} ms vs {base['p99_ms']:.1f} ms without (×{res['p99_ms'] / base['p99_ms']:.2f}); "  # noqa: E501
                f"the retrain was {res['retrain_status_after_run']} ({res['retrain_progress_after_run']} %) at the "  # noqa: E501
                f"end of the run, {res['retrain_final_status']} after {res['retrain_duration_s']} s."
            )  # fmt: skip
        if extra.get(f"rss_mb_{backend}"):
            per = extra[f"rss_mb_{backend}"]
            mem = ", ".join(f"RSS {m['rss']} / PSS {m['pss']} / USS {m['uss']}" for m in per)
            out.append(f"- {backend}: memory per serving worker, MB: {mem}")
    return out


def report(rows: list[dict], extra: dict[str, Any], meta: dict[str, Any], args: argparse.Namespace) -> str:
    a_default, a_best = add_ratios(rows)
    summary = headline_table(rows, args, a_default, a_best)
    return (
        f"# Our API vs mlflow models serve ({meta['when']})\n\n"
        f"{meta['cpus']} CPUs; our gunicorn {args.our_workers} gevent workers; "
        f"mlflow -w {args.mlflow_workers}; "
        f"client {args.client} (closed loop, keep-alive), {args.seconds} s per row; load average before "
        f"{meta['load_average_before']}, after {meta['load_average_after']} "
        "(other jobs share this machine).\n"
        f"Ours: PNG upload, JWT auth with live revocation and roles, rate limits on (high) with "
        f"headers, every prediction stored, metrics. mlflow: the preprocessed 784 floats as JSON. "
        f"Each client cycles through {common.SAMPLES} different holdout digits (photographed, "
        f"140x140 PNG, each with its own multipart boundary), mlflow's through the same digits "
        f"preprocessed.\n\n"
        f"{summary}\n\n{chr(10).join(notes(rows, extra, args))}\n\nAll rows:\n\n{all_rows_table(rows)}\n"
    )


def main() -> None:
    args = parse_args()
    args.our_workers = args.workers or (os.cpu_count() or 1)
    common.registry_uri()
    started = time.time()
    load_before = common.load_average()
    rows, extra = run_all(args)
    meta = {
        "when": time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(started)),
        "seconds_per_run": args.seconds,
        "our_workers": args.our_workers,
        "mlflow_workers": args.mlflow_workers,
        "cpus": os.cpu_count(),
        "load_average_before": load_before,
        "load_average_after": common.load_average(),
        **extra,
    }
    md = report(rows, extra, meta, args)  # also adds the ratios to the rows
    common.RESULTS.mkdir(parents=True, exist_ok=True)
    (common.RESULTS / f"{args.out}.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    (common.RESULTS / f"{args.out}.md").write_text(md)
    chart(rows, common.RESULTS / f"{args.out}.png")
    print("\n" + md)


if __name__ == "__main__":
    main()
