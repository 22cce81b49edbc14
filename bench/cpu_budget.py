"""Where the CPU of one prediction goes under load, and what a throughput target leaves for it.

Measured with the same closed-loop client as bench.compare, CPU read from /proc per process:
(1) the model alone (decode + preprocessing + predict + OOD score) per image, one at a time and in
    batches of 8 (what the combiner makes of concurrent requests);
(2) the HTTP floor: a WSGI app that reads the upload and answers a small JSON, on our gunicorn
    settings (gevent workers, one per core);
(3) mlflow models serve (-w 4) and (4) our API as `make serve-prod` runs it (PostgreSQL + Redis),
    each at --concurrency clients, with the CPU per request of every process involved.
Then the budget: CPU per request on this machine's cores at --target times mlflow's throughput,
minus what the client, PostgreSQL and Redis take. Results: bench/results/cpu-budget.{json,md}.

    .venv/bin/python -m bench.cpu_budget [--seconds 8] [--concurrency 32] [--target 2]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from bench import common, compare
from devstack import stack

_HZ = os.sysconf("SC_CLK_TCK")


def hello_app(environ: dict, start_response: Callable) -> list[bytes]:
    """The HTTP floor: read the upload, answer a JSON of a prediction's size."""
    environ["wsgi.input"].read()
    body = json.dumps({"predicted": 7, "probabilities": [0.1] * 10, "id": 1}).encode() * 4
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def _cpu_seconds(pids: Iterable[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        total += int(fields[11]) + int(fields[12])  # utime + stime, in clock ticks
    return total / _HZ


def _processes() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, command line) of every process."""
    out = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except (FileNotFoundError, ProcessLookupError):
                continue
            out[int(entry.name)] = (ppid, cmd)
    return out


def _tree(root: int, procs: dict[int, tuple[int, str]]) -> list[int]:
    pids, todo = [], [root]
    while todo:
        pid = todo.pop()
        pids.append(pid)
        todo += [p for p, (ppid, _cmd) in procs.items() if ppid == pid]
    return pids


def measure(url: str, body: Any, ctype: str | list[str], find: Callable[[], dict[str, list[int]]],
            args: argparse.Namespace, token: str | None = None) -> dict[str, Any]:  # fmt: skip
    """One closed-loop run; the CPU of each process group per request (ms) and in cores. The
    groups are found after a warm-up run, once every pooled connection's backend exists."""
    common.run_closed_loop(url, body, ctype, connections=args.concurrency, seconds=2, token=token)  # warm
    groups = {**find(), "client (this process)": [os.getpid()]}
    before = {name: _cpu_seconds(pids) for name, pids in groups.items()}
    started = time.monotonic()
    res = common.run_closed_loop(url, body, ctype, connections=args.concurrency, seconds=args.seconds,
                                 token=token)  # fmt: skip
    elapsed = time.monotonic() - started
    cpu = {name: _cpu_seconds(pids) - before[name] for name, pids in groups.items()}
    res["cpu_ms_per_request"] = {k: round(v / res["requests"] * 1000, 3) for k, v in cpu.items()}
    res["cores"] = {k: round(v / elapsed, 2) for k, v in cpu.items()}
    return res


def _ours(master: int) -> dict[str, list[int]]:
    procs = _processes()
    return {
        "our workers": _tree(master, procs),
        "postgres": [p for p, (_pp, cmd) in procs.items() if cmd.startswith("postgres")],
        "redis": [p for p, (_pp, cmd) in procs.items() if cmd.startswith("redis-server")],
    }


def model_alone(batch: int, seconds: float = 4.0) -> float:
    """CPU ms per image: decode + preprocessing of the bench uploads, predict_proba and OOD scores."""
    import numpy as np

    from app.ml.preprocess import preprocess_image
    from app.ml.store import ModelStore

    model = ModelStore(common.registry_uri()).get("v2")
    pngs = common.sample_pngs()

    def once(at: int) -> None:
        images = np.stack([preprocess_image(pngs[(at + i) % len(pngs)]) for i in range(batch)])
        model.predict_proba(images)
        model.ood_scores(images)

    for i in range(20):
        once(i)
    start, n, deadline = time.thread_time(), 0, time.monotonic() + seconds
    while time.monotonic() < deadline:
        once(n)
        n += batch
    return round((time.thread_time() - start) / n * 1000, 3)


def run(args: argparse.Namespace) -> dict[str, Any]:
    ours_body, ctype = common.sample_uploads()
    out: dict[str, Any] = {"cpus": os.cpu_count(), "concurrency": args.concurrency}
    out["model_ms_per_image"] = {"one at a time": model_alone(1), "batches of 8": model_alone(8)}
    with tempfile.TemporaryDirectory(prefix="bench-cpu-") as tmpdir:
        tmp = Path(tmpdir)
        port = stack.free_port()
        env = stack.base_env(BIND=f"127.0.0.1:{port}", RETRAIN_EMBEDDED="0", GUNICORN_ACCESS_LOG="")
        cmd = [str(stack.VENV_BIN / "gunicorn"), "-c", str(stack.ROOT / "gunicorn.conf.py"),
               "bench.cpu_budget:hello_app"]  # fmt: skip
        with stack.running(lambda: stack.spawn("hello", cmd, env, tmp, f"http://127.0.0.1:{port}")) as srv:
            stack.wait_http(srv, "/", timeout=60)  # hello_app answers any method
            found = lambda: {"server": _tree(srv.proc.pid, _processes())}  # noqa: E731
            out["http_floor"] = measure(srv.url + "/", ours_body, ctype, found, args)
        with stack.running(lambda: compare.start_mlflow_serve(tmp / "mlflow", args.mlflow_workers)) as srv:
            found = lambda: {"mlflow workers": _tree(srv.proc.pid, _processes())}  # noqa: E731
            out["mlflow"] = measure(srv.url + "/invocations", compare.mlflow_bodies(), "application/json",
                                    found, args)  # fmt: skip
        with common.our_server("postgres", tmp / "ours", workers=0) as srv:
            out["ours"] = measure(srv["url"] + "/api/v2/predict", ours_body, ctype,
                                  lambda: _ours(srv["server"].proc.pid), args,
                                  token=srv["tokens"]["user"])  # fmt: skip
    out["budget"] = budget(out, args.target)
    return out


def budget(out: dict[str, Any], target: float) -> dict[str, float]:
    """What `target` x mlflow's throughput leaves per request for our serving workers."""
    needed = out["mlflow"]["rps"] * target
    total = (out["cpus"] or 1) * 1000.0 / needed
    spent = out["ours"]["cpu_ms_per_request"]
    others = sum(v for k, v in spent.items() if k != "our workers")
    return {
        "needed_rps": round(needed, 1),
        "cpu_ms_per_request_all_processes": round(total, 3),
        "others_ms": round(others, 3),
        "left_for_our_workers_ms": round(total - others, 3),
        "our_workers_now_ms": spent["our workers"],
        "model_alone_ms": out["model_ms_per_image"]["batches of 8"],
        "http_floor_ms_all_processes": round(sum(out["http_floor"]["cpu_ms_per_request"].values()), 3),
    }


def report(out: dict[str, Any], args: argparse.Namespace) -> str:
    rows = []
    labels = {"http_floor": "HTTP floor (hello app)", "mlflow": f"mlflow -w {args.mlflow_workers}",
              "ours": "ours, serve-prod"}  # fmt: skip
    for key, label in labels.items():
        res = out[key]
        per = res["cpu_ms_per_request"]
        split = ", ".join(f"{k} {v:.2f} ms ({res['cores'][k]:.2f} cores)" for k, v in per.items())
        rows.append([label, res["rps"], res["p50_ms"], res["p99_ms"], split])
    b = out["budget"]
    model = out["model_ms_per_image"]
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    return (
        f"# CPU per prediction at {args.concurrency} clients ({when})\n\n"
        f"{out['cpus']} CPUs, {args.seconds} s per run, one closed-loop client program (bench/common.py),"
        f" {common.SAMPLES} different digits in turn.\n\n"
        + common.markdown_table(["server", "req/s", "p50 ms", "p99 ms", "CPU per request (cores busy)"], rows)
        + f"\n\nModel alone (decode + preprocessing + predict + OOD score): {model['one at a time']} ms per "
        f"image one at a time, {model['batches of 8']} ms in batches of 8.\n\n"
        f"Budget for {args.target}x mlflow ({b['needed_rps']} req/s): "
        f"{b['cpu_ms_per_request_all_processes']} ms of CPU per request for every process together; "
        f"the client, PostgreSQL and Redis take "
        f"{b['others_ms']} ms now, which leaves {b['left_for_our_workers_ms']} ms for our workers "
        f"(now {b['our_workers_now_ms']} ms; the model alone {b['model_alone_ms']} ms, the bare HTTP floor "
        f"{b['http_floor_ms_all_processes']} ms with its client).\n"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=int, default=8)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--mlflow-workers", type=int, default=4)
    ap.add_argument("--target", type=float, default=2.0)
    ap.add_argument("--out", default="cpu-budget")
    args = ap.parse_args()
    out = run(args)
    (common.RESULTS / f"{args.out}.json").write_text(json.dumps(out, indent=1, default=str))
    text = report(out, args)
    (common.RESULTS / f"{args.out}.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
