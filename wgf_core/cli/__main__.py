"""``python -m wgf_core.cli``: the ``wgf`` command."""

import sys

from . import main

if __name__ == "__main__":
    sys.exit(main())
