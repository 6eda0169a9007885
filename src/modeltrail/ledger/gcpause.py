"""Kept for imports of ``modeltrail.ledger.gcpause``: the pause now lives in :mod:`modeltrail._speed`."""

from .._speed import gc_paused

__all__ = ["gc_paused"]
