"""Identifiers: UUID version 7 (RFC 9562 §5.7), as 32 lower-case hex characters.

Python 3.11's :mod:`uuid` has no ``uuid7`` (it arrived in 3.14), so this module builds one: a 48-bit Unix
timestamp in milliseconds, the version and variant bits, and 74 random bits. Ids sort by creation time,
which keeps runs and decisions in the order they were made when listed by id. Within one process, ids made
in the same millisecond still increase: the 12-bit ``rand_a`` field then counts up (RFC 9562 §6.2,
method 1), so two calls never return the same or a smaller id.
"""

from __future__ import annotations

import os
import re
import secrets
import threading
import time
import uuid

_HEX32 = re.compile(r"[0-9a-f]{32}")
_lock = threading.Lock()
_last_ms = -1
_counter = 0


def _stamps(n: int) -> tuple[int, list[int]]:
    """Reserve ``n`` consecutive (millisecond, counter) slots; returns the start ms and the counters.

    Counters that overflow 12 bits roll into the next millisecond, so the slots are
    ``(ms + c // 4096, c % 4096)`` for the returned values ``c``.
    """
    global _last_ms, _counter
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms <= _last_ms:
            # Same (or a clock step back): keep the last timestamp and count on from the counter.
            ms = _last_ms
            first = _counter + 1
        else:
            # A fresh millisecond starts the counter at a small random value (room left to count up).
            first = secrets.randbits(8)
        counters = list(range(first, first + n))
        last = counters[-1]
        if last > 0xFFF:
            # More than 4096 ids in one millisecond: borrow the following milliseconds rather than repeat.
            _last_ms, _counter = ms + (last >> 12), last & 0xFFF
        else:
            _last_ms, _counter = ms, last
    return ms, counters


def _compose(ms: int, counter: int, rand_b: int) -> int:
    ms += counter >> 12
    return (ms & 0xFFFF_FFFF_FFFF) << 80 | 0x7 << 76 | (counter & 0xFFF) << 64 | 0b10 << 62 | rand_b


def uuid7() -> uuid.UUID:
    """A new, time-ordered UUIDv7."""
    ms, (counter,) = _stamps(1)
    return uuid.UUID(int=_compose(ms, counter, secrets.randbits(62)))


def new_id() -> str:
    """A new UUIDv7 as 32 lower-case hex characters (the form used in event subjects: ``run:<id>``)."""
    ms, (counter,) = _stamps(1)
    return f"{_compose(ms, counter, secrets.randbits(62)):032x}"


def new_ids(n: int) -> list[str]:
    """``n`` new UUIDv7 hex ids in increasing order: one clock read and one random draw for the lot."""
    if n <= 0:
        return []
    ms, counters = _stamps(n)
    rand = os.urandom(8 * n)
    if n >= _VECTOR_MIN:
        return _compose_many(ms, counters[0], n, rand)
    mask = (1 << 62) - 1
    from_bytes = int.from_bytes
    values = [_compose(ms, c, from_bytes(rand[8 * i : 8 * i + 8], "big") & mask) for i, c in enumerate(counters)]
    return [f"{v:032x}" for v in values]


_VECTOR_MIN = 64  # below this, NumPy's per-call overhead outweighs the per-id work it saves


def _compose_many(ms: int, first: int, n: int, rand: bytes) -> list[str]:
    """What :func:`_compose` gives for counters ``first .. first+n-1``, with array arithmetic.

    The per-id integer arithmetic and formatting were a fifth of a batch decision's cost on the
    calling thread; here they are a few array operations and one hex conversion for the batch.
    """
    import numpy as np

    counter = np.arange(first, first + n, dtype=np.uint64)
    millis = (np.uint64(ms) + (counter >> np.uint64(12))) & np.uint64(0xFFFF_FFFF_FFFF)
    ids = np.empty((n, 2), dtype=">u8")
    ids[:, 0] = (millis << np.uint64(16)) | np.uint64(0x7 << 12) | (counter & np.uint64(0xFFF))
    rand_b = np.frombuffer(rand, dtype=">u8").astype(np.uint64) & np.uint64((1 << 62) - 1)
    ids[:, 1] = rand_b | np.uint64(0b10 << 62)
    text = ids.tobytes().hex()
    return [text[i : i + 32] for i in range(0, 32 * n, 32)]


def is_id(text: str) -> bool:
    """Whether ``text`` has the form of an id made by :func:`new_id` (32 lower-case hex characters)."""
    return isinstance(text, str) and _HEX32.fullmatch(text) is not None


def id_time_ms(text: str) -> int:
    """The Unix time in milliseconds embedded in a UUIDv7 hex id."""
    return int(text[:12], 16)


__all__ = ["id_time_ms", "is_id", "new_id", "new_ids", "uuid7"]
