"""``python -m sentry_image.cli``: the same CLI, for ``torchrun -m sentry_image.cli train CONFIG``."""

from . import main

main()
