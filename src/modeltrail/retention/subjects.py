"""Finding a data subject's records: every way the trail links an event to a person.

A decision names its person in one of four ways, and erasure must undo each differently:

- ``vault``: a pseudonym token (``ps2:``) whose only link to the id is a vault row; deleting the row
  unlinks the record, which may stay (monitoring and statistics keep working on unlinkable data);
- ``keyed``: a keyed pseudonym (``ps1:``, older trails) anyone with the key and the id can recompute; the
  link cannot be broken, so the record's payload has to go (a purged leaf);
- ``sealed``: values encrypted under the person's data key; shredding the key makes them unreadable and
  the key id no longer leads back (:meth:`SubjectKeyStore.erase`);
- ``clear``: the identifier is the event's ``subject`` (a generic event recorded about the person); its
  payload has to go.

Events that concern one of the person's decisions (reviews, overrides, labels, reveals: subject
``decision:<id>``) belong to the person too, as do legal holds placed on them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..crypto.pseudonym import Scalar
from ..crypto.seal import SubjectKeyStore
from ..crypto.vault import VAULT_FILE, is_vault_token
from ..errors import NotFoundError, ValidationError
from ..events import Event
from ..runtime.datapolicy import SUBJECT_KEYS_FILE, load_pseudonymiser, open_vault

if TYPE_CHECKING:
    from ..crypto.vault import PseudonymVault
    from ..trail import Trail

VAULT, KEYED, SEALED, CLEAR = "vault", "keyed", "sealed", "clear"


def seq_ranges(seqs: list[int] | set[int]) -> list[list[int]]:
    """Sorted seqs as ``[first, last]`` ranges (JSON-friendly, short for runs of consecutive events)."""
    out: list[list[int]] = []
    for s in sorted(set(seqs)):
        if out and out[-1][1] + 1 == s:
            out[-1][1] = s
        else:
            out.append([s, s])
    return out


def in_ranges(seq: int, ranges: list[list[int]]) -> bool:
    """Whether ``seq`` lies in one of ``ranges``."""
    return any(a <= seq <= b for a, b in ranges)


def value_variants(value: str) -> list[Scalar]:
    """The typed values an identifier given as text may have been logged as (``"1001"`` and ``1001``)."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationError("expected the data subject's identifier", field="subject")
    out: list[Scalar] = [value]
    text = value.strip()
    if text.lstrip("-").isdigit():
        out.append(int(text))
    return out


def open_key_store(trail: Trail) -> SubjectKeyStore:
    """The trail's per-subject key store (``keys/subjects.db``)."""
    return SubjectKeyStore(Path(trail.keys_dir) / SUBJECT_KEYS_FILE)


def subject_ref(trail: Trail, value: str) -> str:
    """The keyed reference under which holds and keys name a subject (never the identifier itself)."""
    with open_key_store(trail) as keys:
        return keys.subject_ref(value)


@dataclass
class SubjectRecords:
    """Everything the trail holds about one person, and how each event is linked to them."""

    ref: str
    decisions: list[Event] = field(default_factory=list)
    related: list[Event] = field(default_factory=list)
    direct: list[Event] = field(default_factory=list)
    holds: list[Event] = field(default_factory=list)
    key_ids: list[str] = field(default_factory=list)
    links: dict[int, set[str]] = field(default_factory=dict)
    vault_fields: set[str] = field(default_factory=set)
    """Fields whose vault row links the person to a token (deleted by erasure)."""
    keyed_fields: set[str] = field(default_factory=set)
    tokens: list[str] = field(default_factory=list)
    """Vault tokens the person's decisions carry (their vault rows are deleted by erasure)."""

    @property
    def empty(self) -> bool:
        """Nothing found (never seen, or already erased)."""
        return not (self.decisions or self.related or self.direct or self.live_keys or self.vault_fields)

    live_keys: list[str] = field(default_factory=list)
    """Key ids still linked to the person in the key store (none after erasure)."""

    def all_events(self) -> list[Event]:
        """Every event found, in seq order."""
        seen: dict[int, Event] = {}
        for ev in (*self.decisions, *self.related, *self.direct, *self.holds):
            seen[ev.seq] = ev
        return [seen[s] for s in sorted(seen)]

    def must_purge(self) -> list[int]:
        """Seqs whose link cannot be broken otherwise: keyed pseudonyms, clear identifiers, holds on them.

        A decision linked by a keyed pseudonym takes the events about it (reviews, labels) along: they name
        the decision, which names the person.
        """
        out = {ev.seq for ev in (*self.direct, *self.holds)}
        keyed_decisions = set()
        for ev in self.decisions:
            if KEYED in self.links.get(ev.seq, set()):
                out.add(ev.seq)
                keyed_decisions.add(ev.subject)
        out.update(ev.seq for ev in self.related if ev.subject in keyed_decisions)
        return sorted(out)


def _decision_events(trail: Trail) -> Iterator[Event]:
    return trail.events("inference.decision")


def find_records(trail: Trail, value: str) -> SubjectRecords:
    """Every record of the person identified by ``value`` (see the module docstring for the links)."""
    variants = value_variants(value)
    with open_key_store(trail) as keys:
        ref = keys.subject_ref(value)
        key_ids = set(keys.key_ids(value))
    out = SubjectRecords(ref=ref, key_ids=sorted(key_ids), live_keys=sorted(key_ids))
    try:
        keyed = load_pseudonymiser(trail)
    except NotFoundError:
        keyed = None
    vault: PseudonymVault | None = None
    if keyed is not None and (Path(trail.keys_dir) / VAULT_FILE).exists():
        vault = open_vault(trail)
    # Per field: the pseudonyms this person has (keyed and vault), computed the first time a field is seen.
    mine: dict[str, dict[str, str]] = {}

    def candidates(fname: str) -> dict[str, str]:
        got = mine.get(fname)
        if got is None:
            got = {}
            for v in variants:
                if keyed is not None:
                    got[keyed.pseudonym(v, fname)] = KEYED
                if vault is not None:
                    token = vault.find(v, fname)
                    if token is not None:
                        got[token] = VAULT
            mine[fname] = got
        return got

    # Tokens a matched decision carries link the person's other decisions too (one sealed under the key
    # created for "applicant:APP-1" and pseudonymised from "APP-1" is the same person): a second pass
    # follows the pseudonyms and key ids the first pass found.
    extra: dict[str, dict[str, str]] = {}

    def scan() -> bool:
        grew = False
        out.decisions.clear()
        out.links.clear()
        for ev in _decision_events(trail):
            how: set[str] = set()
            for fname, p in (ev.payload.get("pseudonyms") or {}).items():
                if not isinstance(p, str):
                    continue
                kind = candidates(fname).get(p) or extra.get(fname, {}).get(p)
                if kind is not None:
                    how.add(kind)
                    (out.vault_fields if kind == VAULT else out.keyed_fields).add(fname)
            for ref_ in (ev.sealed or {}).values():
                if isinstance(ref_, dict) and ref_.get("key_id") in key_ids:
                    how.add(SEALED)
            if not how:
                continue
            out.decisions.append(ev)
            out.links[ev.seq] = how
            for fname, p in (ev.payload.get("pseudonyms") or {}).items():
                if isinstance(p, str) and p not in candidates(fname) and p not in extra.get(fname, {}):
                    extra.setdefault(fname, {})[p] = VAULT if is_vault_token(p) else KEYED
                    grew = True
            for ref_ in (ev.sealed or {}).values():
                kid = ref_.get("key_id") if isinstance(ref_, dict) else None
                if isinstance(kid, str) and kid not in key_ids:
                    key_ids.add(kid)
                    grew = True
        return grew

    try:
        if scan():
            scan()
    finally:
        if vault is not None:
            vault.close()
    out.key_ids = sorted(key_ids)
    out.tokens = sorted(
        {p for ev in out.decisions for p in (ev.payload.get("pseudonyms") or {}).values() if is_vault_token(p)}
    )
    # Fields with a vault row but no decision yet still hold a link that erasure must delete.
    for fname, got in mine.items():
        if VAULT in got.values():
            out.vault_fields.add(fname)
    decided = {ev.seq for ev in out.decisions}
    for ev in out.decisions:
        for other in trail.events(subject=ev.subject):
            if other.seq not in decided:
                out.related.append(other)
                out.links.setdefault(other.seq, set()).add("decision")
    for v in variants:
        if isinstance(v, str):
            for ev in trail.events(subject=v):
                out.direct.append(ev)
                out.links.setdefault(ev.seq, set()).add(CLEAR)
    for ev in trail.events("hold.*"):
        if ev.payload.get("subject_ref") == ref:
            out.holds.append(ev)
    return out


def decision_summary(ev: Event) -> dict[str, Any]:
    """What an access request answers about one decision (no other person's data; no sealed values)."""
    p = ev.payload
    return {
        "seq": ev.seq,
        "ts": ev.ts,
        "system": ev.system,
        "decision_id": p.get("decision_id"),
        "model_version": p.get("model"),
        "environment": p.get("env"),
        "output": p.get("output"),
        "score": p.get("score"),
        "confidence": p.get("confidence"),
        "route": p.get("route"),
        "main_reasons": [
            {"feature": f, "contribution": c} for f, c in (p.get("explanation") or []) if isinstance(f, str)
        ],
        "review_reasons": p.get("review_reasons") or [],
        "inputs_kept": p.get("input") or {},
        "inputs_sealed": sorted((ev.sealed or {}).keys()),
        "fallback": p.get("fallback"),
    }


__all__ = [
    "CLEAR",
    "KEYED",
    "SEALED",
    "VAULT",
    "SubjectRecords",
    "decision_summary",
    "find_records",
    "in_ranges",
    "open_key_store",
    "seq_ranges",
    "subject_ref",
    "value_variants",
]
