"""Identifiers: UUID version 7 (RFC 9562 §5.7), as 32 lower-case hex characters.

Python 3.11's :mod:`uuid` has no ``uuid7`` (it arrived in 3.14), so this module builds one: a 48-bit Unix
timestamp in milliseconds, the version and variant bits, and 74 random bits. Ids sort by creation time,
which keeps runs and decisions in the order they were made when listed by id. Within one process, ids made
in the same millisecond still increase: the 12-bit ``rand_a`` field then counts up (RFC 9562 §6.2,
method 1), so two calls never return the same or a smaller id.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
import uuid

_HEX32 = re.compile(r"[0-9a-f]{32}")
_lock = threading.Lock()
_last_ms = -1
_counter = 0


def uuid7() -> uuid.UUID:
    """A new, time-ordered UUIDv7."""
    global _last_ms, _counter
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms <= _last_ms:
            # Same (or a clock step back): keep the last timestamp and bump the counter.
            ms = _last_ms
            _counter += 1
            if _counter > 0xFFF:
                # 4096 ids in one millisecond: borrow the next millisecond rather than repeat.
                ms += 1
                _counter = secrets.randbits(8)
        else:
            # A fresh millisecond starts the counter at a small random value (room left to count up).
            _counter = secrets.randbits(8)
        _last_ms = ms
        rand_a = _counter
    rand_b = secrets.randbits(62)
    value = (ms & 0xFFFF_FFFF_FFFF) << 80 | 0x7 << 76 | rand_a << 64 | 0b10 << 62 | rand_b
    return uuid.UUID(int=value)


def new_id() -> str:
    """A new UUIDv7 as 32 lower-case hex characters (the form used in event subjects: ``run:<id>``)."""
    return uuid7().hex


def is_id(text: str) -> bool:
    """Whether ``text`` has the form of an id made by :func:`new_id` (32 lower-case hex characters)."""
    return isinstance(text, str) and _HEX32.fullmatch(text) is not None


def id_time_ms(text: str) -> int:
    """The Unix time in milliseconds embedded in a UUIDv7 hex id."""
    return int(text[:12], 16)


__all__ = ["id_time_ms", "is_id", "new_id", "uuid7"]
