"""Regenerate the sample images used by the README's examples and `make smoke`.

Three digits of the bundled MNIST subset's holdout split (indexes chosen once for being clear:
both v1 and v2 answer them right with over 97 % confidence), drawn as a user would send them:
dark ink on white, 140x140 RGB PNG. Run from the project root: `python -m samples.make_samples`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from app.ml.data import raw_split

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = {"digit-7.png": 12, "digit-2.png": 31, "digit-4.png": 179}  # file -> holdout index


def main() -> None:
    holdout = raw_split()
    for name, index in SAMPLES.items():
        ink = (np.clip(holdout.X_holdout[index].reshape(28, 28), 0, 1) * 255).astype(np.uint8)
        img = Image.fromarray(255 - ink, mode="L").resize((140, 140), Image.Resampling.BILINEAR)
        img = img.convert("RGB")
        img.save(ROOT / "samples" / name, format="PNG", optimize=True)
        print(f"samples/{name}: holdout #{index}, label {int(holdout.y_holdout[index])}")


if __name__ == "__main__":
    main()
