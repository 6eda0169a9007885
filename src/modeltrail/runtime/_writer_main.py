"""``python -m modeltrail.runtime._writer_main FD TRAIL_FOLDER``: the ledger writer child process.

A module of its own, so that running it does not re-execute :mod:`.writer_process`, which the package
has already imported (see :class:`.writer_process.WriterProcess`).
"""

from __future__ import annotations

import sys

from .writer_process import main

if __name__ == "__main__":
    sys.exit(main())
