"""``python -m modeltrail.runtime._writer FD TRAIL_FOLDER``: the ledger writer child process.

A module of its own, so that running it does not re-execute :mod:`.process`, which the package
has already imported (see :class:`.process.WriterProcess`).
"""

from __future__ import annotations

import sys

from .process import main

if __name__ == "__main__":
    sys.exit(main())
