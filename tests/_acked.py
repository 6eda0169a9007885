"""Shared by the kill -9 tests: read what a killed writer acknowledged, and check the ledger holds it."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import modeltrail


def acknowledged(lines: Iterable[bytes]) -> dict[int, str]:
    """``seq decision_id`` lines printed after ``durable()`` returned; a line cut by the kill does not count."""
    acked: dict[int, str] = {}
    for line in lines:
        parts = line.decode().split()
        if len(parts) == 2 and line.endswith(b"\n") and parts[0].isdigit():
            acked[int(parts[0])] = parts[1]
    return acked


def assert_all_recorded(trail_path: Path, acked: dict[int, str]) -> None:
    """Every acknowledged decision is in the ledger at its seq, and the ledger still verifies."""
    assert len(acked) > 5
    with modeltrail.open(trail_path) as t:
        for seq, did in acked.items():
            assert t.get_event(seq).payload["decision_id"] == did, f"acknowledged decision at {seq} lost"
        t.checkpoint()
        assert t.verify().ok
