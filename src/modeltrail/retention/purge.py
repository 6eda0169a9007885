"""Verifiable purge: expired events lose their payload, keep their leaf hashes, and the tree still verifies.

``apply`` turns a :class:`~.rules.RetentionPlan` into purges, one per (system, rule):

1. the leaves that go are read and, optionally, archived as JSON lines (one ``{"seq", "ts", "type",
   "system", "leaf_hash", "leaf"}`` object per line, leaf in base64) written and fsynced before anything
   is removed; the SHA-256 of those lines is "the hash of what went" whether or not an archive is kept;
2. a ``retention.purged`` event records the system, rule, period, count, seq ranges, first and last
   timestamps, that hash and the archive (file name and hash). It is written before the purge, so no
   purge is ever unrecorded; should the purge then fail, the rows are intact and the next run repeats it;
3. the store empties the leaves in one transaction (:meth:`LedgerStore.purge`) and gives the space back
   (:meth:`LedgerStore.reclaim`: SQLite incremental vacuum, PostgreSQL ``VACUUM``).

Every checkpoint, inclusion proof and consistency proof stays valid: they are built from leaf hashes,
which a purge keeps. ``modeltrail verify`` reports the purged leaves as purged, and reports a leaf emptied
without a recording event as damage (:func:`modeltrail.governance.trailchecks.check_purges`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import HoldError, ValidationError
from ..events import Actor
from ..governance.namespace import record_governed
from ..identity import Identity
from .access import authorise
from .rules import RetentionPlan, RuleBatch, plan
from .subjects import seq_ranges

if TYPE_CHECKING:
    from ..trail import Trail

#: seq ranges per ``retention.purged`` event: keeps each event far below the payload limit.
RANGES_PER_EVENT = 2_000


@dataclass
class PurgeResult:
    """What one ``retention apply`` did."""

    plan: RetentionPlan
    events: list[int] = field(default_factory=list)
    """Seqs of the ``retention.purged`` events written."""
    purged: int = 0
    bytes_removed: int = 0
    """Leaf bytes that were emptied (the payloads)."""
    bytes_reclaimed: int = 0
    """How much the database files (SQLite) or the events table (PostgreSQL) shrank."""
    archives: list[str] = field(default_factory=list)
    held: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON form (``retention apply --json``)."""
        return {
            "purged": self.purged,
            "held": self.held,
            "events": self.events,
            "bytes_removed": self.bytes_removed,
            "bytes_reclaimed": self.bytes_reclaimed,
            "archives": self.archives,
            "plan": self.plan.to_dict(),
        }


def _archive_lines(trail: Trail, seqs: list[int]) -> tuple[list[bytes], int]:
    """The JSON lines of the leaves that go, and their total leaf bytes."""
    lines: list[bytes] = []
    total = 0
    wanted = set(seqs)
    lo, hi = min(seqs), max(seqs) + 1
    for row in trail.store.iter_events(lo, hi):
        if row.seq not in wanted or not row.leaf:
            continue
        total += len(row.leaf)
        obj = {
            "seq": row.seq,
            "ts": row.ts,
            "type": row.type,
            "system": row.system,
            "leaf_hash": row.leaf_hash.hex(),
            "leaf": base64.b64encode(row.leaf).decode("ascii"),
        }
        lines.append(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode() + b"\n")
    return lines, total


def _write_archive(folder: Path, name: str, lines: list[bytes]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # archived payloads are personal data
    with os.fdopen(fd, "wb") as fh:
        fh.writelines(lines)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return path


def _purge_batch(
    trail: Trail, batch: RuleBatch, who: Actor, archive: Path | None, stamp: str, result: PurgeResult
) -> None:
    lines, leaf_bytes = _archive_lines(trail, batch.seqs)
    digest = hashlib.sha256(b"".join(lines)).hexdigest()
    archived: dict[str, str] | None = None
    if archive is not None:
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in f"{batch.system}-{batch.pattern}")
        path = _write_archive(archive, f"retention-{stamp}-{safe}.jsonl", lines)
        archived = {"file": path.name, "sha256": digest}
        result.archives.append(str(path))
    ranges = seq_ranges(batch.seqs)
    for i in range(0, len(ranges), RANGES_PER_EVENT):
        part = ranges[i : i + RANGES_PER_EVENT]
        r = record_governed(
            trail,
            "retention.purged",
            system=batch.system,
            actor=who,
            payload={
                "rule": batch.pattern,
                "period": batch.period,
                "count": sum(b - a + 1 for a, b in part),
                "purged_ranges": part,
                "first_ts": batch.first_ts,
                "last_ts": batch.last_ts,
                "sha256": digest,
                "leaf_bytes": leaf_bytes,
                "archive": archived,
                "held": len(batch.held),
                "holds": batch.holds,
            },
        )
        result.events.append(r.seq)
    result.purged += trail.store.purge(batch.seqs)
    result.bytes_removed += leaf_bytes


def apply(
    trail: Trail,
    *,
    actor: Actor | Identity,
    now: datetime | None = None,
    system: str | None = None,
    archive: str | os.PathLike[str] | None = None,
    reclaim: bool = True,
) -> PurgeResult:
    """Purge every expired event (see the module docstring); ``roles.retention`` may.

    Events under a legal hold are left alone; when a hold kept anything, a ``retention.refused`` event
    names the holds and counts, and :class:`HoldError` is raised after the rest was purged (so the
    caller sees the hold: exit code 1 on the command line).
    """
    who = authorise(
        trail,
        actor,
        action="retention",
        what="purge expired events",
        refused_type="retention.refused",
        payload={"action": "purge", "system": system},
    )
    p = plan(trail, now=now, system=system)
    result = PurgeResult(plan=p, held=p.held)
    stamp = p.now.replace(":", "").replace("-", "").split(".")[0]
    folder = None if archive is None else Path(archive)
    if folder is not None and folder.exists() and not folder.is_dir():
        raise ValidationError(f"{folder} is not a folder", field="archive")
    for batch in p.batches:
        if batch.seqs:
            _purge_batch(trail, batch, who, folder, stamp, result)
    if reclaim and result.purged:
        result.bytes_reclaimed = trail.store.reclaim(result.bytes_removed)
    if p.held:
        holds = sorted({h for b in p.batches for h in b.holds})
        record_governed(
            trail,
            "retention.refused",
            system=system or "modeltrail",
            actor=who,
            payload={"action": "purge", "held": p.held, "holds": holds, "reason": "legal hold"},
        )
        raise HoldError(
            f"{p.held} expired events were kept because of legal holds {', '.join(holds)} "
            f"({result.purged} others purged); release the holds with `modeltrail hold remove` first"
        )
    return result


def watch(
    trail: Trail,
    *,
    actor: Actor | Identity,
    interval: float,
    runs: int | None = None,
    archive: str | os.PathLike[str] | None = None,
    on_result: Callable[[PurgeResult | HoldError], None] | None = None,
    sleep: Callable[[float], None] | None = None,
    clock: Callable[[], datetime] | None = None,
) -> int:
    """Run :func:`apply` every ``interval`` seconds (``runs`` times, or until interrupted); runs done.

    A legal hold does not stop the schedule: the run that met it reports the :class:`HoldError` to
    ``on_result`` (its ``retention.refused`` event is written) and the next run tries again.
    ``sleep`` and ``clock`` (the "now" the rules are evaluated at) are for tests.
    """
    import time

    if interval <= 0:
        raise ValidationError("expected a positive number of seconds", field="interval")
    pause = sleep or time.sleep
    done = 0
    while runs is None or done < runs:
        if done:
            pause(interval)
        try:
            res: PurgeResult | HoldError = apply(
                trail, actor=actor, archive=archive, now=None if clock is None else clock()
            )
        except HoldError as exc:
            res = exc
        done += 1
        if on_result is not None:
            on_result(res)
    return done


__all__ = ["RANGES_PER_EVENT", "PurgeResult", "apply", "watch"]
