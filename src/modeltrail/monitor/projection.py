"""The monitoring projection: windows summarised as decisions are logged, bounded in memory, persisted.

:class:`MonitorProjection` folds ``inference.decision`` events (after the last seq it has seen, so a
catch-up reads only what is new) into one summary per window of one model version and environment.
It is a projection like the others: derived from the ledger and rebuildable by replaying it, never a
source of truth. ``monitor run`` keeps its open windows in a state file under the trail
(``<trail>/monitor/``, see :func:`state_path`), so the next run reads only the decisions logged since;
deleting the file (or a changed profile, budget or window) makes the next run replay from the last
recorded check, which gives the same results.

Memory: a window holds its rows column by column (8 bytes per numeric value, 4 per category code)
while it has at most ``budget_rows`` decisions; then every statistic equals the batch report's. Past the
budget it keeps

* a uniform random sample of ``budget_rows`` rows (reservoir sampling, seeded per window so a rebuild
  draws the same sample): the labelled performance, CBPE and fairness figures are computed on it, and
  their intervals are those of the sample size, so they stay valid;
* exact category counts and missing counts of every column;
* for numeric columns, counts over ``bins`` fixed bins at reference quantiles plus the exact minimum and
  maximum, so a window's drift summary is ``O(columns × bins)`` whatever the number of decisions;
* all its decision ids, spilled to a file (the check's decisions blob lists them all).

From the binned summary:

* Wasserstein: the current values are placed at their bin midpoints; each value moves at most half its
  bin's width, so the error is at most ``Σ share_i × width_i / 2`` (reported as ``error_bound``, normed
  like the value);
* KS: the current ECDF is exact at the bin edges; between edges both ECDFs rise by at most their bin
  mass, so the true statistic lies in ``[D_edges, D_edges + max_i max(ref_i, cur_i)]`` (with ``bins``
  reference-quantile bins, ``ref_i`` ≈ 1/bins); the p-value is computed at ``D_edges``;
* PSI / Jensen–Shannon on Sturges bins: a fixed bin straddling a Sturges edge is split in proportion to
  its width, so each share is off by at most the mass of the straddling bins (``error_bound`` is that
  largest mass).

No sketch library is used: fixed bins at reference quantiles are exactly mergeable, give the per-method
bounds above in closed form, and cost one ``searchsorted`` per value; a general quantile sketch (KLL,
t-digest) would add a dependency for a weaker, rank-only guarantee.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import tempfile
from array import array
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
import pandas as pd
from scipy import stats

from ..events import Event, format_ts, parse_ts
from .drift import CategoryCounts, ColumnDrift, column_drift, fill_zeroes, js_distance, psi_value, sturges_edges
from .profile import SCORE, FloatArray, ReferenceProfile
from .windows import DECISION, Window, model_ref, parse_every

if TYPE_CHECKING:
    from ..trail import Trail

BUDGET_ROWS = 1_000_000
BINS = 2048
CHUNK = 65_536
STATE_VERSION = 1
_MISSING = -1


@dataclass
class _Numeric:
    counts: np.ndarray[Any, np.dtype[np.int64]] | None = None  # binned mode: len(edges) + 1 bins
    lo: float = math.inf
    hi: float = -math.inf
    missing: int = 0

    @property
    def exact(self) -> bool:
        return self.counts is None


@dataclass
class WindowSummary:
    """One window: its rows while within budget (a uniform sample beyond), counts, seq and time range."""

    start: float
    n: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    first_ts: str | None = None
    last_ts: str | None = None
    ids: list[str] = field(default_factory=list)  # row-aligned with ``rows``: all rows, or the sample
    rows: dict[str, array[Any]] = field(default_factory=dict)  # numeric: 'd' (NaN missing); else 'i' codes
    numeric: dict[str, _Numeric] = field(default_factory=dict)
    categorical: dict[str, dict[str, int]] = field(default_factory=dict)
    cat_missing: dict[str, int] = field(default_factory=dict)
    ids_file: str | None = None  # every decision id, once beyond the budget
    spill: list[str] = field(default_factory=list)  # ids not yet appended to ids_file
    rng: np.random.Generator | None = None

    @property
    def exact(self) -> bool:
        """Whether the window still holds every row (its statistics equal the batch report's)."""
        return all(c.exact for c in self.numeric.values())

    @property
    def sampled(self) -> int:
        """Rows held (every row while exact, the sample beyond the budget)."""
        return len(self.ids)


class MonitorProjection:
    """Window summaries of one model version (and environment), updated incrementally from the ledger."""

    def __init__(
        self,
        profile: ReferenceProfile,
        model: str,
        env: str | None,
        *,
        every: str | float | None = None,
        count: int | None = None,
        budget_rows: int = BUDGET_ROWS,
        bins: int = BINS,
        keep: Sequence[str] = (),
        seed: int = 0,
        spill_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        """Summaries per ``every`` (time) or ``count`` window (neither: one window); exact within ``budget_rows``.

        ``keep`` names input columns to hold besides the profiled ones (fairness groups), as categories.
        """
        self.profile = profile
        self.model = model_ref(model)
        self.env = env
        self.seconds = parse_every(every) if every is not None else None
        self.count = count
        self.budget_rows = max(1, int(budget_rows))
        self.bins = bins
        self.seed = seed
        self.spill_dir = None if spill_dir is None else os.fspath(spill_dir)
        self.last_seq = -1
        self.index = 0  # decisions taken (count windows)
        self.max_key = -math.inf
        self.windows: dict[float, WindowSummary] = {}
        self.kinds: dict[str, str] = {n: c.kind for n, c in profile.columns.items()}
        for name in keep:
            self.kinds.setdefault(name, "categorical")
        self.codes: dict[str, dict[str, int]] = {n: {} for n, k in self.kinds.items() if k == "categorical"}
        self.names: dict[str, list[str]] = {n: [] for n in self.codes}
        self._edges: dict[str, FloatArray] = {}
        self._ts_cache: tuple[str, float] = ("", 0.0)

    # -- folding ---------------------------------------------------------------------------------

    def edges(self, name: str) -> FloatArray:
        """The fixed bin edges of a numeric column (reference quantiles), computed on first need."""
        e = self._edges.get(name)
        if e is None:
            col = self.profile.column(name)
            ref = col.array()
            e = np.unique(np.quantile(ref, np.linspace(0, 1, self.bins + 1))) if ref.size else np.zeros(1)
            col.release()
            self._edges[name] = e
        return e

    def _key(self, ts: str) -> float:
        if self.count is not None:
            return float(self.index // self.count)
        if self.seconds is None:
            return 0.0
        prefix = ts[:19]  # whole seconds decide the window of any length of at least a second
        cached, key = self._ts_cache
        if prefix != cached or self.seconds < 1:
            key = math.floor(parse_ts(ts).timestamp() / self.seconds) * self.seconds
            self._ts_cache = (prefix, key)
        return key

    def fold(self, events: Iterable[Event]) -> int:
        """Add decision events (in seq order, those after :attr:`last_seq`); returns how many were taken."""
        return self.fold_items((ev.seq, ev.ts, ev.type, ev.payload) for ev in events)

    def fold_leaves(self, leaves: Iterable[bytes]) -> int:
        """:meth:`fold` for raw leaves (the ledger's JSON objects), decoded here with orjson.

        ``monitor run`` reads pages of leaves this way: decoding them into :class:`Event` objects with
        the standard library's JSON parser was half the cost of a pass.
        """
        items = []
        for leaf in leaves:
            d = orjson.loads(leaf)
            items.append((d["seq"], d["ts"], d["type"], d["payload"]))
        return self.fold_items(items)

    def fold_items(self, items: Iterable[tuple[int, str, str, dict[str, Any]]]) -> int:
        """Fold ``(seq, ts, type, payload)`` decisions in seq order; runs of one window go in one batch."""
        taken = 0
        run: list[tuple[int, str, dict[str, Any]]] = []
        run_key: float | None = None
        for seq, ts, typ, p in items:
            if seq <= self.last_seq:
                continue
            self.last_seq = seq
            if typ != DECISION or p.get("model") != self.model or p.get("route") == "fallback":
                continue
            if self.env is not None and p.get("env") != self.env:
                continue
            key = self._key(ts)
            self.index += 1
            if key != run_key and run:
                self._add_run(run_key, run)  # type: ignore[arg-type]
                run = []
            run_key = key
            run.append((seq, ts, p))
            taken += 1
        if run:
            self._add_run(run_key, run)  # type: ignore[arg-type]
        return taken

    def catch_up(self, trail: Trail) -> int:
        """Fold the decisions logged since the last fold (reads only new events)."""
        return self.fold(trail.events(DECISION, after_seq=self.last_seq if self.last_seq >= 0 else None))

    def _add_run(self, key: float, run: list[tuple[int, str, dict[str, Any]]]) -> None:
        """Add consecutive decisions of one window, column by column (vectorised where it can be)."""
        self.max_key = max(self.max_key, key)
        w = self.windows.get(key)
        if w is None:
            w = self.windows[key] = WindowSummary(key, first_seq=run[0][0], first_ts=run[0][1])
        m = len(run)
        payloads = [r[2] for r in run]
        inputs = [p.get("input") or {} for p in payloads]
        ids = [str(p.get("decision_id")) for p in payloads]
        n0 = w.n
        w.n += m
        w.last_seq, w.last_ts = run[-1][0], run[-1][1]
        take = max(0, min(m, self.budget_rows - n0))  # rows that still fit: appended in order
        values: dict[str, np.ndarray[Any, Any]] = {}
        nan = math.nan
        for name, kind in self.kinds.items():
            raw = [p.get("score") for p in payloads] if name == SCORE else [d.get(name) for d in inputs]
            if kind == "numeric":
                # type() rather than isinstance: a boolean is not a number here (as in numeric_column)
                x = np.fromiter(((v if type(v) is float or type(v) is int else nan) for v in raw), np.float64, m)
                finite = x[np.isfinite(x)]
                s = w.numeric.get(name)
                if s is None:
                    s = w.numeric[name] = _Numeric()
                s.missing += m - int(finite.size)
                if finite.size:
                    s.lo, s.hi = min(s.lo, float(finite.min())), max(s.hi, float(finite.max()))
                values[name] = x
                continue
            codes = self.codes[name]
            names = self.names[name]
            out = np.empty(m, dtype=np.int32)
            for i, v in enumerate(raw):
                if v is None or (type(v) is float and not math.isfinite(v)):
                    out[i] = _MISSING
                    continue
                text = v if type(v) is str else str(v)
                c = codes.get(text)
                if c is None:
                    c = codes[text] = len(names)
                    names.append(text)
                out[i] = c
            present = out[out >= 0]
            w.cat_missing[name] = w.cat_missing.get(name, 0) + (m - int(present.size))
            if present.size:
                cats = w.categorical.setdefault(name, {})
                bc = np.bincount(present)
                for c in np.flatnonzero(bc).tolist():
                    cats[names[c]] = cats.get(names[c], 0) + int(bc[c])
            values[name] = out
        if take:
            w.ids.extend(ids[:take])
            for name, x in values.items():
                col = w.rows.get(name)
                if col is None:
                    col = w.rows[name] = array("d" if x.dtype == np.float64 else "i")
                col.frombytes(x[:take].tobytes())
        if take == m:
            return
        if w.rng is None:
            self._go_binned(w)
        assert w.rng is not None
        rest = slice(take, m)
        w.spill.extend(ids[take:])
        if len(w.spill) >= CHUNK:
            self._flush(w)
        for name, s in w.numeric.items():
            x = values[name][rest]
            x = x[np.isfinite(x)]
            if s.counts is not None and x.size:
                s.counts += np.bincount(np.searchsorted(self.edges(name), x, side="right"), minlength=s.counts.size)
        # Reservoir sampling (Algorithm R), vectorised: row i of the rest is the (n0+take+i+1)-th decision
        # and replaces held row j ~ U[0, that count) when j < budget; a later row wins over an earlier one.
        highs = np.arange(n0 + take + 1, n0 + m + 1)
        js = w.rng.integers(0, highs)
        hit = np.flatnonzero(js < self.budget_rows)
        if hit.size == 0:
            return
        rev = hit[::-1]
        _, first = np.unique(js[rev], return_index=True)
        keep = rev[first]  # for each replaced slot, the last row that drew it
        slots = js[keep]
        for name, x in values.items():
            view = np.frombuffer(w.rows[name], dtype=x.dtype)
            view[slots] = x[take + keep]
        for slot, i in zip(slots.tolist(), keep.tolist(), strict=True):
            w.ids[slot] = ids[take + i]

    def _go_binned(self, w: WindowSummary) -> None:
        """Past the budget: numeric columns to bins (from the rows held so far, all of them), ids to a file."""
        for name, s in w.numeric.items():
            held = np.frombuffer(w.rows[name], dtype=np.float64) if name in w.rows else np.empty(0)
            finite = held[np.isfinite(held)]
            edges = self.edges(name)
            s.counts = np.bincount(np.searchsorted(edges, finite, side="right"), minlength=edges.size + 1).astype(
                np.int64
            )
        fd, path = tempfile.mkstemp(prefix="window-", suffix=".ids", dir=self.spill_dir)
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write("".join(d + "\n" for d in w.ids))
        w.ids_file = path
        seed = int.from_bytes(hashlib.sha256(f"{self.seed}|{self.model}|{w.start}".encode()).digest()[:8], "big")
        w.rng = np.random.default_rng(seed)

    def _flush(self, w: WindowSummary) -> None:
        """Append spilled ids to the window's file: before any check or save."""
        if w.spill and w.ids_file is not None:
            with open(w.ids_file, "a", encoding="ascii") as f:
                f.write("".join(d + "\n" for d in w.spill))
            w.spill = []

    # -- windows ---------------------------------------------------------------------------------

    def closed(self) -> list[float]:
        """Keys of windows no later decision can join: earlier time windows than the newest, full count ones."""
        if self.count is not None:
            return sorted(k for k, w in self.windows.items() if w.n >= self.count)
        if self.seconds is None:
            return []
        return sorted(k for k in self.windows if k < self.max_key)

    def bounds(self, key: float) -> tuple[str, str]:
        """A window's start and end (time windows: aligned bounds; others: first and last decision ts)."""
        w = self.windows[key]
        if self.seconds is not None:
            from datetime import UTC, datetime

            return (
                format_ts(datetime.fromtimestamp(key, UTC)),
                format_ts(datetime.fromtimestamp(key + self.seconds, UTC)),
            )
        return w.first_ts or "", w.last_ts or ""

    def frame(self, key: float) -> pd.DataFrame:
        """The held rows of a window as a DataFrame (all rows while exact; the sample beyond).

        The columns are views of the held rows: fold nothing more into the window while the frame is used.
        """
        w = self.windows[key]
        data: dict[str, Any] = {}
        for name, kind in self.kinds.items():
            col = w.rows.get(name)
            missing = w.numeric[name].missing if name in w.numeric else w.cat_missing.get(name, 0)
            if col is None or (missing == w.n and name != SCORE):
                continue  # no decision had it (a sealed or dropped field), as a frame of the inputs would be
            if kind == "numeric":
                data[name] = np.frombuffer(col, dtype=np.float64)
            else:
                lookup = np.array([*self.names[name], None], dtype=object)
                data[name] = lookup[np.frombuffer(col, dtype=np.int32)]  # code -1 → the trailing None
        # copy=False: the columns stay views of the held rows (a copy would double a full window's memory).
        return pd.DataFrame(data, copy=False) if data else pd.DataFrame({SCORE: np.empty(0)})

    def window(self, key: float) -> Window:
        """A :class:`Window` of ``key`` for :func:`~.run.check_window` (its drift from the summary when binned)."""
        w = self.windows[key]
        self._flush(w)
        start, end = self.bounds(key)
        out = Window(self.model, self.env, start, end, self.frame(key), list(w.ids), [], w.first_seq, w.last_seq)
        out.total = w.n
        out.ids_file = w.ids_file
        if not w.exact:
            out.drift_of = lambda column, method=None: self.drift(key, column, method)
        return out

    def pop(self, key: float) -> None:
        """Forget a checked window (and its spilled ids)."""
        w = self.windows.pop(key)
        if w.ids_file is not None and os.path.exists(w.ids_file):
            os.unlink(w.ids_file)

    # -- statistics ------------------------------------------------------------------------------

    def drift(self, key: float, column: str, method: str | None = None) -> ColumnDrift:
        """Drift of one column of window ``key``: exact while exact, else with ``error_bound`` set."""
        w = self.windows[key]
        self._flush(w)
        ref = self.profile.column(column)
        if ref.kind == "categorical":
            return column_drift(
                ref, CategoryCounts(w.categorical.get(column, {}), w.cat_missing.get(column, 0)), method=method
            )
        s = w.numeric.get(column) or _Numeric()
        try:
            if s.exact:
                vals = np.frombuffer(w.rows[column], dtype=np.float64) if column in w.rows else np.empty(0)
                r = column_drift(ref, vals, method=method)
                r.error_bound = 0.0
                return r
            return self._binned(ref.array(), ref, s, column, method)
        finally:
            ref.release()

    def _binned(self, ref_sorted: FloatArray, ref: Any, s: _Numeric, column: str, method: str | None) -> ColumnDrift:
        assert s.counts is not None
        edges = self.edges(column)
        n_cur = int(s.counts.sum())
        outer = np.concatenate([[min(s.lo, edges[0])], edges, [max(s.hi, edges[-1])]])
        left, right = outer[:-1], outer[1:]
        shares = s.counts / n_cur
        chosen = method or ("wasserstein" if ref.n > 1000 else "ks")
        chosen = {"js": "jensenshannon"}.get(chosen, chosen)
        out = ColumnDrift(
            column,
            "numeric",
            chosen,
            math.nan,
            0.1 if chosen != "ks" else 0.05,
            False,
            n_reference=ref.n,
            n_current=n_cur,
        )
        out.missing_reference = ref.missing_rate
        out.missing_current = s.missing / (n_cur + s.missing) if n_cur + s.missing else 0.0
        out.note = "beyond the memory budget: binned summary, within error_bound of the exact value"
        if chosen == "wasserstein":
            mids = (left + right) / 2
            raw = float(stats.wasserstein_distance(ref_sorted, mids, v_weights=s.counts.astype(np.float64) + 1e-300))
            norm = max(ref.std, 0.001)
            out.wasserstein_raw = raw
            out.value = raw / norm
            out.error_bound = float(np.sum(shares * (right - left)) / 2 / norm)
            out.drifted = out.value >= out.threshold
        elif chosen == "ks":
            f_ref = np.searchsorted(ref_sorted, edges, side="right") / ref.n
            f_cur = np.cumsum(s.counts)[:-1] / n_cur
            d = float(np.max(np.abs(f_ref - f_cur)))
            ref_mass = np.diff(np.concatenate([[0.0], f_ref, [1.0]]))
            out.statistic = d
            m, n = sorted([float(ref.n), float(n_cur)], reverse=True)
            out.value = float(np.clip(stats.kstwo.sf(d, np.round(m * n / (m + n))), 0, 1))
            out.error_bound = float(np.max(np.maximum(ref_mass, shares)))
            out.drifted = out.value <= out.threshold
        else:
            lo, hi = min(float(ref_sorted[0]), s.lo), max(float(ref_sorted[-1]), s.hi)
            st_edges = sturges_edges(lo, hi, ref.n + n_cur)
            # Each fixed bin's count is spread uniformly over its width into the Sturges bins.
            cdf_at = np.interp(st_edges, np.concatenate([[left[0]], right]), np.concatenate([[0.0], np.cumsum(shares)]))
            cur = np.diff(cdf_at)
            rs = np.diff(np.searchsorted(ref_sorted, st_edges, side="left")).astype(np.float64)
            rs[-1] += np.count_nonzero(ref_sorted == st_edges[-1])
            rs /= ref.n
            out.value = psi_value(fill_zeroes(rs), fill_zeroes(cur)) if chosen == "psi" else js_distance(rs, cur)
            out.error_bound = float(shares.max())
            out.drifted = out.value >= out.threshold
        return out

    def summary(self) -> list[dict[str, Any]]:
        """Per window: start, decisions, seq range, and whether it is still exact."""
        return [
            {"start": k, "n": w.n, "first_seq": w.first_seq, "last_seq": w.last_seq, "exact": w.exact}
            for k, w in sorted(self.windows.items())
        ]

    # -- persistence -----------------------------------------------------------------------------

    def params(self) -> dict[str, Any]:
        """What a saved state must match to be reused (else it is rebuilt from the ledger)."""
        return {
            "version": STATE_VERSION,
            "model": self.model,
            "env": self.env,
            "seconds": self.seconds,
            "count": self.count,
            "budget_rows": self.budget_rows,
            "bins": self.bins,
            "seed": self.seed,
            "profile": self.profile.digest,
            "kinds": self.kinds,
        }

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the state (atomically: a crash leaves the previous state, or none)."""
        arrays: dict[str, np.ndarray[Any, Any]] = {}
        wins = []
        for i, (key, w) in enumerate(sorted(self.windows.items())):
            self._flush(w)
            for j, col in enumerate(w.rows.values()):
                arrays[f"w{i}r{j}"] = np.frombuffer(col, dtype=np.float64 if col.typecode == "d" else np.int32)
            for j, s in enumerate(w.numeric.values()):
                if s.counts is not None:
                    arrays[f"w{i}b{j}"] = s.counts
            wins.append(
                {
                    "key": key,
                    "n": w.n,
                    "first_seq": w.first_seq,
                    "last_seq": w.last_seq,
                    "first_ts": w.first_ts,
                    "last_ts": w.last_ts,
                    "ids": w.ids,
                    "rows": list(w.rows),
                    "numeric": {n: _numeric_header(s) for n, s in w.numeric.items()},
                    "categorical": w.categorical,
                    "cat_missing": w.cat_missing,
                    "ids_file": w.ids_file,
                    "rng_state": None if w.rng is None else w.rng.bit_generator.state,
                }
            )
        header = {
            "params": self.params(),
            "last_seq": self.last_seq,
            "index": self.index,
            "max_key": self.max_key if math.isfinite(self.max_key) else None,
            "names": self.names,
            "windows": wins,
        }
        arrays["header"] = np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)
        buf = io.BytesIO()
        np.savez(buf, **arrays)  # type: ignore[arg-type]
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".tmp")
        tmp.write_bytes(buf.getvalue())
        os.replace(tmp, target)

    def load(self, path: str | os.PathLike[str]) -> bool:
        """Take the state saved at ``path`` if it matches this projection's parameters; False otherwise."""
        try:
            z = np.load(os.fspath(path), allow_pickle=False)
            header = json.loads(bytes(z["header"]).decode("utf-8"))
        except (OSError, ValueError, KeyError):
            return False
        if header.get("params") != json.loads(json.dumps(self.params())):
            return False
        self.last_seq = int(header["last_seq"])
        self.index = int(header["index"])
        self.max_key = -math.inf if header["max_key"] is None else float(header["max_key"])
        self.names = {k: list(v) for k, v in header["names"].items()}
        self.codes = {k: {t: i for i, t in enumerate(v)} for k, v in self.names.items()}
        self.windows = {}
        for i, h in enumerate(header["windows"]):
            w = WindowSummary(float(h["key"]), int(h["n"]), h["first_seq"], h["last_seq"], h["first_ts"], h["last_ts"])
            w.ids = list(h["ids"])
            for j, name in enumerate(h["rows"]):
                a = z[f"w{i}r{j}"]
                col = array("d" if a.dtype == np.float64 else "i")
                col.frombytes(a.tobytes())
                w.rows[name] = col
            for j, (name, (lo, hi, missing, binned)) in enumerate(h["numeric"].items()):
                w.numeric[name] = _Numeric(
                    np.asarray(z[f"w{i}b{j}"], dtype=np.int64) if binned else None,
                    math.inf if lo is None else lo,
                    -math.inf if hi is None else hi,
                    int(missing),
                )
            w.categorical = {k: dict(v) for k, v in h["categorical"].items()}
            w.cat_missing = dict(h["cat_missing"])
            w.ids_file = h["ids_file"]
            if h["rng_state"] is not None:
                w.rng = np.random.default_rng()
                w.rng.bit_generator.state = h["rng_state"]
            if w.ids_file is not None and not os.path.exists(w.ids_file):
                return False  # its spilled ids are gone: rebuild
            self.windows[w.start] = w
        return True


def _numeric_header(s: _Numeric) -> list[Any]:
    lo = s.lo if math.isfinite(s.lo) else None
    hi = s.hi if math.isfinite(s.hi) else None
    return [lo, hi, s.missing, s.counts is not None]


def state_path(trail: Trail, projection: MonitorProjection) -> Path:
    """Where ``monitor run`` keeps a projection's state: ``<trail>/monitor/<hash of its parameters>.npz``."""
    digest = hashlib.sha256(json.dumps(projection.params(), sort_keys=True).encode("utf-8")).hexdigest()[:24]
    return Path(trail.path) / "monitor" / f"state-{digest}.npz"


def rebuild(trail: Trail, profile: ReferenceProfile, model: str, env: str | None, **kw: Any) -> MonitorProjection:
    """A projection rebuilt from the whole ledger."""
    proj = MonitorProjection(profile, model, env, **kw)
    proj.catch_up(trail)
    return proj


def bounds_ok(results: Mapping[str, ColumnDrift], exact: Mapping[str, ColumnDrift]) -> bool:
    """Whether every binned value is within its stated bound of the exact one (used by the tests)."""
    for name, r in results.items():
        e = exact[name]
        got = r.statistic if r.method == "ks" else r.value
        want = e.statistic if e.method == "ks" else e.value
        if got is None or want is None or abs(got - want) > (r.error_bound or 0.0) + 1e-12:
            return False
    return True
