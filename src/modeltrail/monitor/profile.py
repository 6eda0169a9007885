"""Reference profiles: what production is compared with, computed once per model version and stored.

A profile holds, per numeric column, the sorted finite reference values (so every drift statistic is
exact and the reference is never re-sorted or re-read per run), per categorical column the category
counts, the missing counts, and optionally the reference performance and fairness figures and an
isotonic calibration map of the score (used by label-free performance estimation).

It is stored as one blob (an ``.npz`` archive read with ``allow_pickle=False``: only arrays and a JSON
header, nothing executable) and announced by a ``monitor.profile`` event about the model version.
Arrays are loaded lazily column by column, so a drift run holds one reference column at a time.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import threading
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from ..errors import NotFoundError, ValidationError
from ..events import Actor, Receipt

if TYPE_CHECKING:
    from ..trail import Trail

FloatArray = np.ndarray[Any, np.dtype[np.float64]]
Kind = Literal["numeric", "categorical"]

PROFILE_EVENT = "monitor.profile"
SCHEMA = "modeltrail/monitor-profile/v1"
SCORE = "score"
"""Name of the score column in profiles and windows (the guard's ``score``: probability of class 1)."""


@dataclass
class ColumnProfile:
    """One reference column: sorted finite values (numeric) or category counts (categorical)."""

    name: str
    kind: Kind
    n: int
    missing: int
    values: FloatArray | None = None
    counts: dict[str, int] | None = None
    std: float = 0.0
    unique: int = 0
    loader: Callable[[], FloatArray] | None = field(default=None, repr=False, compare=False)

    def array(self) -> FloatArray:
        """The sorted reference values (loaded from the profile file on first use when lazy)."""
        if self.values is None and self.loader is not None:
            self.values = self.loader()
        if self.values is None:
            raise ValidationError(f"{self.name!r} is a categorical column: it has no value array", field="column")
        return self.values

    def release(self) -> None:
        """Drop a lazily loaded value array (it is read again when needed): bounds a run's memory."""
        if self.loader is not None:
            self.values = None

    @property
    def missing_rate(self) -> float:
        """Share of reference rows where the column is missing (NaN, None or infinite)."""
        total = self.n + self.missing
        return self.missing / total if total else 0.0

    def value_counts(self) -> dict[Any, int]:
        """Counts per distinct value (numbers as floats for numeric columns)."""
        if self.kind == "categorical":
            return dict(self.counts or {})
        u, c = np.unique(self.array(), return_counts=True)
        return {float(k): int(v) for k, v in zip(u.tolist(), c.tolist(), strict=True)}

    def summary(self) -> dict[str, Any]:
        """JSON-safe header entry (without the value array)."""
        out: dict[str, Any] = {"kind": self.kind, "n": self.n, "missing": self.missing, "unique": self.unique}
        if self.kind == "numeric":
            out["std"] = self.std
        else:
            out["counts"] = self.counts
        return out


@dataclass
class ReferenceProfile:
    """The reference of one model version: column profiles plus reference figures and calibration."""

    columns: dict[str, ColumnProfile]
    n_rows: int
    model: str | None = None
    performance: dict[str, float] = field(default_factory=dict)
    fairness: dict[str, float] = field(default_factory=dict)
    calibration: tuple[list[float], list[float]] | None = None
    source: str | None = None
    digest: str | None = None

    @property
    def features(self) -> list[str]:
        """Column names other than the score."""
        return [c for c in self.columns if c != SCORE]

    def column(self, name: str) -> ColumnProfile:
        """The profile of ``name``; NotFoundError naming the known columns."""
        try:
            return self.columns[name]
        except KeyError:
            raise NotFoundError(
                f"the reference profile has no column {name!r} (it has {sorted(self.columns)})"
            ) from None

    def calibrate(self, scores: Any) -> FloatArray:
        """Scores mapped through the reference's isotonic calibration (identity when there is none)."""
        s = np.asarray(scores, dtype=np.float64)
        if self.calibration is None:
            return s
        x, y = self.calibration
        out: FloatArray = np.interp(s, np.asarray(x), np.asarray(y))
        return out

    # -- encoding --------------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        """The ``.npz`` blob: a JSON header plus one float64 array per numeric column."""
        header = {
            "schema": SCHEMA,
            "n_rows": self.n_rows,
            "model": self.model,
            "source": self.source,
            "performance": self.performance,
            "fairness": self.fairness,
            "calibration": None if self.calibration is None else [list(self.calibration[0]), list(self.calibration[1])],
            "columns": {name: c.summary() for name, c in self.columns.items()},
            "order": list(self.columns),
        }
        arrays: dict[str, np.ndarray[Any, Any]] = {
            "header": np.frombuffer(json.dumps(header, sort_keys=True).encode("utf-8"), dtype=np.uint8)
        }
        for i, c in enumerate(self.columns.values()):
            if c.kind == "numeric":
                arrays[f"c{i}"] = c.array()
        buf = io.BytesIO()
        np.savez(buf, **arrays)  # type: ignore[arg-type]
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes, digest: str | None = None) -> ReferenceProfile:
        """Parse a profile blob held in memory; ValidationError when it is not one."""
        return cls._parse(io.BytesIO(data), digest, lazy=False)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], digest: str | None = None) -> ReferenceProfile:
        """Open a profile file; numeric columns are read one at a time, when a statistic needs them."""
        return cls._parse(os.fspath(path), digest, lazy=True)

    @classmethod
    def _parse(cls, source: Any, digest: str | None, *, lazy: bool) -> ReferenceProfile:
        try:
            z = np.load(source, allow_pickle=False)
            header = json.loads(bytes(z["header"]).decode("utf-8"))
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
            raise ValidationError(f"not a monitoring profile blob ({exc})", field="profile") from None
        if header.get("schema") != SCHEMA:
            raise ValidationError(f"expected schema {SCHEMA}, got {header.get('schema')!r}", field="profile")
        columns: dict[str, ColumnProfile] = {}
        lock = threading.Lock()
        for i, name in enumerate(header["order"]):
            h = header["columns"][name]
            values = None
            loader = None
            if h["kind"] == "numeric":
                key = f"c{i}"
                if lazy:
                    loader = _member_loader(z, key, lock)
                else:
                    values = np.asarray(z[key], dtype=np.float64)
            columns[name] = ColumnProfile(
                name,
                h["kind"],
                int(h["n"]),
                int(h["missing"]),
                values,
                h.get("counts"),
                float(h.get("std", 0.0)),
                int(h["unique"]),
                loader,
            )
        cal = header.get("calibration")
        return cls(
            columns,
            int(header["n_rows"]),
            header.get("model"),
            dict(header.get("performance") or {}),
            dict(header.get("fairness") or {}),
            None if cal is None else (list(cal[0]), list(cal[1])),
            header.get("source"),
            digest,
        )


def _member_loader(z: Any, key: str, lock: threading.Lock) -> Callable[[], FloatArray]:
    def load() -> FloatArray:
        with lock:  # one zip file handle: threads of a drift report read members one at a time
            out: FloatArray = np.asarray(z[key], dtype=np.float64)
        return out

    return load


def numeric_column(values: Any) -> tuple[FloatArray, int]:
    """Finite values as float64 and the count of missing ones (NaN, None, ±inf: Evidently drops them too)."""
    if isinstance(values, np.ndarray) and values.dtype.kind in "fiu":
        arr = values.astype(np.float64, copy=False)
    elif isinstance(values, pd.Series) and values.dtype.kind in "fiu":
        arr = values.to_numpy(dtype=np.float64)
    else:
        arr = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    finite = np.isfinite(arr)
    return arr[finite], int(arr.shape[0] - int(finite.sum()))


def categorical_counts(values: Any) -> tuple[dict[str, int], int]:
    """Counts per category (as text) and the count of missing values."""
    # value_counts on the column as it is (Arrow strings stay Arrow): converting to objects first
    # costs more than the counting.
    s = values if isinstance(values, pd.Series) else pd.Series(values, dtype="object")
    vc = s.value_counts(dropna=True, sort=False)
    counts: dict[str, int] = {}
    for k, v in zip(vc.index.tolist(), vc.to_numpy().tolist(), strict=True):
        key = str(k)
        counts[key] = counts.get(key, 0) + int(v)
    return counts, int(len(s) - sum(counts.values()))


def is_numeric(series: pd.Series) -> bool:
    """Numeric dtype and not boolean (booleans are categories)."""
    return bool(pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series))


def profile_column(name: str, values: Any, kind: Kind) -> ColumnProfile:
    """Profile one reference column."""
    if kind == "numeric":
        finite, missing = numeric_column(values)
        finite.sort()
        unique = int(np.count_nonzero(np.diff(finite))) + 1 if finite.size else 0
        std = float(np.std(finite)) if finite.size else 0.0
        return ColumnProfile(name, "numeric", int(finite.size), missing, finite, None, std, unique)
    counts, missing = categorical_counts(values)
    return ColumnProfile(name, "categorical", sum(counts.values()), missing, None, counts, 0.0, len(counts))


def build_profile(
    frame: pd.DataFrame,
    *,
    model: str | None = None,
    categorical: Iterable[str] = (),
    scores: Any = None,
    labels: Any = None,
    groups: pd.DataFrame | Mapping[str, Any] | None = None,
    threshold: float = 0.5,
    source: str | None = None,
) -> ReferenceProfile:
    """Profile a reference frame (the validation or reference data of a model version).

    Numeric dtypes are numeric columns unless named in ``categorical``; everything else is categorical.
    ``scores`` (the model's probability of class 1 on the reference) adds the score column; with
    ``labels`` too, the reference performance figures and an isotonic calibration map are stored; with
    ``groups`` (protected attributes) the reference fairness figures.
    """
    if not isinstance(frame, pd.DataFrame):
        raise ValidationError(f"expected a pandas DataFrame, got {type(frame).__name__}", field="frame")
    if frame.shape[0] == 0:
        raise ValidationError("the reference frame has no rows", field="frame")
    cats = set(categorical)
    unknown = cats - set(frame.columns)
    if unknown:
        raise ValidationError(f"not columns of the frame: {sorted(unknown)}", field="categorical")
    columns: dict[str, ColumnProfile] = {}
    for name in frame.columns:
        col = frame[name]
        kind: Kind = "numeric" if is_numeric(col) and name not in cats else "categorical"
        columns[str(name)] = profile_column(str(name), col, kind)
    performance: dict[str, float] = {}
    fairness: dict[str, float] = {}
    calibration = None
    if scores is not None:
        s = np.asarray(scores, dtype=np.float64)
        if s.shape[0] != frame.shape[0]:
            raise ValidationError(f"expected {frame.shape[0]} scores, got {s.shape[0]}", field="scores")
        columns[SCORE] = profile_column(SCORE, s, "numeric")
        if labels is not None:
            from .performance import fit_calibration, labelled_figures

            y = np.asarray(labels)
            calibration = fit_calibration(s, y)
            performance = labelled_figures(y, s, threshold)
            if groups is not None:
                from .fairness import fairness_figures

                fairness = fairness_figures(y, (s >= threshold).astype(int), groups)
    return ReferenceProfile(columns, int(frame.shape[0]), model, performance, fairness, calibration, source)


def record_profile(
    trail: Trail,
    profile: ReferenceProfile,
    *,
    model: str,
    system: str,
    actor: Actor | Mapping[str, str],
    refs: Sequence[str] = (),
) -> Receipt:
    """Store the profile blob and record ``monitor.profile`` about ``model`` (``model:name@v``)."""
    if not model.startswith("model:") or "@" not in model:
        raise ValidationError(
            f"expected a model version reference such as model:credit@2, got {model!r}", field="model"
        )
    profile.model = model
    digest = trail.blobs.put_bytes(profile.to_bytes())
    profile.digest = digest
    payload = {
        "profile_sha256": digest,
        "schema": SCHEMA,
        "rows": profile.n_rows,
        "columns": {n: c.kind for n, c in profile.columns.items()},
        "performance": profile.performance,
        "fairness": profile.fairness,
        "calibrated": profile.calibration is not None,
        "source": profile.source,
    }
    return trail.record(
        PROFILE_EVENT,
        system=system,
        actor=actor,
        subject=model,
        payload=payload,
        refs=[model, f"blob:sha256:{digest}", *refs],
    )


def load_profile(trail: Trail, model: str) -> tuple[ReferenceProfile, int]:
    """The latest recorded profile of ``model`` (``model:name@v``) and the seq of its event."""
    latest = None
    for ev in trail.events(PROFILE_EVENT, subject=model, descending=True, limit=1):
        latest = ev
    if latest is None:
        raise NotFoundError(f"no reference profile recorded for {model} (record one with monitor profile)")
    digest = str(latest.payload["profile_sha256"])
    if not trail.blobs.verify(digest):  # streamed: the profile is read lazily afterwards
        raise ValidationError(f"the profile blob {digest} does not match its hash", field="profile")
    return ReferenceProfile.from_file(_profile_file(trail, digest), digest), latest.seq


def _profile_file(trail: Trail, digest: str) -> Path:
    """A local file holding the profile blob: the blob itself in a folder store, else a cached copy.

    Blobs kept in the database or S3 have no path; the copy (streamed, under ``<trail>/monitor/``) lets
    the profile's columns still be read one at a time.
    """
    local = getattr(trail.blobs, "path", None)
    if callable(local):
        try:
            p = Path(local(digest))
        except (OSError, ValueError, NotImplementedError):
            p = None
        if p is not None and p.is_file():
            return p
    cache = Path(trail.path) / "monitor" / f"profile-{digest}.npz"
    if not cache.is_file():
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp")
        with trail.blobs.open(digest) as src, open(tmp, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        os.replace(tmp, cache)
    return cache
