"""Verify an audit bundle alone: no trail, no network, nothing but the zip file (and optional pinned keys).

The format is specified in ``docs/audit-bundle.md``; this module is its reference verifier. It depends
only on the ledger's pure parts (Merkle proofs, signed notes, the canonical encoding), never on a
:class:`~modeltrail.trail.Trail`, so it runs on a machine that has only modeltrail installed.

Every byte of the archive is accounted for: the file contents through the signed manifest, and the
zip structure around them by rebuilding the archive in its canonical form and comparing bytes.
"""

from __future__ import annotations

import base64
import hashlib
import io
import itertools
import json
import re
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from ..errors import ModeltrailError
from ..ledger import encoding, merkle
from ..ledger.note import Checkpoint, NoteVerifier, open_note

FORMAT = "modeltrail-audit-bundle/1"
MANIFEST = "manifest.json"
MANIFEST_SIG = "manifest.sig"
ZIP_DATE = (1980, 1, 1, 0, 0, 0)
ZIP_MODE = 0o100644 << 16
_BLOB_NAME = re.compile(r"blobs/([0-9a-f]{64})")
_SEALED_NAME = re.compile(r"sealed/(0|[1-9][0-9]*)\.json")
_NAME = re.compile(r"[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*")


def canonical_zip(files: Sequence[tuple[str, bytes]]) -> bytes:
    """The archive in canonical form: entries in the given order, stored, fixed date and mode, no extras."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED, allowZip64=False) as zf:
        for name, data in files:
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_STORED
            info.create_system = 3
            info.create_version = 20
            info.extract_version = 20
            info.external_attr = ZIP_MODE
            zf.writestr(info, data)
    return buf.getvalue()


def manifest_note_text(origin: str, manifest: bytes) -> str:
    """The text the manifest signature covers: format, origin and the manifest's SHA-256."""
    return f"{FORMAT}\n{origin}\n{hashlib.sha256(manifest).hexdigest()}\n"


@dataclass
class BundleProblem:
    """One reason the bundle does not verify."""

    kind: str
    message: str

    def to_dict(self) -> dict[str, str]:
        """JSON form."""
        return {"kind": self.kind, "message": self.message}


@dataclass
class BundleVerification:
    """The outcome of :func:`verify_bundle`: ``ok`` only when nothing was wrong."""

    problems: list[BundleProblem] = field(default_factory=list)
    origin: str = ""
    system: str = ""
    head_size: int = 0
    head_root: str = ""
    events: int = 0
    omitted: int = 0
    checkpoints: int = 0
    consistency_proofs: int = 0
    blobs: int = 0
    sealed: int = 0
    first_key: str = ""
    keys: list[str] = field(default_factory=list)
    witness_signatures: int = 0
    unverified_signatures: int = 0
    range: list[int] | None = None

    @property
    def ok(self) -> bool:
        """True when every check passed."""
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        """JSON form (``modeltrail verify bundle.zip --json``)."""
        out = {k: v for k, v in self.__dict__.items() if k != "problems"}
        out["ok"] = self.ok
        out["first_problem"] = self.problems[0].to_dict() if self.problems else None
        out["problems"] = [p.to_dict() for p in self.problems]
        return out


class _Fail(Exception):
    """Stop: a problem that makes further checks meaningless."""


def verify_bundle(
    path: str | Path | bytes, *, pinned_keys: Iterable[str] = (), max_problems: int = 20
) -> BundleVerification:
    """Verify the bundle at ``path`` (or its bytes) offline; ``pinned_keys`` are verifier keys the auditor
    obtained independently — when given, the trail's first key must be one of them."""
    res = BundleVerification()
    try:
        _verify(Path(path).read_bytes() if not isinstance(path, bytes) else path, list(pinned_keys), res)
    except _Fail:
        pass
    except (OSError, ValueError, KeyError, TypeError, ModeltrailError) as exc:
        # Hostile input must give a problem, never a traceback: anything unexpected is a malformed bundle.
        res.problems.append(BundleProblem("malformed", f"{type(exc).__name__}: {exc}"))
    del res.problems[max_problems:]
    return res


def _verify(raw: bytes, pinned: list[str], res: BundleVerification) -> None:
    _BundleCheck(raw, pinned, res).run()


class _BundleCheck:
    """The checks of one bundle, in order; each step may stop the rest (``fail``) or note a problem.

    Each step is its own method so that an auditor can read the verification as the list of what it proves
    (docs/audit-bundle.md describes the same steps).
    """

    def __init__(self, raw: bytes, pinned: list[str], res: BundleVerification) -> None:
        self.raw, self.pinned, self.res = raw, pinned, res
        self.files: list[tuple[str, bytes]] = []
        self.names: list[str] = []
        self.content: dict[str, bytes] = {}
        self.manifest: dict[str, Any] = {}
        self.man_bytes = b""
        self.origin = ""
        self.events: dict[int, dict[str, Any]] = {}
        self.leaf_hashes: dict[int, bytes] = {}
        self.chain: list[str] = []
        self.keys_doc: dict[str, Any] = {}
        self.verifiers: list[NoteVerifier] = []
        self.witnesses: list[NoteVerifier] = []
        self.cps: list[Checkpoint] = []

    def fail(self, kind: str, message: str) -> NoReturn:
        """Record a problem that makes the remaining checks meaningless, and stop."""
        self.res.problems.append(BundleProblem(kind, message))
        raise _Fail

    def problem(self, kind: str, message: str) -> None:
        """Record a problem and go on."""
        self.res.problems.append(BundleProblem(kind, message))

    def run(self) -> None:
        """Every step, in order."""
        self._archive()
        self._manifest()
        self._events()
        self._key_chain()
        self._manifest_signature()
        self._checkpoints()
        self._inclusion()
        self._range()
        self._documents()

    def _archive(self) -> None:
        """The archive: readable, unique safe names, every CRC, and canonical bytes."""
        try:
            zf = zipfile.ZipFile(io.BytesIO(self.raw))
            infos = zf.infolist()
            self.files = [(i.filename, zf.read(i)) for i in infos]
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError) as exc:
            self.fail("archive", f"not a readable zip archive: {exc}")
        self.names = [n for n, _ in self.files]
        if len(set(self.names)) != len(self.names):
            self.fail("archive", "an entry name appears twice")
        for n in self.names:
            if not _NAME.fullmatch(n):
                self.fail("archive", f"entry name {n!r} is not allowed")
        if self.names[:2] != [MANIFEST, MANIFEST_SIG] or self.names[2:] != sorted(self.names[2:]):
            self.fail("archive", "entries must be manifest.json, manifest.sig, then the other files in sorted order")
        if canonical_zip(self.files) != self.raw:
            self.fail(
                "archive", "the archive is not in canonical form: bytes outside the file contents were changed or added"
            )
        self.content = dict(self.files)

    def _manifest(self) -> None:
        """The manifest: every other file listed with its SHA-256, nothing more, nothing less."""
        self.man_bytes = self.content[MANIFEST]
        self.manifest = json.loads(self.man_bytes)
        if not isinstance(self.manifest, dict) or self.manifest.get("format") != FORMAT:
            self.fail("manifest", f"manifest.json is not a {FORMAT} manifest")
        if encoding.canonical_bytes(self.manifest) != self.man_bytes:
            self.fail("manifest", "manifest.json is not in canonical JSON (RFC 8785) form")
        listed: dict[str, str] = self.manifest["files"]
        present = set(self.names[2:])
        for n in sorted(present - set(listed)):
            self.problem("file_added", f"{n} is not listed in the manifest")
        for n in sorted(set(listed) - present):
            self.problem("file_missing", f"{n} is listed in the manifest but missing")
        for n in sorted(present & set(listed)):
            if hashlib.sha256(self.content[n]).hexdigest() != listed[n]:
                self.problem("file_hash", f"{n} does not match its SHA-256 in the manifest")
        if self.res.problems:
            raise _Fail
        self.origin = str(self.manifest["origin"])
        self.res.origin, self.res.system = self.origin, str(self.manifest.get("system", ""))

    def _events(self) -> None:
        """Events: canonical leaves with the seq they claim; event 0 gives the first key."""
        self.events = {}
        self.leaf_hashes = {}
        for line_no, line in enumerate(self.content["events.jsonl"].splitlines(), 1):
            row = json.loads(line)
            seq, leaf = int(row["seq"]), base64.b64decode(row["leaf"], validate=True)
            ev = json.loads(leaf)
            if encoding.canonical_bytes(ev) != leaf:
                self.problem("event_encoding", f"event {seq} is not canonical JSON")
            if ev.get("seq") != seq:
                self.problem("event_seq", f"line {line_no}: the event's own seq {ev.get('seq')} differs from {seq}")
            if seq in self.events:
                self.problem("event_duplicate", f"event {seq} appears twice")
            self.events[seq] = ev
            self.leaf_hashes[seq] = merkle.leaf_hash(leaf)
        self.res.events = len(self.events)
        if sorted(self.events) != [int(json.loads(x)["seq"]) for x in self.content["events.jsonl"].splitlines()]:
            self.problem("event_order", "events.jsonl is not in ascending seq order")
        first = self.events.get(0)
        if first is None or first.get("type") != "trail.initialized":
            self.fail("keys", "event 0 (trail.initialized) is missing: the first verifier key cannot be established")
        assert first is not None
        if first["payload"].get("origin") != self.origin:
            self.fail("keys", "event 0 names another origin than the manifest")

    def _key_chain(self) -> None:
        """The key chain: the first key from event 0, then each key.rotated event in seq order."""
        first = self.events[0]  # present: the events step stops otherwise
        self.chain = [str(first["payload"]["verifier_key"])]
        for seq in sorted(self.events):
            ev = self.events[seq]
            if ev.get("type") == "key.rotated":
                old, new = ev["payload"].get("old_verifier_key"), ev["payload"].get("new_verifier_key")
                if old not in self.chain:
                    self.problem("keys", f"key.rotated event {seq} rotates away from a key not in the chain")
                elif new not in self.chain:
                    self.chain.append(str(new))
        self.keys_doc = json.loads(self.content["keys.json"])
        if self.keys_doc.get("verifier_keys") != self.chain:
            self.problem("keys", "keys.json differs from the key chain the events establish")
        if self.pinned and self.chain[0] not in self.pinned:
            self.fail("key_not_pinned", "the trail's first verifier key is not one of the keys you pinned")
        self.verifiers = [NoteVerifier(k) for k in self.chain]
        self.witnesses = [NoteVerifier(k) for k in self.keys_doc.get("witness_keys", [])]
        self.res.first_key, self.res.keys = self.chain[0], self.chain

    def _manifest_signature(self) -> None:
        """The manifest signature, by a key of the chain."""
        try:
            opened = open_note(self.content[MANIFEST_SIG], self.verifiers)
        except ModeltrailError as exc:
            self.fail("manifest_signature", f"manifest.sig does not verify: {exc}")
        if opened.text != manifest_note_text(self.origin, self.man_bytes):
            self.fail("manifest_signature", "manifest.sig signs another manifest")

    def _checkpoints(self) -> None:
        """Checkpoints: signed by a chain key, this origin, sizes increasing, consistent pairwise."""
        self.cps = []
        for i, line in enumerate(self.content["checkpoints.jsonl"].splitlines()):
            note = json.loads(line)["note"]
            try:
                opened_cp = open_note(note, [*self.verifiers, *self.witnesses])
                cp = Checkpoint.parse(opened_cp.text)
            except ModeltrailError as exc:
                self.problem("checkpoint_signature", f"checkpoint {i} does not verify: {exc}")
                continue
            known = {(v.name, v.key_id) for v in self.verifiers}
            if not any(s.verified and (s.name, s.key_id) in known for s in opened_cp.signatures):
                self.problem("checkpoint_signature", f"checkpoint {i} is not signed by a key of the trail")
            self.res.witness_signatures += sum(
                1 for s in opened_cp.signatures if s.verified and (s.name, s.key_id) not in known
            )
            self.res.unverified_signatures += sum(1 for s in opened_cp.signatures if not s.verified)
            if cp.origin != self.origin:
                self.problem("checkpoint_origin", f"checkpoint {i} is for origin {cp.origin!r}")
            if self.cps and cp.size <= self.cps[-1].size:
                self.problem("checkpoint_order", f"checkpoint {i} is not larger than the one before it")
            self.cps.append(cp)
        self.res.checkpoints = len(self.cps)
        if not self.cps:
            self.fail("checkpoint", "the bundle holds no valid checkpoint")
        self.head = self.cps[-1]
        self.res.head_size, self.res.head_root = self.head.size, base64.b64encode(self.head.root).decode()
        if self.manifest.get("head") != {"size": self.head.size, "root": self.res.head_root}:
            self.problem("checkpoint", "the manifest's head differs from the last checkpoint")
        proofs = [json.loads(x) for x in self.content["consistency.jsonl"].splitlines()]
        pairs = [(a, b) for a, b in itertools.pairwise(self.cps) if a.size > 0]
        if len(proofs) != len(pairs):
            self.problem("consistency", f"expected {len(pairs)} consistency proofs, found {len(proofs)}")
        for (a, b), p in zip(pairs, proofs, strict=False):
            if (p.get("old_size"), p.get("new_size")) != (a.size, b.size):
                self.problem(
                    "consistency", f"consistency proof {p.get('old_size')}->{p.get('new_size')} is out of place"
                )
                continue
            try:
                merkle.verify_consistency(a.size, b.size, a.root, b.root, [base64.b64decode(h) for h in p["proof"]])
                self.res.consistency_proofs += 1
            except ModeltrailError as exc:
                self.problem("consistency", f"checkpoints {a.size} and {b.size} are not consistent: {exc}")

    def _inclusion(self) -> None:
        """Inclusion: every event in the head tree."""
        incl = {int(r["seq"]): r for r in (json.loads(x) for x in self.content["inclusion.jsonl"].splitlines())}
        if sorted(incl) != sorted(self.events):
            self.problem("inclusion", "inclusion.jsonl does not hold exactly one proof per event")
        for seq, lh in self.leaf_hashes.items():
            p = incl.get(seq)
            if p is None:
                continue
            try:
                if int(p["tree_size"]) != self.head.size:
                    raise ModeltrailError(f"proof is against size {p['tree_size']}, not the head {self.head.size}")
                merkle.verify_inclusion(
                    lh, seq, self.head.size, [base64.b64decode(h) for h in p["proof"]], self.head.root
                )
            except ModeltrailError as exc:
                self.problem("inclusion", f"event {seq} is not in the signed head: {exc}")

    def _range(self) -> None:
        """The range, when the scope is a period: every event in it, full or as a leaf hash, gives the head root."""
        if "range.json" in self.content:
            rng = json.loads(self.content["range.json"])
            lo, hi = int(rng["start"]), int(rng["end"])
            self.res.range = [lo, hi]
            omitted = {int(s): base64.b64decode(h) for s, h in rng["omitted"]}
            self.res.omitted = len(omitted)
            both = set(omitted) & set(self.events)
            if both:
                self.problem("range", f"events {sorted(both)[:5]} are both included and omitted")
            for s in range(lo, hi):
                if s not in omitted and s not in self.events:
                    self.fail("range", f"event {s} of the range is neither included nor omitted")
            if any(not lo <= s < hi for s in omitted):
                self.problem("range", "an omitted leaf hash lies outside the range")
            try:
                root = range_root(lo, hi, self.head.size, {**omitted, **self.leaf_hashes}, rng["nodes"])
            except ModeltrailError as exc:
                self.fail("range", f"range proof is malformed: {exc}")
            if root != self.head.root:
                self.problem(
                    "range", "the range's leaves and nodes do not give the head root: an event was changed or hidden"
                )
            for seq, ev in self.events.items():
                if lo <= seq < hi and ev.get("system") not in (self.res.system, "modeltrail") and self.res.system:
                    self.problem("scope", f"event {seq} of system {ev.get('system')!r} is outside the bundle's system")

    def _documents(self) -> None:
        """Documents and sealed values: named by their hash / their decision, each cited by an included event."""
        cited = {r.removeprefix("blob:sha256:") for ev in self.events.values() for r in ev.get("refs", [])}
        cited |= {
            str(v) for ev in self.events.values() for k, v in ev.get("payload", {}).items() if k.endswith("sha256")
        }
        for n, data in self.content.items():
            m = _BLOB_NAME.fullmatch(n)
            if m:
                self.res.blobs += 1
                if hashlib.sha256(data).hexdigest() != m.group(1):
                    self.problem("blob", f"{n} does not hash to its name")
                if m.group(1) not in cited:
                    self.problem("blob", f"{n} is not cited by any included event")
            sm = _SEALED_NAME.fullmatch(n)
            if sm:
                self.res.sealed += 1
                ev = self.events.get(int(sm.group(1)))
                values = json.loads(data).get("values", {})
                if ev is None or ev.get("type") != "inference.decision":
                    self.problem("sealed", f"{n} belongs to no included decision")
                elif sorted(values) != sorted(ev.get("sealed", {})):
                    self.problem("sealed", f"{n} does not hold exactly the decision's sealed fields")
            elif n.startswith("sealed/") or (n.startswith("blobs/") and not m):
                self.problem("archive", f"{n} is not a valid blob or sealed-value name")
        if self.content[MANIFEST] and self.manifest.get("sealed_included") is False and self.res.sealed:
            self.problem("sealed", "the manifest says no sealed values are included, yet some are")


def range_root(lo: int, hi: int, size: int, leaves: dict[int, bytes], nodes: list[list[Any]]) -> bytes:
    """The head root from the leaf hashes of ``[lo, hi)`` and the subtree hashes around the range.

    ``nodes`` are ``[start, end, base64 hash]`` for each maximal subtree of RFC 9162's recursion that lies
    wholly outside the range, in the order the recursion meets them; all must be used.
    """
    queue = list(nodes)
    pos = 0

    def mth(start: int, end: int) -> bytes:
        nonlocal pos
        if end <= lo or start >= hi:
            if pos >= len(queue):
                raise ModeltrailError(f"no subtree hash for [{start}, {end})")
            s, e, h = queue[pos]
            pos += 1
            if (s, e) != (start, end):
                raise ModeltrailError(f"expected the subtree [{start}, {end}), found [{s}, {e})")
            return base64.b64decode(h)
        if end - start == 1:
            return leaves[start]
        k = merkle.largest_power_of_two_below(end - start)
        return merkle.node_hash(mth(start, start + k), mth(start + k, end))

    if not 0 <= lo < hi <= size:
        raise ModeltrailError(f"range [{lo}, {hi}) does not lie in a tree of size {size}")
    root = mth(0, size)
    if pos != len(queue):
        raise ModeltrailError("the range proof holds subtree hashes that are not used")
    return root
