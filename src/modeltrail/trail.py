"""The Trail: one ledger, its blob store and its keys, opened from a folder or a URL.

A :class:`Trail` records events, signs checkpoints, hands out typed proofs and verifies itself; the
feature modules (lineage, registry, runtime) each take a trail, and the trail's convenience methods
(``trail.run``, ``trail.register_model``, ``trail.gate``, ``trail.guard`` …) forward to them::

    >>> import modeltrail, tempfile
    >>> from modeltrail import Actor
    >>> trail = modeltrail.init(tempfile.mkdtemp(), origin="example.org/credit")
    >>> alice = Actor("alice", "data_scientist")
    >>> receipts = trail.record_many([{"type": "run.metrics", "system": "credit", "actor": alice}] * 3)
    >>> [r.seq for r in receipts]
    [1, 2, 3]
    >>> cp = trail.checkpoint()
    >>> cp.size, cp.note.splitlines()[0]
    (4, 'example.org/credit')
    >>> proof = trail.consistency_proof(2)  # the tree of 2 events is a prefix of today's
    >>> proof.new_size, proof.new_checkpoint == cp.note
    (4, True)
    >>> proof.verify()
    >>> trail.close()
"""

from __future__ import annotations

import fnmatch
import json
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlparse

from .blobs_db import open_blobs
from .crypto import keys as keyfiles
from .errors import NotFoundError, TrailExistsError, TrailNotFoundError, ValidationError
from .events import (
    DEFAULT_MAX_PAYLOAD_BYTES,
    SYSTEM_ACTOR,
    Actor,
    Event,
    EventInput,
    PreparedEvent,
    PreparedEvents,
    Receipt,
    as_group,
    format_ts,
    parse_ts,
    prepare,
)
from .governance import knownhead
from .governance.namespace import record_governed, refuse_reserved, refuse_reserved_prepared
from .ledger import merkle
from .ledger.leaf import LeafGroup
from .ledger.log import Log
from .ledger.note import Checkpoint, NoteSigner, sign_checkpoint
from .ledger.proofs import ConsistencyProof, InclusionProof
from .ledger.store import CheckpointRow, EventQuery, EventRow, LedgerStore, SqliteStore
from .ledger.verify import VerificationResult, verify_trail
from .speed import gc_paused
from .version import __version__

if TYPE_CHECKING:
    from .identity import Identity
    from .lineage.entities import DatasetVersion, ModelVersion
    from .lineage.queries import Graph
    from .lineage.runs import Run
    from .policy import Policy
    from .policy.gates import GateResult
    from .registry.refs import ModelRef
    from .runtime.guard import FallbackFn, Guard
    from .runtime.killswitch import KillSwitch
    from .runtime.logger import DecisionLogger

DEFAULT_DIR = ".modeltrail"
CONFIG_FILE = "config.json"
DB_FILE = "ledger.db"


@dataclass(frozen=True)
class TrailConfig:
    """Settings kept in ``<trail>/config.json``."""

    origin: str
    checkpoint_every_events: int = 10_000
    checkpoint_every_seconds: float = 300.0
    max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES
    url: str | None = None  # a PostgreSQL URL when the ledger lives there
    user: str | None = None  # default actor id for CLI commands
    role: str | None = None
    policy: str | None = None  # path of the policy file, relative to the trail's parent folder
    # Where blobs larger than blobs_db.SMALL_BLOB_MAX go (smaller ones are rows of the ledger database):
    # None for blobs/ in the folder, "database" for the database too, or s3://BUCKET/PREFIX?endpoint_url=…
    blobs: str | None = None
    # How the data policy's "pseudonymise" is done: "vault" (random tokens whose link erasure deletes, every
    # trail created since retention came) or "keyed" (HMAC pseudonyms, recomputable from the id: older trails).
    pseudonyms: str = "keyed"

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {k: v for k, v in self.__dict__.items()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TrailConfig:
        """Parse, ignoring unknown keys written by newer versions."""
        known = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        return cls(**known)


@dataclass(frozen=True)
class StoredCheckpoint:
    """A checkpoint as stored: size, root, the signed note and the signing key id."""

    id: int
    size: int
    root: bytes
    note: str
    key_id: str
    ts: str

    @classmethod
    def from_row(cls, r: CheckpointRow) -> StoredCheckpoint:
        """From a backend row."""
        return cls(r.id, r.size, r.root, r.note, r.key_id, r.ts)


def glob_to_like(pattern: str) -> str:
    """Translate an event-type glob (``model.*``) into an SQL LIKE pattern with ``\\`` escapes."""
    out = []
    for ch in pattern:
        if ch in "%_\\":
            out.append("\\" + ch)
        elif ch == "*":
            out.append("%")
        elif ch == "?":
            out.append("_")
        else:
            out.append(ch)
    return "".join(out)


def find_trail_dir(start: Path | None = None) -> Path | None:
    """The nearest ``.modeltrail`` folder in ``start`` or one of its parents (like git does)."""
    here = (start or Path.cwd()).resolve()
    for d in (here, *here.parents):
        if (d / DEFAULT_DIR / CONFIG_FILE).is_file():
            return d / DEFAULT_DIR
    return None


def _resolve_location(url: str | os.PathLike[str] | None) -> tuple[Path, str | None]:
    """Return (trail folder, PostgreSQL URL or None) for an ``open``/``init`` argument."""
    raw = os.fspath(url) if url is not None else os.environ.get("MODELTRAIL_URL")
    if raw is None:
        found = find_trail_dir()
        return (found if found is not None else Path.cwd() / DEFAULT_DIR), None
    if raw.startswith(("postgresql://", "postgres://")):
        home = parse_qs(urlparse(raw).query).get("home", [None])[0] or os.environ.get("MODELTRAIL_HOME")
        if home is None:
            # Keys and blobs live in a folder: the nearest trail folder, as for the embedded default.
            found = find_trail_dir()
            return (found if found is not None else Path.cwd() / DEFAULT_DIR), raw
        return _resolve_location(home)[0], raw
    if raw.startswith("sqlite:///") or raw.startswith("sqlite://"):
        raw = raw[len("sqlite://") :]
    p = Path(raw).expanduser()
    if p.name != DEFAULT_DIR and not (p / CONFIG_FILE).exists():
        p = p / DEFAULT_DIR
    return p.resolve(), None


def _open_store(folder: Path, pg_url: str | None) -> LedgerStore:
    if pg_url is None:
        return SqliteStore(folder / DB_FILE)
    from .ledger.pgstore import PostgresStore  # optional dependency: psycopg (the [postgres] extra)

    store: LedgerStore = PostgresStore(pg_url)
    return store


def strip_password(url: str) -> str:
    """``url`` without a password: libpq then reads it from PGPASSWORD or ~/.pgpass, never from our files."""
    parts = urlparse(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.split("@", 1)
    user = netloc[0].split(":", 1)[0]
    return parts._replace(netloc=f"{user}@{netloc[1]}").geturl()


def _write_json_atomic(path: Path, data: Mapping[str, Any]) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    # 0600: the configuration names the database and the trail's users; it is nobody else's business.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with open(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, sort_keys=True)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


_NO_OVERRIDE = object()  # Trail.review's "no override given" (None is a valid override)


class Trail:
    """An open trail. Use :func:`modeltrail.open` or :func:`modeltrail.init` to get one.

    Thread-safe: share one instance across threads. Several processes may open the same trail; the
    backend serialises appends so sequence numbers stay dense and the tree never forks.
    """

    def __init__(self, folder: Path, store: LedgerStore, config: TrailConfig) -> None:
        self.path = folder
        self.store = store
        self.config = config
        self.log = Log(store)
        self.blobs = open_blobs(folder, store, config.blobs)
        self.keys_dir = folder / "keys"
        self._signer: NoteSigner | None = None
        self._cp_lock = threading.Lock()
        self._since_checkpoint = 0
        self._last_checkpoint_time = time.monotonic()
        self._closed = False
        self._close_hooks: list[Callable[[], None]] = []

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def origin(self) -> str:
        """The checkpoint origin line: a unique name of this log."""
        return self.config.origin

    @property
    def root(self) -> Path:
        """The folder that contains the trail folder (where the policy file and reports usually live)."""
        return self.path.parent

    def on_close(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` when the trail closes, before its connections do (last registered runs first).

        Background workers of this trail (the kill switch poller, the decision logger) register here: a
        connection closed under a thread that is using it crashes SQLite, it does not raise.
        """
        self._close_hooks.append(fn)

    def close(self) -> None:
        """Stop this trail's background workers (writing out buffered decisions), then release connections.

        A failure reported by a worker (decisions that could not be written) is raised after the
        connections are closed.
        """
        if not self._closed:
            self._closed = True
            first: BaseException | None = None
            hooks, self._close_hooks = self._close_hooks, []
            for fn in reversed(hooks):
                try:
                    fn()
                except Exception as exc:  # every worker is stopped even if one reports a failure
                    first = first or exc
            self.blobs.close()
            self.store.close()
            if first is not None:
                raise first

    def __enter__(self) -> Trail:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- recording ---------------------------------------------------------------------------

    def record(
        self,
        type: str,
        *,
        system: str,
        actor: Actor | Mapping[str, str],
        subject: str | None = None,
        payload: Mapping[str, Any] | None = None,
        refs: Sequence[str] | None = None,
        sealed: Mapping[str, Any] | None = None,
    ) -> Receipt:
        """Append one event and return its receipt once it is durable.

        Raises :class:`~modeltrail.errors.ValidationError` (naming the field) for a malformed event,
        in which case nothing is written, and for a governance type (:mod:`modeltrail.governance`), which
        only the operation that checks its rules may write.
        """
        refuse_reserved(type)
        ev = EventInput(type, system, actor, subject, payload, refs, sealed)
        prepared = prepare(ev, max_payload_bytes=self.config.max_payload_bytes)
        receipt = self.log.append([PreparedEvents([prepared])])[0][0]
        self._after_append(1)
        return receipt

    def record_many(self, events: Iterable[EventInput | Mapping[str, Any]]) -> list[Receipt]:
        """Append a batch atomically: either every event is recorded, or (on any invalid event) none."""
        prepared = []
        limit = self.config.max_payload_bytes
        allowed: object = None  # the last type found allowed: a batch mostly repeats one type
        with gc_paused():
            for i, e in enumerate(events):
                ev = e if isinstance(e, EventInput) else _event_input_from_mapping(e, f"events[{i}].")
                if ev.type is not allowed:
                    refuse_reserved(ev.type, f"events[{i}].type")
                    allowed = ev.type
                try:
                    prepared.append(prepare(ev, max_payload_bytes=limit))
                except ValidationError as exc:
                    # The batch position goes into the field path only on failure (no string per event).
                    raise exc.within(f"events[{i}]") from None
        receipts = list(self.log.append([PreparedEvents(prepared)])[0])
        self._after_append(len(receipts))
        return receipts

    def append_prepared(self, events: Sequence[PreparedEvent] | LeafGroup) -> Sequence[Receipt]:
        """Append events already validated by :func:`modeltrail.events.prepare` (the serving hot path).

        ``events``: prepared events, or any :class:`~modeltrail.ledger.leaf.LeafGroup`. Returns the
        receipts as a :class:`~modeltrail.events.Receipts` sequence (built when read).
        """
        return self.append_prepared_each([events])[0]

    def append_governed(self, prepared: PreparedEvent) -> Receipt:
        """Append one governance event whose rules its operation checked (:func:`record_governed` only)."""
        return self.append_governed_many([prepared])[0]

    def append_governed_many(self, prepared: Sequence[PreparedEvent]) -> list[Receipt]:
        """Append governance events atomically, all or none (:func:`record_governed_many` only)."""
        receipts = list(self.log.append([PreparedEvents(list(prepared))])[0])
        self._after_append(len(receipts))
        return receipts

    def append_prepared_each(self, groups: Sequence[Sequence[PreparedEvent] | LeafGroup]) -> list[Sequence[Receipt]]:
        """Several :meth:`append_prepared` calls in one transaction: the receipts of each group, in order.

        Generic ingest like :meth:`record`: plain lists of prepared events of a governance type are refused
        (the columnar groups the decision logger builds hold decisions only).
        """
        for g in groups:
            if isinstance(g, list | tuple | PreparedEvents):
                refuse_reserved_prepared(g)
        out = self.log.append([as_group(g) for g in groups])
        self._after_append(sum(len(r) for r in out))
        return out

    def _after_append(self, n: int) -> None:
        with self._cp_lock:
            self._since_checkpoint += n
            due = self._since_checkpoint >= self.config.checkpoint_every_events or (
                time.monotonic() - self._last_checkpoint_time >= self.config.checkpoint_every_seconds
            )
        if due:
            self.checkpoint()

    # -- reading -----------------------------------------------------------------------------

    def size(self) -> int:
        """Number of events in the ledger."""
        return self.log.size()

    def get_event(self, seq: int) -> Event:
        """The event at ``seq``; raises NotFoundError."""
        if not 0 <= seq < 2**63:  # beyond what the database can hold: no such event, not an overflow
            raise NotFoundError(f"no event with seq {seq} (the ledger has {self.size()} events)")
        row = self.store.get_event(seq)
        if row is None:
            raise NotFoundError(f"no event with seq {seq} (the ledger has {self.size()} events)")
        return Event.from_stored(row)

    def events(
        self,
        type: str | None = None,
        *,
        subject: str | None = None,
        since: str | datetime | None = None,
        until: str | datetime | None = None,
        after_seq: int | None = None,
        system: str | None = None,
        limit: int | None = None,
        descending: bool = False,
        before_seq: int | None = None,
        include_purged: bool = False,
    ) -> Iterator[Event]:
        """Events matching the filters, in seq order. ``type`` is a glob such as ``model.*``.

        ``after_seq`` / ``before_seq`` bound the seq (exclusive): keyset paging, forwards or backwards.
        Purged events (payload removed by retention or erasure) are left out unless ``include_purged``,
        which yields them as :meth:`Event.purged_stub` (``ev.purged``); a ``subject`` filter never matches
        them (a purge clears the subject column).
        """
        q = EventQuery(
            type_like=None if type is None else glob_to_like(type),
            subject=subject,
            since_ts=None if since is None else _ts_arg(since, "since"),
            until_ts=None if until is None else _ts_arg(until, "until"),
            after_seq=after_seq,
            before_seq=before_seq,
            system=system,
            limit=limit,
            descending=descending,
        )
        for row in self.store.query_events(q):
            if not row.leaf:
                if include_purged and (type is None or fnmatch.fnmatchcase(row.type, type)):
                    yield Event.from_stored(row)
                continue
            ev = Event.from_leaf(row.leaf, row.leaf_hash)
            # LIKE is case-insensitive in SQLite; the glob is the exact rule.
            if type is None or fnmatch.fnmatchcase(ev.type, type):
                yield ev

    def rows(self, start: int = 0, end: int | None = None) -> Iterator[EventRow]:
        """Raw stored rows (leaf bytes and hashes) in seq order."""
        return self.store.iter_events(start, end)

    # -- keys and checkpoints ----------------------------------------------------------------

    def signer(self) -> NoteSigner:
        """The current checkpoint signing key (loaded lazily from ``keys/``)."""
        if self._signer is None:
            self._signer = keyfiles.load_signing_key(self.keys_dir)
        return self._signer

    def verifier_keys(self) -> list[str]:
        """Every verifier key this trail has used (current and rotated away), note format."""
        return keyfiles.list_verifier_keys(self.keys_dir)

    def checkpoint(self) -> StoredCheckpoint:
        """Sign and store a checkpoint of the current tree head (C2SP tlog-checkpoint)."""
        with self._cp_lock:
            size = self.log.size()
            root = self.log.root(size)
            signer = self.signer()
            note = sign_checkpoint(Checkpoint(self.origin, size, root, ()), signer)
            ts = format_ts(datetime.now(UTC))
            cid = self.store.add_checkpoint(size, root, note, signer.key_id_hex, ts)
            knownhead.remember(self, note, size)  # kept outside the database: rollback becomes visible
            self._since_checkpoint = 0
            self._last_checkpoint_time = time.monotonic()
            return StoredCheckpoint(cid, size, root, note, signer.key_id_hex, ts)

    def checkpoints(self) -> list[StoredCheckpoint]:
        """All stored checkpoints, oldest first."""
        return [StoredCheckpoint.from_row(r) for r in self.store.checkpoints()]

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        """The most recent checkpoint, if any."""
        cps = self.store.checkpoints()
        return StoredCheckpoint.from_row(cps[-1]) if cps else None

    def rotate_key(
        self, actor: Actor | Mapping[str, str] | Identity, *, reason: str = "scheduled rotation"
    ) -> StoredCheckpoint:
        """Create a new signing key, record ``key.rotated`` and checkpoint with the new key.

        Like token management, rotation needs one of the policy's ``roles.keys`` (``admin`` when the policy
        names none; see :func:`modeltrail.identity.key_admin`): ``actor`` is an :class:`Identity` (the CLI
        resolves one from ``MODELTRAIL_TOKEN``, ``MODELTRAIL_USER`` or the config) or an :class:`Actor`
        whose claimed role the policy's users must grant. A refusal is recorded as ``key.rotation_refused``
        and raises :class:`PermissionDeniedError`; nothing else changes. Old checkpoints keep verifying:
        their verifier keys stay in ``keys/`` and in the ledger.
        """
        from .identity import Identity, acting_actor, key_admin

        if not isinstance(actor, Identity):
            actor = acting_actor(actor)
        who = key_admin(self, actor)
        old = self.signer()
        new = keyfiles.create_signing_key(self.keys_dir, self.origin)
        record_governed(
            self,
            "key.rotated",
            system="modeltrail",
            actor=who,
            subject=f"key:{new.key_id_hex}",
            payload={
                "old_verifier_key": old.verifier_key(),
                "new_verifier_key": new.verifier_key(),
                "reason": reason,
            },
        )
        # The rotation event itself is covered by a checkpoint under the old key, then the new one.
        self.checkpoint()
        keyfiles.set_current_signing_key(self.keys_dir, new.key_id_hex)
        self._signer = None
        return self.checkpoint()

    # -- proofs --------------------------------------------------------------------------------

    def inclusion_proof(self, seq: int, size: int | None = None) -> InclusionProof:
        """An inclusion proof of event ``seq`` against the tree of ``size`` (default: latest checkpoint).

        Carries the leaf hash, index, tree size, root, audit path, and the signed checkpoint note when
        one exists for that size. Its ``to_dict()`` is JSON-safe: inside a proof the hashes are base64
        (as in the C2SP checkpoint note and the tlog tools, ``"encoding": "base64"``); ``root_hex`` /
        ``leaf_hash_hex`` repeat the two in hex, the encoding every other output uses.
        """
        if size is None:
            cp = self.latest_checkpoint()
            size = cp.size if cp is not None and cp.size > seq else self.size()
        row = self.store.get_event(seq)
        if row is None:
            raise NotFoundError(f"no event with seq {seq}")
        if not 0 <= seq < size:
            raise ValidationError(f"seq {seq} is not inside a tree of size {size}", field="size")
        proof = self.log.inclusion_proof(seq, size)
        root = self.log.root(size)
        return InclusionProof(seq, size, row.leaf_hash, root, tuple(proof), self._note_for(size, root))

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> ConsistencyProof:
        """A consistency proof between two tree sizes, with their checkpoint notes if any."""
        n = self.size() if new_size is None else new_size
        if not 0 < old_size <= n:
            raise ValidationError(f"expected 0 < OLD <= NEW <= {self.size()}, got {old_size} and {n}", field="size")
        proof = self.log.consistency_proof(old_size, n)
        r1, r2 = self.log.root(old_size), self.log.root(n)
        return ConsistencyProof(old_size, n, r1, r2, tuple(proof), self._note_for(old_size, r1), self._note_for(n, r2))

    def _note_for(self, size: int, root: bytes) -> str | None:
        for cp in reversed(self.store.checkpoints()):
            if cp.size == size and cp.root == root:
                return cp.note
        return None

    def verify(
        self,
        progress: Callable[[int, int], None] | None = None,
        *,
        trusted_keys: Sequence[str] | None = None,
        extra_checkpoints: Iterable[str] = (),
        max_problems: int = 20,
        workers: int | None = None,
        witnesses: Sequence[str] = (),
        min_witnesses: int | None = None,
    ) -> VerificationResult:
        """Recompute and check every event, node, checkpoint root and signature of this trail, and more.

        Checkpoints are checked against the trail's own verifier keys, or ``trusted_keys`` pinned by an
        auditor; ``extra_checkpoints`` are signed notes kept outside the trail that the log must be
        consistent with (see :func:`modeltrail.ledger.verify.verify_trail`). The known head (the largest
        checkpoint this trail ever signed, kept outside the database) and every cosigned note are checked
        the same way. Beyond the bytes: no projection folded past the end of the log, and (unless the
        auditor pinned keys) every checkpoint is signed by a key of the chain ``trail.initialized`` and
        ``key.rotated`` form. With ``witnesses`` (witness verifier keys), at least ``min_witnesses`` of
        them (default: all) must have cosigned a checkpoint of this log; without, each policy in force that
        lists ``witnesses`` sets the keys and the number.
        """
        from .governance.trailchecks import check_key_chain, check_projection_cursors, check_purges
        from .governance.witnessing import check_witnesses, cosigned_notes
        from .ledger.verify import Problem
        from .ledger.witness import WitnessKey

        head = knownhead.read_known_head(self)  # the log must still hold the latest tree it ever signed
        latest = self.latest_checkpoint()
        if head is not None and latest is not None and latest.note == head:
            head = None  # the newest stored checkpoint is the known head: it is checked as such already
        res = verify_trail(
            self,
            progress=progress,
            trusted_keys=trusted_keys,
            extra_checkpoints=[*extra_checkpoints, *([head] if head else []), *cosigned_notes(self)],
            max_problems=max_problems,
            workers=workers,
        )
        res.problems += check_projection_cursors(self.store, res.size)
        res.problems += check_purges(self, res.purged)
        if trusted_keys is None:
            res.problems += check_key_chain(self)
        if witnesses:
            keys_w = [WitnessKey.parse(w) for w in witnesses]
            need = len(keys_w) if min_witnesses is None else min_witnesses
            res.problems += [Problem("witness", m) for m in check_witnesses(self, keys_w, need)]
        else:  # the witnesses the policies in force require (witnesses: {keys, min})
            from .governance.rules import fresh_replay
            from .governance.witnessing import policy_witness_problems

            in_force = list(fresh_replay(self).policies.values())
            res.problems += [Problem("witness", m, seq=seq) for seq, m in policy_witness_problems(self, in_force)]
        return res

    # -- convenience: the feature modules, reachable from the trail ------------------------------
    # Each feature module takes a trail (``register_model(trail, ...)``); these methods only forward to
    # them, with the same parameters (tests/test_architecture.py checks that they stay in step). The
    # import happens on call: the feature modules import this one, and ``import modeltrail`` stays light
    # (no pandas, numpy or scikit-learn until a feature needs them).

    def run(
        self,
        name: str,
        *,
        system: str,
        actor: Actor | Mapping[str, str],
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
        datasets: Iterable[DatasetVersion | str] | None = None,
        code_dir: str | Path | None = None,
    ) -> Run:
        """A tracked training run, usable as a context manager (:func:`modeltrail.lineage.runs.trail_run`)."""
        from .lineage.runs import trail_run

        return trail_run(
            self, name, system=system, actor=actor, params=params, tags=tags, datasets=datasets, code_dir=code_dir
        )

    def register_dataset(
        self,
        data: object,
        *,
        name: str,
        system: str,
        actor: Actor | Mapping[str, str],
        role: str = "train",
        source: str | None = None,
        run: Run | str | None = None,
        parents: Iterable[DatasetVersion | str] = (),
        profile: bool = True,
    ) -> DatasetVersion:
        """Register a dataset version (:func:`modeltrail.lineage.datasets.register_dataset`)."""
        from .lineage.datasets import register_dataset

        return register_dataset(
            self,
            data,
            name=name,
            system=system,
            actor=actor,
            role=role,
            source=source,
            run=run,
            parents=parents,
            profile=profile,
        )

    def register_model(
        self,
        model_or_path: object,
        *,
        name: str,
        system: str,
        actor: Actor | Mapping[str, str],
        run: Run | str | None = None,
        datasets: Sequence[DatasetVersion | str] = (),
        signature: Mapping[str, Any] | None = None,
        trusted: bool = False,
        training_data: object = None,
        signing_key: str | os.PathLike[str] | None = None,
    ) -> ModelVersion:
        """Register a model version (:func:`modeltrail.lineage.models.register_model`)."""
        from .lineage.models import register_model

        return register_model(
            self,
            model_or_path,
            name=name,
            system=system,
            actor=actor,
            run=run,
            datasets=datasets,
            signature=signature,
            trusted=trusted,
            training_data=training_data,
            signing_key=signing_key,
        )

    def load_model(
        self,
        ref: str | ModelVersion,
        *,
        trusted: bool = False,
        allow: Iterable[str] = (),
        dest: str | os.PathLike[str] | None = None,
    ) -> Any:  # the user's own model object, of whatever class it was registered with
        """Load a registered model, checking its hash (:func:`modeltrail.lineage.models.load_model`)."""
        from .lineage.models import load_model

        return load_model(self, ref, trusted=trusted, allow=allow, dest=dest)

    def lineage(self, ref: str, *, direction: str = "up", depth: int | None = None) -> Graph:
        """Everything upstream (``up``) or downstream (``down``) of an entity reference."""
        from .lineage.queries import downstream, upstream

        if direction not in ("up", "down"):
            raise ValidationError("expected 'up' or 'down'", field="direction")
        return upstream(self, ref, depth=depth) if direction == "up" else downstream(self, ref, depth=depth)

    def gate(
        self, model: str | ModelRef, stage: str, *, actor: Actor | Identity, policy: Policy | None = None
    ) -> tuple[GateResult, Receipt]:
        """Evaluate and record the policy gate of ``stage`` for a model version.

        See :func:`modeltrail.registry.evaluate_gate_for`.
        """
        from .registry.lifecycle import evaluate_gate_for

        return evaluate_gate_for(self, model, stage, actor=actor, policy=policy)

    def approve(
        self,
        model: str | ModelRef,
        stage: str,
        *,
        actor: Actor | Identity,
        rationale: str,
        policy: Policy | None = None,
        signature: str | None = None,
    ) -> Receipt:
        """Approve a model version (roles, four-eyes, signatures: :func:`modeltrail.registry.approve`)."""
        from .registry.lifecycle import approve

        return approve(self, model, stage, actor=actor, rationale=rationale, policy=policy, signature=signature)

    def deploy(
        self,
        model: str | ModelRef,
        env: str,
        *,
        actor: Actor | Identity,
        traffic: float = 1.0,
        stage: str | None = None,
        break_glass_reason: str | None = None,
        policy: Policy | None = None,
        mode: str = "live",
        signature: str | None = None,
    ) -> Receipt:
        """Deploy a model version, refused without a passed gate and complete approvals.

        See :func:`modeltrail.registry.deploy`.
        """
        from .registry.lifecycle import deploy

        return deploy(
            self,
            model,
            env,
            actor=actor,
            traffic=traffic,
            stage=stage,
            break_glass_reason=break_glass_reason,
            policy=policy,
            mode=mode,
            signature=signature,
        )

    def guard(
        self,
        model_ref_or_callable: object,
        *,
        env: str = "production",
        system: str | None = None,
        policy: Policy | str | os.PathLike[str] | None = None,
        actor: Actor | None = None,
        explainer: object = None,
        top_k: int = 3,
        fallback: str | FallbackFn | None = None,
        name: str | None = None,
        feature_names: Sequence[str] | None = None,
        training_range: Mapping[str, Any] | None = None,
        logger: DecisionLogger | None = None,
        kill_switch: KillSwitch | None = None,
        trusted: bool = False,
    ) -> Guard:
        """Wrap a registered model (or any callable) for serving (:func:`modeltrail.runtime.guard.guard`)."""
        from .runtime.guard import guard

        return guard(
            self,
            model_ref_or_callable,
            env=env,
            system=system,
            policy=policy,
            actor=actor,
            explainer=explainer,
            top_k=top_k,
            fallback=fallback,
            name=name,
            feature_names=feature_names,
            training_range=training_range,
            logger=logger,
            kill_switch=kill_switch,
            trusted=trusted,
        )

    def review(
        self,
        decision_id: str,
        *,
        actor: Actor | Mapping[str, str] | Identity,
        accept: bool | None = None,
        override: object = _NO_OVERRIDE,
        reason: str,
        signature: str | None = None,
    ) -> Receipt:
        """Record a human review (``accept=True`` or ``override=value``) of a routed decision.

        See :func:`modeltrail.runtime.oversight.review`.
        """
        from .runtime.oversight import review

        # ``override=None`` is a real override (to a null output), so "not given" needs its own marker.
        if override is _NO_OVERRIDE:
            return review(self, decision_id, actor=actor, accept=accept, reason=reason, signature=signature)
        return review(
            self, decision_id, actor=actor, accept=accept, override=override, reason=reason, signature=signature
        )

    def label(self, decision_id: str, actual: object, *, actor: Actor | Mapping[str, str] | Identity) -> Receipt:
        """Record the ground truth of a decision (:func:`modeltrail.runtime.oversight.label`)."""
        from .runtime.oversight import label

        return label(self, decision_id, actual, actor=actor)


def _ts_arg(value: str | datetime, name: str) -> str:
    dt = value if isinstance(value, datetime) else parse_ts(value, name)
    return format_ts(dt if dt.tzinfo else dt.replace(tzinfo=UTC))


def _event_input_from_mapping(d: Mapping[str, Any], where: str) -> EventInput:
    unknown = set(d) - {"type", "system", "actor", "subject", "payload", "refs", "sealed"}
    if unknown:
        raise ValidationError(f"unknown keys {sorted(unknown)}", field=where.rstrip("."))
    for key in ("type", "system", "actor"):
        if key not in d:
            raise ValidationError("is required", field=f"{where}{key}")
    return EventInput(
        type=d["type"],
        system=d["system"],
        actor=d["actor"],
        subject=d.get("subject"),
        payload=d.get("payload"),
        refs=d.get("refs"),
        sealed=d.get("sealed"),
    )


def init(
    path: str | os.PathLike[str] | None = None,
    *,
    origin: str | None = None,
    url: str | None = None,
    checkpoint_every_events: int = 10_000,
    checkpoint_every_seconds: float = 300.0,
    actor: Actor | None = None,
    blobs: str | None = None,
) -> Trail:
    """Create a trail folder (ledger database, ``blobs/``, ``keys/``) and return it open.

    ``path`` is the trail folder or its parent (default ``./.modeltrail``); ``url`` optionally puts the
    ledger in PostgreSQL while keys stay in the folder. ``blobs``: where large blobs go (default: the
    folder's ``blobs/``; ``"database"``; or ``s3://BUCKET/PREFIX`` for a trail shared by several hosts).
    Small blobs (sealed values, reports, policies) are rows of the ledger database in every case.
    """
    folder, pg = _resolve_location(path if path is not None else url)
    if url is not None and url.startswith(("postgresql://", "postgres://")):
        pg = url
        if path is not None:
            folder, _ = _resolve_location(path)
    if (folder / CONFIG_FILE).exists():
        raise TrailExistsError(f"a trail already exists at {folder}")
    # What was there before: a failed init removes what it created and nothing else.
    existed = folder.exists()
    before = set(folder.iterdir()) if existed and folder.is_dir() else set()
    created = folder  # the outermost folder init will create (``mkdir -p`` may make parents too)
    while not existed and not created.parent.exists():
        created = created.parent
    try:
        return _init_in(folder, pg, origin, checkpoint_every_events, checkpoint_every_seconds, actor, blobs)
    except BaseException:
        _remove_created(created if not existed else folder, existed, before)
        raise


def _remove_created(folder: Path, existed: bool, before: set[Path]) -> None:
    """Undo a failed :func:`init` in ``folder``: remove the entries it created (all of it if it made it)."""
    import shutil

    if not existed:
        shutil.rmtree(folder, ignore_errors=True)
        return
    for entry in set(folder.iterdir()) - before if folder.is_dir() else ():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)


def _init_in(
    folder: Path,
    pg: str | None,
    origin: str | None,
    checkpoint_every_events: int,
    checkpoint_every_seconds: float,
    actor: Actor | None,
    blobs: str | None,
) -> Trail:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "blobs").mkdir(exist_ok=True)
    keys_dir = folder / "keys"
    keys_dir.mkdir(mode=0o700, exist_ok=True)
    os.chmod(keys_dir, 0o700)
    trail_id = secrets.token_hex(8)
    origin = origin or f"modeltrail.local/{trail_id}"
    if not origin or any(c.isspace() for c in origin) or "+" in origin:
        raise ValidationError("expected a non-empty name without spaces or '+'", field="origin")
    signer = keyfiles.create_signing_key(keys_dir, origin)
    keyfiles.set_current_signing_key(keys_dir, signer.key_id_hex)
    keyfiles.create_secret_key(keys_dir, "pseudonym")
    cfg = TrailConfig(
        origin=origin,
        checkpoint_every_events=checkpoint_every_events,
        checkpoint_every_seconds=checkpoint_every_seconds,
        url=None if pg is None else strip_password(pg),
        blobs=blobs,
        pseudonyms="vault",
    )
    store = _open_store(folder, pg)
    try:
        if store.size() != 0:
            raise TrailExistsError(f"the ledger at {strip_password(store.url)} already holds events")
        store.set_meta("origin", origin)
        store.set_meta("format", "modeltrail-ledger/1")
        # The config file is written last: its presence marks a complete trail.
        _write_json_atomic(folder / CONFIG_FILE, cfg.to_dict())
        trail = Trail(folder, store, cfg)
    except BaseException:
        store.close()
        raise
    try:
        _first_events(trail, actor, trail_id, origin, signer)
    except BaseException:
        trail.close()
        raise
    return trail


def _first_events(trail: Trail, actor: Actor | None, trail_id: str, origin: str, signer: NoteSigner) -> None:
    record_governed(
        trail,
        "trail.initialized",
        system="modeltrail",
        actor=actor or SYSTEM_ACTOR,
        subject=f"trail:{trail_id}",
        payload={
            "origin": origin,
            "verifier_key": signer.verifier_key(),
            "modeltrail_version": __version__,
            "format": "modeltrail-ledger/1",
        },
    )
    trail.checkpoint()


def open_trail(url: str | os.PathLike[str] | None = None) -> Trail:
    """Open an existing trail: a folder, ``sqlite:///path``, ``postgresql://…`` or ``$MODELTRAIL_URL``.

    Without an argument, the nearest ``.modeltrail`` folder in the working directory or its parents.
    """
    folder, pg = _resolve_location(url)
    return open_trail_folder(folder, pg)


def open_trail_folder(folder: Path, pg_url: str | None = None) -> Trail:
    """Open the trail whose folder (keys, blobs, configuration) is ``folder``, on ``pg_url`` if given.

    For a process that must open exactly the trail another one has open (the ledger writer process).
    """
    cfg_path = folder / CONFIG_FILE
    if not cfg_path.is_file():
        raise TrailNotFoundError(f"no trail at {folder} (create one with `modeltrail init`)")
    try:
        raw = json.loads(cfg_path.read_text(encoding="utf-8"))
        if not isinstance(raw, dict):
            raise ValueError("expected a JSON object")
        cfg = TrailConfig.from_dict(raw)
    except (OSError, ValueError, TypeError) as exc:  # one line for a broken config, not a traceback
        raise TrailNotFoundError(f"{cfg_path} is not a valid trail configuration: {exc}") from None
    store = _open_store(folder, pg_url or cfg.url)
    return Trail(folder, store, cfg)


def root_hex(b: bytes) -> str:
    """Hex form of a hash (used in CLI output)."""
    return b.hex()


__all__ = [
    "DEFAULT_DIR",
    "StoredCheckpoint",
    "Trail",
    "TrailConfig",
    "find_trail_dir",
    "init",
    "merkle",
    "open_trail",
]
