"""The process-wide tuning behind modeltrail's fast paths, in one place, and opt-in.

Two settings of the interpreter matter to the serving and ledger hot paths. Both are process-wide, so
nothing here changes them unless a caller asks: the ledger's batch appends pause the garbage collector
for their own duration (:func:`gc_paused`), and the switch interval is lowered only while someone holds
:func:`fast_switching` (``DecisionLogger(boost_writer=True)``, ``modeltrail serve``, the benchmarks).

Pausing the garbage collector
-----------------------------
:func:`gc_paused` pauses the cyclic garbage collector around batch work that allocates many
short-lived tuples. A batch append builds a few tuples per event (rows, receipts, prepared events).
None of them can form a reference cycle, yet each allocation counts towards CPython's collection thresholds, and in a
process that holds millions of objects (a serving app with a loaded model and data frames) the
collections these allocations trigger cost more than the append itself: measured 1.7 µs per event
of a 12 µs append (``bench/ledger.py`` at 1,000,000 events). Reference counting still frees everything
immediately; only the cycle detector waits until the batch is done.

The pause nests across threads: the first thread in turns the collector off (only if it was on),
the last thread out turns it back on.

Lowering the switch interval
----------------------------
See :class:`_FastSwitching`.
"""

from __future__ import annotations

import gc
import sys
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


# While fast switching is asked for, the interpreter's GIL switch interval is at most this.
WRITE_SWITCH_INTERVAL = 0.00002


class _FastSwitching:
    """Lower ``sys.setswitchinterval`` while any caller asks for it (nested), then restore it.

    The writer thread gives up the GIL at every lock wait, fsync and SQLite step, and each time it
    wants it back a busy request thread keeps it for a whole switch interval (5 ms by default). Over
    the dozen hand-overs of one batch that convoy stretched durability from 25 ms to 0.6-3 s
    (``bench/runtime.py``). With 20 µs the writer keeps up (durable p99 about 30-40 ms) and requests see
    little extra jitter (added latency p99 about 70 µs); measured request throughput did not change.
    The interval is only lowered, never raised, and it is restored when the last caller lets go unless
    someone else changed it meanwhile. Nothing lowers it by default: it is the host process's setting.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._depth = 0
        self._saved: float | None = None
        self._ours: float | None = None

    def __enter__(self) -> None:
        with self._lock:
            if self._depth == 0:
                current = sys.getswitchinterval()
                if current > WRITE_SWITCH_INTERVAL:
                    sys.setswitchinterval(WRITE_SWITCH_INTERVAL)
                    # Read back: the interpreter stores whole microseconds, so the value may differ.
                    self._saved, self._ours = current, sys.getswitchinterval()
            self._depth += 1

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._depth -= 1
            if self._depth == 0 and self._saved is not None:
                if sys.getswitchinterval() == self._ours:
                    sys.setswitchinterval(self._saved)
                self._saved = self._ours = None


_switching = _FastSwitching()


def begin_fast_switching() -> None:
    """Lower the GIL switch interval to at most 20 µs until the matching :func:`end_fast_switching`."""
    _switching.__enter__()


def end_fast_switching() -> None:
    """End one :func:`begin_fast_switching` (the last one restores the interval)."""
    _switching.__exit__()


@contextmanager
def fast_switching() -> Iterator[None]:
    """Run the block with the GIL switch interval at most 20 µs (restored after the last block ends)."""
    begin_fast_switching()
    try:
        yield
    finally:
        end_fast_switching()


__all__ = ["WRITE_SWITCH_INTERVAL", "begin_fast_switching", "end_fast_switching", "fast_switching", "gc_paused"]
