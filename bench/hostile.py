"""Issue 13 decode bombs, before and after the decode budget (docs/reliability.md).

"before" decodes with Pillow the way app/ml/preprocess.py did (draft for JPEG, load, guard at
25 M pixels); "after" calls preprocess_image. Each case runs in a fresh process so that its
peak resident memory (ru_maxrss) is its own. Run: .venv/bin/python -m bench.hostile
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CASE = r"""
import io, json, resource, sys, time
from devstack.images import progressive_jpeg_bomb, webp_bomb, png_of_side
kind, mode = sys.argv[1], sys.argv[2]
data = {"jpeg": lambda: progressive_jpeg_bomb(5000, 2000), "webp": lambda: webp_bomb(5000),
        "png4500": lambda: png_of_side(4500)}[kind]()
from PIL import Image
from app.ml.preprocess import preprocess_image
from app.ml.errors import ImageError
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.process_time(); w0 = time.perf_counter()
if mode == "before":
    Image.MAX_IMAGE_PIXELS = 25_000_000
    im = Image.open(io.BytesIO(data))
    if im.format == "JPEG":
        im.draft("L", (256, 256))
    im.load()
    outcome = f"decoded {im.size}"
else:
    try:
        preprocess_image(data, max_pixels=4096 * 4096)
        outcome = "decoded"
    except ImageError as exc:
        outcome = f"{exc.http_status} {exc.code}"
cpu, wall = time.process_time() - t0, time.perf_counter() - w0
extra = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024
print(json.dumps({"kind": kind, "mode": mode, "bytes": len(data), "cpu_s": round(cpu, 3),
                  "wall_s": round(wall, 3), "extra_rss_mb": round(extra, 1), "outcome": outcome}))
"""


def main() -> None:
    rows = []
    for kind in ("jpeg", "webp", "png4500"):
        for mode in ("before", "after"):
            cmd = [sys.executable, "-c", CASE, kind, mode]
            # Run from the project root: `python -c` puts the working directory on sys.path.
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=ROOT)
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(rows[-1], flush=True)
    (ROOT / "bench" / "results" / "hostile.json").write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
