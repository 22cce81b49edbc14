"""Synthetic digit images like people upload them: printed digits from many
fonts and weights, strokes drawn like the web canvas draws them, and the
degradations of real uploads (rotation, shear, off-centre, thick/thin strokes,
both polarities, blur, noise, uneven lighting, JPEG artefacts, low-resolution
scans scaled up, colour).

Two generated sets are committed under ``app/ml/assets`` so that neither tests,
the promotion gate nor a retrain need any font installed:

* ``realworld_eval.npz`` — the real-world evaluation set: encoded PNG/JPEG
  bytes (judged through the full upload path), one ``kind`` per degradation.
* ``synthetic_train.npz`` — extra training images (already preprocessed to
  28x28): printed digits from *other* fonts and degraded MNIST training-split
  digits.

The two never share a font family, a stroke source or a seed: evaluation uses
``EVAL_FONTS`` + hand-made stroke templates, training uses ``TRAIN_FONTS`` +
MNIST's training split (never its holdout).

Regenerate (needs the Debian font packages listed in ``FONT_PACKAGES``)::

    python -m app.ml.synth            # both sets
    python -m app.ml.synth --eval     # only the evaluation set

Modules: ``strokes`` (drawn and printed sources), ``degrade`` (the upload
degradations), ``sets`` (the two sets and the CLI). This package module holds
the shared settings only, so the readers of the committed sets import no PIL.
"""

from __future__ import annotations

from pathlib import Path

ASSETS = Path(__file__).resolve().parent.parent / "assets"
EVAL_PATH = ASSETS / "realworld_eval.npz"
TRAIN_PATH = ASSETS / "synthetic_train.npz"
FONT_DIR = Path("/usr/share/fonts")
FONT_PACKAGES = (
    "fonts-liberation fonts-freefont-ttf fonts-dejavu-core fonts-dejavu-extra fonts-crosextra-carlito "
    "fonts-crosextra-caladea fonts-cantarell fonts-lato fonts-open-sans fonts-comic-neue fonts-humor-sans "
    "fonts-dkg-handwriting fonts-jura fonts-karla fonts-inconsolata fonts-hack fonts-jetbrains-mono "
    "fonts-ebgaramond fonts-league-spartan fonts-urw-base35 fonts-cabin fonts-comfortaa fonts-firacode "
    "fonts-mplus fonts-roboto-unhinted fonts-noto-mono fonts-femkeklaver fonts-breip"
)
EVAL_SEED = 15_000
TRAIN_SEED = 27_000

# Font families (path substrings) of each side: disjoint on purpose.
EVAL_FONTS = (
    "liberation/",
    "dejavu/DejaVuSans",
    "dejavu/DejaVuSerif",
    "crosextra/",
    "lato/",
    "comic-neue/",
    "humor-sans/",
    "fifthhorseman/",
    "jetbrains-mono/",
    "urw-base35/NimbusSans",
    "urw-base35/P052",
    "urw-base35/URWBookman",
    "league-spartan/",
    "cabin/",
)
TRAIN_FONTS = (
    "freefont/",
    "open-sans/",
    "roboto/",
    "cantarell/",
    "karla/Karla-",
    "jura/",
    "hack/",
    "firacode/",
    "inconsolata/",
    "ebgaramond/",
    "urw-base35/NimbusRoman",
    "urw-base35/NimbusMono",
    "urw-base35/C059",
    "urw-base35/URWGothic",
    "urw-base35/Z003",
    "mplus/Mplus1-",
    "mplus/Mplus2-",
    "comfortaa/",
    "femkeklaver/",
    "breip/",
    "noto/",
)
_NOT_DIGITS = ("Symbol", "D050000L", "MathTeX", "dejavu/DejaVuSansMono")

KINDS = (
    "printed",
    "drawn",
    "rotated_sheared",
    "off_centre",
    "thick_thin",
    "light_on_dark",
    "blur_noise",
    "uneven_lighting",
    "jpeg",
    "low_res",
    "colour",
)
PER_DIGIT = 15  # evaluation images per kind and digit: 150 per kind


def fonts(families: tuple[str, ...]) -> list[Path]:
    found = sorted(
        p
        for p in FONT_DIR.rglob("*")
        if p.suffix in (".ttf", ".otf")
        and any(f in p.as_posix() for f in families)
        and not any(x in p.as_posix() for x in _NOT_DIGITS)
    )
    if not found:
        raise RuntimeError(f"no fonts found for {families}; apt-get install {FONT_PACKAGES}")
    return found


