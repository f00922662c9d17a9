"""``python -m circuitgrad``: the same as the ``circuitgrad`` command."""

import sys

from .cli import main

sys.exit(main())
