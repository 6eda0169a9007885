"""Export an audit bundle: the evidence about one AI system that an auditor verifies alone, offline.

The bundle (a zip file, specified in ``docs/audit-bundle.md`` and checked by
:mod:`modeltrail.audit.bundle_verify`) holds the events in scope with their exact leaf bytes and
inclusion proofs, the signed checkpoints up to a fresh head with the consistency proofs between them,
the verifier keys and their rotation chain, the reports and documents the events cite, and a README.
Events of the period that are out of scope appear only as leaf hashes, so the auditor can still check
that nothing in the period was hidden. Sealed values stay out unless an actor with a reveal role
exports them, each reveal recorded like any other.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import IntegrityError, NotFoundError, ValidationError
from ..events import Actor, Event, format_ts, parse_ts
from ..ledger import encoding, merkle
from ..ledger.note import sign_note
from ..trail import Trail
from .bundle_verify import FORMAT, MANIFEST, MANIFEST_SIG, canonical_zip, manifest_note_text
from .reconstruct import decision_subject, proof_dict, reconstruct
from .tabletop import first_seq_after

if TYPE_CHECKING:
    from ..identity import Identity

#: Event types whose cited blobs (reports, rendered documents) travel in the bundle.
DOCUMENT_TYPES = ("report.generated", "doc.generated")


@dataclass(frozen=True)
class BundleInfo:
    """What was exported: where, the head it is proven against, and how much it holds."""

    path: Path
    head_size: int
    head_root: str
    events: int
    omitted: int
    checkpoints: int
    blobs: int
    sealed: int

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in self.__dict__.items()}


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode("ascii")


def _first_seq_at_or_after(trail: Trail, ts: str) -> int:
    lo, hi = 0, trail.size()
    while lo < hi:
        mid = (lo + hi) // 2
        if trail.get_event(mid).ts < ts:
            lo = mid + 1
        else:
            hi = mid
    return lo


def _ts(value: str | datetime | None, name: str) -> str | None:
    if value is None:
        return None
    dt = value if isinstance(value, datetime) else parse_ts(value, name)
    return format_ts(dt if dt.tzinfo else dt.replace(tzinfo=UTC))


def _jsonl(rows: Iterable[Mapping[str, Any]]) -> bytes:
    return b"".join(json.dumps(r, separators=(",", ":"), sort_keys=True).encode() + b"\n" for r in rows)


def _range_nodes(trail: Trail, lo: int, hi: int, size: int) -> list[list[Any]]:
    """The subtree hashes around ``[lo, hi)`` in the order :func:`bundle_verify.range_root` consumes them."""
    out: list[list[Any]] = []

    def walk(start: int, end: int) -> None:
        if end <= lo or start >= hi:
            out.append([start, end, _b64(merkle.subtree_root(start, end, trail.log.perfect))])
            return
        if end - start == 1:
            return
        k = merkle.largest_power_of_two_below(end - start)
        walk(start, start + k)
        walk(start + k, end)

    walk(0, size)
    return out


def export_bundle(
    trail: Trail,
    out: str | os.PathLike[str],
    *,
    system: str,
    since: str | datetime | None = None,
    until: str | datetime | None = None,
    decisions: Sequence[str] | None = None,
    include_sealed: bool = False,
    purpose: str | None = None,
    actor: Actor | Mapping[str, str] | Identity | None = None,
) -> BundleInfo:
    """Write the audit bundle of ``system`` to ``out`` (a ``.zip`` path) and return what it holds.

    Scope: the decisions given (each with the events its reconstruction cites), or else every event of
    ``system`` recorded in ``[since, until]`` (the whole ledger by default), plus the story of each model
    version the period's decisions used. ``include_sealed`` unseals the sealed inputs of the decisions in
    scope for ``actor`` (reveal role; ``purpose`` required; every reveal recorded). The file is written
    to a temporary name and renamed, so a failed export leaves nothing behind.
    """
    path = Path(out)
    if path.suffix != ".zip":
        raise ValidationError("the bundle file name must end in .zip", field="output")
    if include_sealed and (actor is None or not purpose):
        raise ValidationError("exporting sealed values needs the acting identity and a purpose", field="purpose")
    if decisions is not None and (since is not None or until is not None):
        raise ValidationError("give either decisions or a period, not both", field="decisions")
    since_ts, until_ts = _ts(since, "since"), _ts(until, "until")
    seqs: set[int] = {0}
    decision_seqs: list[int] = []
    lo = hi = None
    if decisions is not None:
        if not decisions:
            raise ValidationError("expected at least one decision id", field="decisions")
        for did in decisions:
            rec = reconstruct(trail, did)
            if rec.decision.system != system:
                raise ValidationError(f"decision {did} belongs to system {rec.decision.system!r}", field="decisions")
            seqs |= {e.seq for e in rec.events()}
            decision_seqs.append(rec.decision.seq)
    else:
        size = trail.size()
        lo = 0 if since_ts is None else _first_seq_at_or_after(trail, since_ts)
        hi = size if until_ts is None else first_seq_after(trail, until_ts)
        if lo >= hi:
            raise NotFoundError(f"no events between {since_ts or 'the start'} and {until_ts or 'now'}")
        stories: set[tuple[str, str]] = set()
        for row in trail.rows(lo, hi):
            if not row.leaf:
                continue  # purged: nothing left to put in a bundle (its leaf hash is in every proof)
            ev = Event.from_leaf(row.leaf, row.leaf_hash)
            if ev.system != system:
                continue
            seqs.add(ev.seq)
            if ev.type == "inference.decision":
                decision_seqs.append(ev.seq)
                key = (str(ev.payload.get("model")), str(ev.payload.get("env")))
                if key not in stories:
                    stories.add(key)
                    seqs |= {e.seq for e in reconstruct(trail, str(ev.subject), take_checkpoint=False).events()}
        if not decision_seqs and not any(trail.get_event(s).system == system for s in seqs if s):
            raise NotFoundError(f"no events of system {system!r} in the period")
    sealed_files: dict[str, bytes] = {}
    if include_sealed:
        from ..runtime.oversight import reveal

        for s in decision_seqs:
            ev = trail.get_event(s)
            if ev.sealed:
                assert actor is not None and purpose is not None
                values = reveal(trail, str(ev.subject), purpose=purpose, actor=actor)
                rev = next(trail.events("oversight.revealed", subject=ev.subject, descending=True, limit=1))
                seqs.add(rev.seq)
                body = {"decision_id": ev.payload.get("decision_id"), "reveal_event": rev.seq, "values": values}
                sealed_files[f"sealed/{s}.json"] = json.dumps(body, sort_keys=True, indent=1).encode()
    seqs |= {e.seq for e in trail.events("key.rotated")}
    head = trail.checkpoint()  # a fresh head covers every event, the reveals just recorded included
    scope = {"since": since_ts, "until": until_ts, "decisions": list(decisions) if decisions else None}
    return _write(
        trail, path, system, (head.size, _b64(head.root), head.note), sorted(seqs), lo, hi, sealed_files, scope, actor
    )


def _write(
    trail: Trail,
    path: Path,
    system: str,
    head: tuple[int, str, str],
    seqs: list[int],
    lo: int | None,
    hi: int | None,
    sealed_files: dict[str, bytes],
    scope: dict[str, Any],
    actor: Any,
) -> BundleInfo:
    head_size, head_root, head_note = head
    files: dict[str, bytes] = {}
    events: list[dict[str, Any]] = []
    inclusion: list[dict[str, Any]] = []
    blobs: set[str] = set()
    for s in seqs:
        ev = trail.get_event(s)
        events.append({"seq": s, "leaf": _b64(ev.leaf)})
        # The log's own proof (hashes only): the trail's JSON form also looks up a note per call, which a
        # bundle of many events need not pay for; the head note is in checkpoints.jsonl once.
        hashes = trail.log.inclusion_proof(s, head_size)
        inclusion.append({"seq": s, "tree_size": head_size, "proof": [_b64(h) for h in hashes]})
        if ev.type in DOCUMENT_TYPES:
            blobs |= {r.removeprefix("blob:sha256:") for r in ev.refs if r.startswith("blob:sha256:")}
            blobs |= {str(v) for k, v in ev.payload.items() if k.endswith("sha256") and isinstance(v, str)}
    files["events.jsonl"] = _jsonl(events)
    files["inclusion.jsonl"] = _jsonl(inclusion)
    # Checkpoints up to the head, one per size; two different roots for one size would be a fork.
    by_size: dict[int, str] = {}
    roots: dict[int, bytes] = {}
    for cp in trail.checkpoints():
        if cp.size > head_size or cp.size == 0:
            continue
        if cp.size in roots and roots[cp.size] != cp.root:
            raise IntegrityError(f"two checkpoints of size {cp.size} with different roots: the log forked")
        by_size.setdefault(cp.size, cp.note)
        roots[cp.size] = cp.root
    by_size[head_size] = head_note
    sizes = sorted(by_size)
    files["checkpoints.jsonl"] = _jsonl({"size": s, "note": by_size[s]} for s in sizes)
    consistency = []
    for a, b in itertools.pairwise(sizes):
        p = proof_dict(trail.consistency_proof(a, b))
        consistency.append({"old_size": a, "new_size": b, "proof": p["proof"]})
    files["consistency.jsonl"] = _jsonl(consistency)
    first_key = str(trail.get_event(0).payload["verifier_key"])
    chain = [first_key]
    for s in seqs:
        ev = trail.get_event(s)
        if ev.type == "key.rotated" and ev.payload.get("new_verifier_key") not in chain:
            chain.append(str(ev.payload["new_verifier_key"]))
    witness = getattr(trail, "witness_keys", None)
    witness_keys = list(witness()) if callable(witness) else []
    files["keys.json"] = json.dumps(
        {"origin": trail.origin, "verifier_keys": chain, "witness_keys": witness_keys}, indent=1
    ).encode()
    omitted_n = 0
    if lo is not None and hi is not None:
        included = set(seqs)
        omitted = [
            [s, _b64(h)]
            for s, h in zip(range(lo, hi), trail.store.leaf_hashes(lo, hi), strict=True)
            if s not in included
        ]
        omitted_n = len(omitted)
        files["range.json"] = json.dumps(
            {"start": lo, "end": hi, "omitted": omitted, "nodes": _range_nodes(trail, lo, hi, head_size)},
            separators=(",", ":"),
        ).encode()
    for digest in sorted(blobs):
        if trail.blobs.exists(digest):
            files[f"blobs/{digest}"] = trail.blobs.get_bytes(digest)
    files.update(sealed_files)
    files["README.md"] = _readme(
        trail.origin, system, head_size, head_root, first_key, len(events), omitted_n, scope, bool(sealed_files)
    ).encode()
    who = None
    if actor is not None:
        a = actor.acting_as() if hasattr(actor, "acting_as") else actor
        who = a.to_dict() if hasattr(a, "to_dict") else dict(a)
    manifest = {
        "format": FORMAT,
        "origin": trail.origin,
        "system": system,
        "created": format_ts(datetime.now(UTC)),
        "scope": scope,
        "head": {"size": head_size, "root": head_root},
        "sealed_included": bool(sealed_files),
        "exported_by": who,
        "files": {n: hashlib.sha256(b).hexdigest() for n, b in sorted(files.items())},
    }
    man = encoding.canonical_bytes(manifest)
    sig = sign_note(manifest_note_text(trail.origin, man), trail.signer()).encode()
    raw = canonical_zip([(MANIFEST, man), (MANIFEST_SIG, sig), *sorted(files.items())])
    tmp = path.with_name(path.name + ".part")
    tmp.write_bytes(raw)
    os.replace(tmp, path)
    return BundleInfo(path, head_size, head_root, len(events), omitted_n, len(sizes), len(blobs), len(sealed_files))


def _readme(
    origin: str,
    system: str,
    size: int,
    root: str,
    first_key: str,
    events: int,
    omitted: int,
    scope_d: dict[str, Any],
    sealed: bool,
) -> str:
    since, until, decisions = scope_d["since"], scope_d["until"], scope_d["decisions"]
    scope = (
        f"the decisions {', '.join(decisions)} and the events their reconstruction cites"
        if decisions
        else f"every event of system `{system}` from {since or 'the start of the ledger'} to {until or 'the export'}"
    )
    return f"""# Audit bundle: {system}

This archive is evidence exported from the modeltrail ledger `{origin}`. It can be checked without
access to that ledger and without a network connection.

- Scope: {scope}.
- {events} events are included in full (exact ledger bytes); {omitted} other events of the period are
  included only as leaf hashes (they belong to other systems or lie outside the scope).
- Signed head: tree size {size}, root `{root}` (SHA-256, base64).
- Sealed personal data: {
        "included for the decisions in scope (each reveal is itself a recorded event)"
        if sealed
        else "not included (the events carry only hashes of the encrypted values)"
    }.

## Before you trust it

The trail's first verifier key is

    {first_key}

Obtain this key from the operator through a separate channel (e.g. a signed letter or the key published
when the system was registered) and compare. Every checkpoint and the manifest are signed by this key or
by a key it rotated to (the `key.rotated` events in the bundle).

## Verify

With modeltrail installed (no trail needed):

    modeltrail verify bundle.zip --key '{first_key}'

Or independently: `docs/audit-bundle.md` in the modeltrail sources specifies every file and check
(RFC 9162 Merkle proofs, RFC 8785 canonical JSON, C2SP signed notes with Ed25519).

## Files

- `manifest.json` — canonical JSON: scope, head and the SHA-256 of every other file; signed by `manifest.sig`.
- `events.jsonl` — one `{{"seq", "leaf"}}` per event, the leaf bytes in base64.
- `inclusion.jsonl` — an RFC 9162 inclusion proof of each event in the signed head.
- `checkpoints.jsonl` — signed checkpoints up to the head; `consistency.jsonl` — proofs between them.
- `keys.json` — the verifier key chain (and witness keys, if any).
- `range.json` — for a period: the leaf hashes of the events left out and the subtree hashes around it.
- `blobs/<sha256>` — reports and documents cited by included events; `sealed/<seq>.json` — revealed values.
"""


def bundle_decision_ids(trail: Trail, ids: Iterable[str]) -> list[str]:
    """Normalise decision ids from the command line (commas or repeats), checking each exists."""
    out = []
    for chunk in ids:
        for did in chunk.split(","):
            if did.strip():
                subject = decision_subject(did)
                if next(trail.events("inference.decision", subject=subject, limit=1), None) is None:
                    raise NotFoundError(f"no decision {did.strip()} in the trail")
                out.append(subject.removeprefix("decision:"))
    return out
