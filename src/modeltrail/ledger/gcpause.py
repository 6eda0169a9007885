"""Pause the cyclic garbage collector around batch work that allocates many short-lived tuples.

A batch append builds a few tuples per event (rows, receipts, prepared events). None of them can form
a reference cycle, yet each allocation counts towards CPython's collection thresholds, and in a
process that holds millions of objects (a serving app with a loaded model and data frames) the
collections these allocations trigger cost more than the append itself: measured 1.7 µs per event
of a 12 µs append (``bench/ledger.py`` at 1,000,000 events). Reference counting still frees everything
immediately; only the cycle detector waits until the batch is done.

The pause nests across threads: the first thread in turns the collector off (only if it was on),
the last thread out turns it back on.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_depth = 0
_we_disabled = False


@contextmanager
def gc_paused() -> Iterator[None]:
    """Run the block with the cyclic garbage collector off (if it was on when the first block began)."""
    global _depth, _we_disabled
    with _lock:
        if _depth == 0 and gc.isenabled():
            gc.disable()
            _we_disabled = True
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _we_disabled:
                _we_disabled = False
                gc.enable()
