"""Kept for imports of ``modeltrail.ledger.gcpause``: the pause lives in :mod:`modeltrail.speed`."""

from ..speed import gc_paused

__all__ = ["gc_paused"]
