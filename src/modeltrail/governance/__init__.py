"""Governance: which events are reserved for the operations that check their rules, and those rules on replay.

- :mod:`.namespace`: the reserved event types and the one internal path that may append them;
- :mod:`.rules`: the rules re-checked on replay, deciding whether each governance event takes effect.
"""

from __future__ import annotations

from .namespace import RESERVED, is_reserved, record_governed, refuse_reserved, reserved_command

__all__ = ["RESERVED", "is_reserved", "record_governed", "refuse_reserved", "reserved_command"]
