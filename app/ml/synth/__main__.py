"""``python -m app.ml.synth``: regenerate the committed synthetic sets."""

from app.ml.synth.sets import main

main()
