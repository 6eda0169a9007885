"""Production windows: the logged decisions of one model version (and environment), cut by time or count.

A window is read from the ledger (``inference.decision`` events, their ``input`` fields and ``score``;
labels from ``inference.label`` events) or given as a DataFrame / Parquet file. Sealed fields have no
clear value in the ledger: they are monitored from aggregates the guard takes before sealing
(:mod:`.sealed`), attached to a window as :attr:`Window.sealed`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..errors import ValidationError
from ..events import Event, format_ts, parse_ts
from ..policy.model import window_seconds
from .profile import SCORE

if TYPE_CHECKING:
    from ..trail import Trail

DECISION = "inference.decision"
LABEL = "inference.label"


@dataclass
class Window:
    """One production window: its decisions' inputs and scores, where it starts and ends in the ledger."""

    model: str
    env: str | None
    start: str
    end: str
    frame: pd.DataFrame
    decision_ids: list[str] = field(default_factory=list)
    outputs: list[Any] = field(default_factory=list)
    first_seq: int | None = None
    last_seq: int | None = None
    labels: dict[str, Any] = field(default_factory=dict)
    total: int | None = None
    """Decisions in the window when ``frame`` holds a sample of them (a window beyond the memory budget)."""
    ids_file: str | None = None
    """A file listing every decision id, when ``decision_ids`` holds only the sample's."""
    drift_of: Callable[..., Any] | None = None
    """``drift_of(column, method=None)``: the column's drift from the window's summary (beyond the budget)."""
    sealed: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Aggregates of sealed fields taken before sealing (:func:`~.sealed.window_aggregates`)."""

    @property
    def n(self) -> int:
        """Number of decisions in the window."""
        return int(self.frame.shape[0]) if self.total is None else self.total

    @property
    def key(self) -> str:
        """A stable name of the window: model, environment and bounds."""
        return f"{self.model}|{self.env or '*'}|{self.start}|{self.end}"

    def describe(self) -> dict[str, Any]:
        """JSON-safe summary (no row data)."""
        return {
            "model": self.model,
            "env": self.env,
            "start": self.start,
            "end": self.end,
            "n": self.n,
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
            "labelled": len(self.labels),
            "sampled": int(self.frame.shape[0]) if self.total is not None else None,
            "exact": self.drift_of is None,
            "sealed_fields": sorted(k for k in self.sealed if not k.startswith("(")),
        }


def parse_every(every: str | float | int) -> float:
    """Seconds of a window length given as ``1d``, ``12h``, ``P7D`` or a number of seconds."""
    if isinstance(every, int | float) and not isinstance(every, bool):
        if every <= 0:
            raise ValidationError("must be positive", field="window")
        return float(every)
    try:
        return window_seconds(str(every))
    except ValueError:
        raise ValidationError(f"expected a window such as 30m, 12h, 1d or P7D, got {every!r}", field="window") from None


def model_ref(model: str) -> str:
    """``credit@2`` or ``model:credit@2`` → ``model:credit@2``."""
    return model if model.startswith("model:") else f"model:{model}"


def decision_events(
    trail: Trail,
    model: str,
    env: str | None = None,
    *,
    since: str | datetime | None = None,
    until: str | datetime | None = None,
    after_seq: int | None = None,
    upto_seq: int | None = None,
) -> Iterator[Event]:
    """The ``inference.decision`` events of ``model`` (a version, or a whole model) in ``env``, in seq order."""
    ref = model_ref(model)
    whole = "@" not in ref
    for ev in trail.events(DECISION, since=since, until=until, after_seq=after_seq):
        if upto_seq is not None and ev.seq > upto_seq:
            break
        m = ev.payload.get("model")
        if not isinstance(m, str):
            continue
        if (m != ref) if not whole else not (m == ref or m.startswith(ref + "@")):
            continue
        if env is not None and ev.payload.get("env") != env:
            continue
        yield ev


def labels_for(trail: Trail, decision_ids: Iterable[str], *, after_seq: int | None = None) -> dict[str, Any]:
    """Ground truth recorded for the given decisions (the latest label of each wins)."""
    wanted = set(decision_ids)
    out: dict[str, Any] = {}
    if not wanted:
        return out
    for ev in trail.events(LABEL, after_seq=after_seq):
        did = ev.payload.get("decision_id")
        if did in wanted:
            out[str(did)] = ev.payload.get("actual")
    return out


def _bucket(ts: str, seconds: float) -> float:
    t = parse_ts(ts).timestamp()
    return math.floor(t / seconds) * seconds


def _iso(t: float) -> str:
    return format_ts(datetime.fromtimestamp(t, UTC))


def window_from_events(model: str, env: str | None, events: list[Event], start: str, end: str) -> Window:
    """A window built from decision events (inputs as columns, plus ``score``)."""
    rows = []
    for ev in events:
        row = dict(ev.payload.get("input") or {})
        row[SCORE] = ev.payload.get("score")
        rows.append(row)
    frame = pd.DataFrame.from_records(rows) if rows else pd.DataFrame({SCORE: []})
    return Window(
        model_ref(model),
        env,
        start,
        end,
        frame,
        [str(ev.payload.get("decision_id")) for ev in events],
        [ev.payload.get("output") for ev in events],
        events[0].seq if events else None,
        events[-1].seq if events else None,
    )


def decision_windows(
    trail: Trail,
    model: str,
    env: str | None = None,
    *,
    every: str | float | None = None,
    count: int | None = None,
    since: str | datetime | None = None,
    until: str | datetime | None = None,
    after_seq: int | None = None,
    with_labels: bool = True,
) -> list[Window]:
    """Windows of ``model``'s logged decisions: by time (``every``: aligned to the epoch) or by ``count``.

    With neither, all matching decisions form one window. Only decisions that ran the model (route
    ``auto`` or ``review``) are monitored: fallback decisions have no model score.
    """
    if every is not None and count is not None:
        raise ValidationError("give a time window or a count, not both", field="window")
    if count is not None and count < 1:
        raise ValidationError("must be at least 1", field="count")
    seconds = parse_every(every) if every is not None else None
    groups: dict[Any, list[Event]] = {}
    order: list[Any] = []
    i = 0
    for ev in decision_events(trail, model, env, since=since, until=until, after_seq=after_seq):
        if ev.payload.get("route") == "fallback":
            continue
        key: Any = _bucket(ev.ts, seconds) if seconds is not None else (i // count if count is not None else 0)
        i += 1
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append(ev)
    out = []
    for key in order:
        evs = groups[key]
        if seconds is not None:
            start, end = _iso(key), _iso(key + seconds)
        else:
            start, end = evs[0].ts, evs[-1].ts
        out.append(window_from_events(model, env, evs, start, end))
    if with_labels and out:
        first = min(w.first_seq for w in out if w.first_seq is not None)
        labels = labels_for(trail, (d for w in out for d in w.decision_ids), after_seq=first)
        for w in out:
            w.labels = {d: labels[d] for d in w.decision_ids if d in labels}
    return out


class ParquetColumns(Mapping[str, Any]):
    """A Parquet file as a mapping of column name to values, read one column at a time.

    A drift report over it holds one current column in memory instead of the whole table.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        """Open ``path`` (only its schema is read here)."""
        import pyarrow.parquet as pq  # type: ignore[import-untyped]

        self.path = os.fspath(path)
        if not os.path.exists(self.path):
            raise ValidationError(f"no such file: {self.path}", field="current")
        self._file = pq.ParquetFile(self.path)
        self._names = list(self._file.schema_arrow.names)

    def __getitem__(self, name: str) -> Any:
        if name not in self._names:
            raise KeyError(name)
        col = self._file.read(columns=[name]).column(0)
        import pyarrow as pa

        if pa.types.is_floating(col.type) or pa.types.is_integer(col.type):
            return col.to_numpy()
        return col.to_pandas()

    def __contains__(self, name: object) -> bool:
        # Mapping's default reads the item to answer: that read a whole column per membership test.
        return name in self._names

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    @property
    def rows(self) -> int:
        """Rows in the file."""
        return int(self._file.metadata.num_rows)


def frame_window(
    source: pd.DataFrame | str | os.PathLike[str],
    *,
    model: str = "model:unknown",
    env: str | None = None,
    start: str = "",
    end: str = "",
) -> Window:
    """A window from a DataFrame or a Parquet/CSV file (a ``score`` column is the model's score)."""
    if isinstance(source, pd.DataFrame):
        frame = source
    else:
        path = os.fspath(source)
        if not os.path.exists(path):
            raise ValidationError(f"no such file: {path}", field="current")
        frame = pd.read_parquet(path) if path.endswith((".parquet", ".pq")) else pd.read_csv(path)
    return Window(model_ref(model), env, start, end, frame)
