"""``python -m explorer``: the same entry point as the ``attention-explorer`` command."""

import sys

from .cli import main

sys.exit(main())
