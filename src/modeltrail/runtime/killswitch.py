"""The kill switch: every guard in every process follows ``model.suspended`` / ``model.resumed`` events.

One :class:`KillSwitch` per open trail and process polls the ledger in a background thread (default
every 0.2 s) with a single indexed query: events of those two types after the last seq it has seen. So a
suspension recorded by any process (CLI, HTTP API, another service) reaches every guard within one poll
interval plus one query, well inside the one-second budget, and the request path only compares a
generation counter.

Which events apply to a guard of ``name@version`` in environment ``env``: those whose subject is
``model:<name>@<version>`` or ``model:<name>`` (every version) and whose payload ``env`` is ``env`` or
absent (every environment). The most recent applicable event decides: suspended until a later resume.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import ModeltrailError
from ..events import Event
from ..governance.rules import replay_for

if TYPE_CHECKING:
    from ..trail import Trail

SUSPENDED = "model.suspended"
RESUMED = "model.resumed"
# Events that change what is deployed: they switch nothing here, but bump the generation so every
# guard re-reads its deployment (a guard serves only what is deployed; see ``guard.serving_deployment``).
DEPLOYMENT_CHANGES = ("model.deployed", "model.retired", "model.rejected")
DEFAULT_POLL_INTERVAL = 0.2

Key = tuple[str, int | None, str | None]


@dataclass(frozen=True, slots=True)
class Suspension:
    """An active suspension as recorded: event seq, subject, environment, reason and chosen fallback."""

    seq: int
    subject: str
    env: str | None
    reason: str
    fallback: str | None
    actor: str
    ts: str


def _parse_subject(subject: str | None) -> tuple[str, int | None] | None:
    if not subject or not subject.startswith("model:"):
        return None
    body = subject[len("model:") :]
    name, sep, version = body.rpartition("@")
    if not sep:
        return body, None
    if not version.isdigit():
        return None
    return name, int(version)


class KillSwitch:
    """Suspension state of every model of one trail, kept current by a background poller."""

    def __init__(self, trail: Trail, *, poll_interval: float = DEFAULT_POLL_INTERVAL, start: bool = True) -> None:
        """Read the current state, then (``start``) keep polling every ``poll_interval`` seconds."""
        self.trail = trail
        self.poll_interval = poll_interval
        # (name, version or None, env or None) -> (seq of the latest event, Suspension or None if resumed)
        self._latest: dict[Key, tuple[int, Suspension | None]] = {}
        self._last_seq = -1
        self._lock = threading.Lock()
        self.generation = 0
        """Bumped on every change; guards compare it to skip recomputing their status."""
        self.polls = 0
        self.last_error: BaseException | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.poll()
        if start:
            self.start()

    def start(self) -> None:
        """Start the background poller (idempotent)."""
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="modeltrail-killswitch", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop the poller."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.wait(self.poll_interval):
            try:
                self.poll()
            except ModeltrailError as exc:  # the ledger is briefly unavailable: keep the last known state
                self.last_error = exc
            except Exception as exc:  # a closed database connection, for instance
                self.last_error = exc

    def poll(self) -> bool:
        """Fold new suspend/resume events (one indexed query); returns whether anything changed."""
        store = self.trail.store
        size = store.size()  # read first: everything up to size-1 is committed and seen by the query
        rows: list[tuple[Any, ...]] = store.execute(
            "SELECT seq, type, leaf, leaf_hash FROM events WHERE type IN (?, ?, ?, ?, ?) AND seq > ? ORDER BY seq",
            (SUSPENDED, RESUMED, *DEPLOYMENT_CHANGES, self._last_seq),
        )
        changed = False
        last = max(self._last_seq, size - 1)
        # Only a suspension or resumption the governance rules admit switches anything (a forged one by a
        # person without the role does not lift, or impose, a kill switch).
        replay = replay_for(self.trail) if rows else None
        with self._lock:
            for seq, type_, leaf, leaf_hash in rows:
                if type_ in DEPLOYMENT_CHANGES:
                    changed = True
                    last = max(last, int(seq))
                    continue
                if not leaf:
                    continue  # purged: nothing left to switch on
                ev = Event.from_leaf(bytes(leaf), bytes(leaf_hash))
                verdict = replay.verdict(ev.seq) if replay is not None else None
                if verdict is not None and not verdict.admitted:
                    last = max(last, int(seq))
                    continue
                changed = self._fold(ev) or changed
                last = max(last, int(seq))
            self._last_seq = last
            self.polls += 1
            if changed:
                self.generation += 1
        return changed

    def _fold(self, ev: Event) -> bool:
        target = _parse_subject(ev.subject)
        if target is None:
            return False
        env = ev.payload.get("env")
        env = env if isinstance(env, str) and env not in ("", "*") else None
        key: Key = (target[0], target[1], env)
        if ev.type == SUSPENDED:
            fb = ev.payload.get("fallback")
            info: Suspension | None = Suspension(
                seq=ev.seq,
                subject=str(ev.subject),
                env=env,
                reason=str(ev.payload.get("reason") or ""),
                fallback=fb if isinstance(fb, str) and fb else None,
                actor=ev.actor.id,
                ts=ev.ts,
            )
        else:
            info = None
        self._latest[key] = (ev.seq, info)
        return True

    def status(self, name: str, version: int | None, env: str) -> Suspension | None:
        """The suspension in force for ``name@version`` in ``env``, or None when it may serve."""
        with self._lock:
            best: tuple[int, Suspension | None] | None = None
            for key in {(name, None, None), (name, None, env), (name, version, None), (name, version, env)}:
                hit = self._latest.get(key)
                if hit is not None and (best is None or hit[0] > best[0]):
                    best = hit
        return None if best is None else best[1]

    @property
    def last_seq(self) -> int:
        """The ledger position the switch has seen up to."""
        return self._last_seq


_shared: weakref.WeakKeyDictionary[Trail, KillSwitch] = weakref.WeakKeyDictionary()
_shared_lock = threading.Lock()


def kill_switch_for(trail: Trail, *, poll_interval: float = DEFAULT_POLL_INTERVAL) -> KillSwitch:
    """The process-wide kill switch of ``trail`` (created and started on first use)."""
    with _shared_lock:
        ks = _shared.get(trail)
        if ks is None:
            ks = KillSwitch(trail, poll_interval=poll_interval)
            _shared[trail] = ks
            trail.on_close(lambda: _retire(trail, ks))
        return ks


def _retire(trail: Trail, ks: KillSwitch) -> None:
    # The trail is closing: stop polling it (before its connections close) and forget this switch.
    ks.stop()
    with _shared_lock:
        if _shared.get(trail) is ks:
            del _shared[trail]


def notify(trail: Trail) -> None:
    """Poll ``trail``'s kill switch now, if this process has one (called right after suspend/resume)."""
    with _shared_lock:
        ks = _shared.get(trail)
    if ks is not None:
        ks.poll()


__all__ = ["DEFAULT_POLL_INTERVAL", "KillSwitch", "Suspension", "kill_switch_for", "notify"]
