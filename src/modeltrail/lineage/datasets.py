"""Dataset versions: a deterministic content hash, schema, row count and a small profile, per version.

Registering records ``dataset.registered`` with subject ``dataset:<name>@<first 16 hex of the hash>``. The
data itself is not copied into the trail (datasets are large and may hold personal data); the hash lets
anyone holding the data prove it is the registered version.

Content hash ``modeltrail-dataset/v1``
======================================

Notation: ``u64(n)`` is ``n`` as 8 bytes little-endian; ``text(s)`` is ``u64(len(b)) ‖ b`` with ``b`` the
UTF-8 bytes of ``s``; ``H`` is SHA-256; the result is written as 64 lower-case hex characters.

File
    ``H(file bytes)``: the same as ``sha256sum`` and as the file's blob digest.

Folder
    ``H("modeltrail-dataset/v1:dir\\n" ‖ for each file: text(path) ‖ H(file bytes))`` (the 32 raw digest
    bytes) over every regular file below the folder, hidden ones included; ``path`` is relative, with
    ``/`` separators; files are ordered by the UTF-8 bytes of ``path``. Symbolic links to files count as
    the file they point to; linked folders are not entered. Empty folders do not count.

Table (pandas or polars DataFrame, 1-d structured numpy array)
    ``H("modeltrail-dataset/v1:table\\n" ‖ u64(columns) ‖ u64(rows) ‖ for each column: text(name) ‖
    text(kind) ‖ then for each column: column(values))``. Column names are ``str(name)``, in frame order;
    the row index is not part of the data. ``kind`` is the logical type the column is hashed as:

    - ``int64``: any integer type (also nullable ones); ``uint64`` only for unsigned columns above 2^63-1;
    - ``float64``: any float type; ``bool``; ``datetime`` (nanoseconds since 1970-01-01 UTC, a naive
      timestamp taken as UTC; polars dates are midnight); ``timedelta`` (nanoseconds);
    - ``string``: everything else (strings, categoricals, objects; non-string values as ``str(value)``).

``column(values)`` for ``n`` values is ``u64(missing) ‖ [bitmap] ‖ payload`` where ``missing`` counts null
values (NaN counts as null in a float column); the bitmap, present only when ``missing > 0``, is
``ceil(n/8)`` bytes with bit ``i % 8`` (least significant first) of byte ``i // 8`` set when value ``i``
is null. ``payload``: ``int64``/``uint64``/``datetime``/``timedelta`` as 8-byte little-endian integers,
``float64`` as IEEE-754 binary64 little-endian with every NaN written as ``0x7ff8000000000000`` and ``-0.0``
as ``0.0``, ``bool`` as one byte 0/1, ``string`` as ``u64`` lengths of all values followed by their
concatenated UTF-8 bytes. A null is written as 0 / 0.0's NaN pattern / empty string.

numpy array (not structured)
    ``H("modeltrail-dataset/v1:array\\n" ‖ text(kind) ‖ u64(ndim) ‖ u64(each dimension) ‖
    column(values in C order))`` with the kinds above (int8 … uint32 → ``int64``, float16/32 → ``float64``).

Consequences (tested): the same table hashes the same in every process and on every machine, whether it
came from pandas or polars and whatever int/float widths it was stored in; a CSV *file* hashes its bytes,
so the file and the DataFrame read from it have different hashes (both are recorded if both are
registered); an integer column with missing values that a reader turned into floats hashes as ``float64``.

Profile
=======
Per column (the first 100): ``missing``; for numbers ``min``, ``max``, ``mean``; for ``datetime`` the
range as ISO text; for ``bool`` the number true; for strings the number of distinct values and, only when
there are at most 50 distinct values, the 5 most frequent ones that occur at least 5 times (so that rare
values, which could identify a person, never enter the ledger; values cut to 64 characters). The whole
profile is kept under 8 KB.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import NotFoundError, ValidationError
from ..events import Actor
from .entities import DATASET_ROLES, DatasetVersion, dataset_ref
from .runs import Run

if TYPE_CHECKING:
    import pandas as pd

    from ..trail import Trail

HASH_METHOD = "modeltrail-dataset/v1"
PROFILE_COLUMNS = 100
PROFILE_MAX_BYTES = 8 * 1024
TOP_VALUES = 5
TOP_MAX_DISTINCT = 50
TOP_MIN_COUNT = 5
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-/]{0,199}")
_CANONICAL_NAN = np.array([0x7FF8000000000000], dtype="<u8").view("<f8")[0]
_TABULAR_SUFFIXES = {".csv": "csv", ".tsv": "tsv", ".parquet": "parquet", ".pq": "parquet"}
_CHUNK = 1 << 20


def _u64(n: int) -> bytes:
    return int(n).to_bytes(8, "little")


def _text(s: str) -> bytes:
    b = s.encode("utf-8")
    return _u64(len(b)) + b


@dataclass
class Column:
    """One column in canonical form: logical kind, null mask, and values (numpy array or list of str)."""

    name: str
    kind: str
    dtype: str
    mask: np.ndarray[Any, np.dtype[np.bool_]]
    values: Any

    def __len__(self) -> int:
        return int(self.mask.shape[0])

    def encode(self) -> Iterator[bytes]:
        """The column's bytes as defined in the module docstring, in pieces."""
        missing = int(self.mask.sum())
        yield _u64(missing)
        if missing:
            yield np.packbits(self.mask, bitorder="little").tobytes()
        if self.kind == "string":
            encoded = [s.encode("utf-8") for s in self.values]
            yield np.fromiter(map(len, encoded), dtype="<u8", count=len(encoded)).tobytes()
            yield b"".join(encoded)
        elif self.kind == "float64":
            v = np.asarray(self.values, dtype="<f8").copy()
            v[self.mask | np.isnan(v)] = _CANONICAL_NAN
            v[v == 0.0] = 0.0  # folds -0.0 into +0.0
            yield v.tobytes()
        elif self.kind == "bool":
            yield np.asarray(self.values, dtype=np.uint8).tobytes()
        elif self.kind == "uint64":
            yield np.asarray(self.values, dtype="<u8").tobytes()
        else:
            yield np.asarray(self.values, dtype="<i8").tobytes()


# ------------------------------------------------------------------------------------ canonical form


def _int_column(name: str, dtype: str, mask: np.ndarray[Any, Any], values: np.ndarray[Any, Any]) -> Column:
    if values.dtype.kind == "u" and values.size and int(values.max()) > np.iinfo(np.int64).max:
        return Column(name, "uint64", dtype, mask, values.astype("<u8"))
    return Column(name, "int64", dtype, mask, values.astype("<i8"))


def _strings(values: Iterable[Any], mask: np.ndarray[Any, Any]) -> list[str]:
    return ["" if m else (v if isinstance(v, str) else str(v)) for v, m in zip(values, mask, strict=True)]


def _from_numpy_1d(name: str, arr: np.ndarray[Any, Any]) -> Column:
    dtype = str(arr.dtype)
    k = arr.dtype.kind
    if k == "b":
        return Column(name, "bool", dtype, np.zeros(arr.shape[0], bool), arr.astype(np.uint8))
    if k in "iu":
        return _int_column(name, dtype, np.zeros(arr.shape[0], bool), arr)
    if k == "f":
        v = arr.astype("<f8")
        return Column(name, "float64", dtype, np.isnan(v), v)
    if k == "M":
        mask = np.isnat(arr)
        v = arr.astype("datetime64[ns]").astype("<i8")
        v[mask] = 0
        return Column(name, "datetime", dtype, mask, v)
    if k == "m":
        mask = np.isnat(arr)
        v = arr.astype("timedelta64[ns]").astype("<i8")
        v[mask] = 0
        return Column(name, "timedelta", dtype, mask, v)
    if k == "c":
        raise ValidationError("complex numbers are not supported by modeltrail-dataset/v1", field="data")
    mask = np.array([v is None or (isinstance(v, float) and math.isnan(v)) for v in arr], dtype=bool)
    if k == "S":
        values = [b.decode("utf-8", "replace") for b in arr.tolist()]
        return Column(name, "string", dtype, mask, _strings(values, mask))
    return Column(name, "string", dtype, mask, _strings(arr.tolist(), mask))


def _pandas_columns(df: pd.DataFrame) -> list[Column]:
    import pandas as pd
    from pandas.api import types as pt

    cols: list[Column] = []
    for label in df.columns:
        s = df[label]
        name, dtype = str(label), str(s.dtype)
        mask = s.isna().to_numpy(dtype=bool)
        if pt.is_bool_dtype(s.dtype):
            cols.append(Column(name, "bool", dtype, mask, s.fillna(False).to_numpy(dtype=np.uint8)))
        elif pt.is_integer_dtype(s.dtype):
            cols.append(_int_column(name, dtype, mask, s.fillna(0).to_numpy()))
        elif pt.is_float_dtype(s.dtype):
            cols.append(Column(name, "float64", dtype, mask, s.to_numpy(dtype="<f8", na_value=np.nan)))
        elif pt.is_datetime64_any_dtype(s.dtype):
            if isinstance(s.dtype, pd.DatetimeTZDtype):
                s = s.dt.tz_convert("UTC").dt.tz_localize(None)
            v = s.astype("datetime64[ns]").to_numpy().astype("<i8")
            v[mask] = 0
            cols.append(Column(name, "datetime", dtype, mask, v))
        elif pt.is_timedelta64_dtype(s.dtype):
            v = s.astype("timedelta64[ns]").to_numpy().astype("<i8")
            v[mask] = 0
            cols.append(Column(name, "timedelta", dtype, mask, v))
        else:
            cols.append(Column(name, "string", dtype, mask, _strings(s.to_numpy(dtype=object), mask)))
    return cols


def _polars_columns(df: Any) -> list[Column]:
    import polars as pl

    cols: list[Column] = []
    for s in df.get_columns():
        name, dt = str(s.name), s.dtype
        mask = s.is_null().to_numpy().astype(bool)
        if dt == pl.Boolean:
            cols.append(Column(name, "bool", str(dt), mask, s.fill_null(False).to_numpy().astype(np.uint8)))
        elif dt.is_integer():
            cols.append(_int_column(name, str(dt), mask, s.fill_null(0).to_numpy()))
        elif dt.is_float():
            v = s.cast(pl.Float64).fill_null(float("nan")).to_numpy().astype("<f8")
            cols.append(Column(name, "float64", str(dt), mask | np.isnan(v), v))
        elif dt in (pl.Date, pl.Datetime) or isinstance(dt, pl.Datetime):
            if isinstance(dt, pl.Datetime) and dt.time_zone is not None:
                s = s.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
            v = s.cast(pl.Datetime("ns")).dt.epoch("ns").fill_null(0).to_numpy().astype("<i8")
            cols.append(Column(name, "datetime", str(dt), mask, v))
        elif isinstance(dt, pl.Duration):
            v = s.dt.total_nanoseconds().fill_null(0).to_numpy().astype("<i8")
            cols.append(Column(name, "timedelta", str(dt), mask, v))
        else:
            cols.append(Column(name, "string", str(dt), mask, _strings(s.cast(pl.Utf8).to_list(), mask)))
    return cols


def _is_polars(data: Any) -> bool:
    return type(data).__module__.split(".")[0] == "polars" and type(data).__name__ == "DataFrame"


def _is_pandas(data: Any) -> bool:
    return type(data).__module__.split(".")[0] == "pandas" and type(data).__name__ == "DataFrame"


def table_columns(data: Any) -> list[Column]:
    """The canonical columns of a pandas/polars DataFrame or a 1-d structured numpy array."""
    if _is_pandas(data):
        return _pandas_columns(data)
    if _is_polars(data):
        return _polars_columns(data)
    if isinstance(data, np.ndarray) and data.dtype.names:
        if data.ndim != 1:
            raise ValidationError("structured arrays must be one-dimensional", field="data")
        return [_from_numpy_1d(str(n), data[n]) for n in data.dtype.names]
    raise ValidationError(f"expected a DataFrame, got {type(data).__name__}", field="data")


# ---------------------------------------------------------------------------------------------- hashing


def hash_table(columns: Sequence[Column], rows: int) -> str:
    """``modeltrail-dataset/v1`` hash of a table given in canonical columns."""
    h = hashlib.sha256(b"modeltrail-dataset/v1:table\n")
    h.update(_u64(len(columns)) + _u64(rows))
    for c in columns:
        h.update(_text(c.name) + _text(c.kind))
    for c in columns:
        for piece in c.encode():
            h.update(piece)
    return h.hexdigest()


def hash_array(arr: np.ndarray[Any, Any]) -> str:
    """``modeltrail-dataset/v1`` hash of a (non-structured) numpy array."""
    col = _from_numpy_1d("", np.ascontiguousarray(arr).reshape(-1))
    h = hashlib.sha256(b"modeltrail-dataset/v1:array\n")
    h.update(_text(col.kind) + _u64(arr.ndim) + b"".join(_u64(d) for d in arr.shape))
    for piece in col.encode():
        h.update(piece)
    return h.hexdigest()


def hash_file(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def folder_files(folder: Path) -> list[tuple[str, Path]]:
    """(relative POSIX path, path) of every regular file below ``folder``, in hash order."""
    out: list[tuple[str, Path]] = []
    for dirpath, _dirs, files in os.walk(folder, followlinks=False):
        for f in files:
            p = Path(dirpath) / f
            if p.is_file():
                out.append((p.relative_to(folder).as_posix(), p))
    out.sort(key=lambda t: t[0].encode("utf-8"))
    return out


def hash_folder(folder: str | os.PathLike[str]) -> str:
    """``modeltrail-dataset/v1`` hash of a folder (see the module docstring)."""
    h = hashlib.sha256(b"modeltrail-dataset/v1:dir\n")
    for rel, p in folder_files(Path(folder)):
        h.update(_text(rel) + bytes.fromhex(hash_file(p)))
    return h.hexdigest()


def content_hash(data: Any) -> str:
    """The ``modeltrail-dataset/v1`` hash of a file/folder path, DataFrame or numpy array."""
    if isinstance(data, str | os.PathLike):
        p = Path(data)
        if p.is_dir():
            return hash_folder(p)
        if p.is_file():
            return hash_file(p)
        raise NotFoundError(f"no file or folder {p}")
    if isinstance(data, np.ndarray) and not data.dtype.names:
        return hash_array(data)
    cols = table_columns(data)
    return hash_table(cols, _rows(data))


def _rows(data: Any) -> int:
    if _is_polars(data):
        return int(data.height)
    return len(data)


# ---------------------------------------------------------------------------------------------- profile


def _num(v: Any) -> float | int | None:
    f = float(v)
    if not math.isfinite(f):
        return None
    return int(f) if f.is_integer() and abs(f) < 2**53 else round(f, 10)


def _profile_column(c: Column) -> dict[str, Any]:
    p: dict[str, Any] = {"kind": c.kind, "missing": int(c.mask.sum())}
    present = ~c.mask
    if c.kind in ("int64", "uint64", "float64", "timedelta"):
        v = np.asarray(c.values)[present]
        if c.kind == "float64":
            v = v[np.isfinite(v)]
        if v.size:
            p.update(min=_num(v.min()), max=_num(v.max()), mean=_num(np.mean(v.astype("f8"))))
    elif c.kind == "datetime":
        v = np.asarray(c.values)[present]
        if v.size:
            p.update(min=str(np.datetime64(int(v.min()), "ns"))[:26], max=str(np.datetime64(int(v.max()), "ns"))[:26])
    elif c.kind == "bool":
        p["true"] = int(np.asarray(c.values)[present].sum())
    else:
        counts = Counter(s for s, m in zip(c.values, c.mask, strict=True) if not m)
        p["distinct"] = len(counts)
        if len(counts) <= TOP_MAX_DISTINCT:
            # Sorted by count, then value, so the profile is deterministic.
            top = sorted(((n, s) for s, n in counts.items() if n >= TOP_MIN_COUNT), key=lambda t: (-t[0], t[1]))
            p["top"] = [[s[:64], n] for n, s in top[:TOP_VALUES]]
    return p


def _shrink(profile: dict[str, Any]) -> dict[str, Any]:
    def size(p: Mapping[str, Any]) -> int:
        return len(json.dumps(p, separators=(",", ":"), ensure_ascii=False).encode())

    if size(profile) <= PROFILE_MAX_BYTES:
        return profile
    cols = profile.get("columns", {})
    for c in cols.values():
        c.pop("top", None)
    profile["truncated"] = True
    while size(profile) > PROFILE_MAX_BYTES and cols:
        cols.pop(next(reversed(cols)))
    return profile


def table_profile(columns: Sequence[Column], rows: int) -> dict[str, Any]:
    """The small per-column profile described in the module docstring."""
    profile: dict[str, Any] = {
        "rows": rows,
        "missing_cells": int(sum(int(c.mask.sum()) for c in columns)),
        "columns": {c.name: _profile_column(c) for c in columns[:PROFILE_COLUMNS]},
    }
    if len(columns) > PROFILE_COLUMNS:
        profile["truncated"] = True
    return _shrink(profile)


# ----------------------------------------------------------------------------------------- description


@dataclass
class Described:
    """What registration records about some data."""

    content_hash: str
    format: str
    rows: int | None
    columns: int | None
    schema: list[dict[str, Any]]
    profile: dict[str, Any]
    source: str | None


def _read_tabular(path: Path, fmt: str) -> pd.DataFrame | None:
    import pandas as pd

    try:
        if fmt == "parquet":
            return pd.read_parquet(path)
        return pd.read_csv(path, sep="\t" if fmt == "tsv" else ",")
    except (OSError, ValueError, ImportError):
        return None  # not readable as a table: registered by its bytes only


def describe(data: Any, *, profile: bool = True) -> Described:
    """Hash and describe ``data`` (file or folder path, pandas/polars DataFrame, numpy array)."""
    if isinstance(data, str | os.PathLike):
        p = Path(data)
        if p.is_dir():
            files = folder_files(p)
            return Described(
                hash_folder(p),
                "directory",
                None,
                None,
                [],
                {"files": len(files), "bytes": sum(f.stat().st_size for _, f in files)},
                str(data),
            )
        if not p.is_file():
            raise NotFoundError(f"no file or folder {p}")
        suffix = "".join(p.suffixes[-2:]).lower() if p.suffix.lower() == ".gz" else p.suffix.lower()
        fmt = _TABULAR_SUFFIXES.get(suffix.removesuffix(".gz"), suffix.lstrip(".") or "file")
        digest = hash_file(p)
        if profile and fmt in ("csv", "tsv", "parquet"):
            df = _read_tabular(p, fmt)
            if df is not None:
                cols = _pandas_columns(df)
                return Described(
                    digest,
                    fmt,
                    len(df),
                    len(cols),
                    [{"name": c.name, "dtype": c.dtype} for c in cols],
                    table_profile(cols, len(df)),
                    str(data),
                )
        return Described(digest, fmt, None, None, [], {"bytes": p.stat().st_size}, str(data))
    if isinstance(data, np.ndarray) and not data.dtype.names:
        col = _from_numpy_1d("values", np.ascontiguousarray(data).reshape(-1))
        prof = _profile_column(col) if profile else {}
        return Described(
            hash_array(data),
            "numpy",
            int(data.shape[0]) if data.ndim else 1,
            int(data.shape[1]) if data.ndim >= 2 else 1,
            [{"name": "values", "dtype": str(data.dtype), "shape": [int(d) for d in data.shape]}],
            {"values": prof} if profile else {},
            None,
        )
    cols = table_columns(data)
    rows = _rows(data)
    fmt = "polars" if _is_polars(data) else "pandas" if _is_pandas(data) else "numpy-structured"
    return Described(
        hash_table(cols, rows),
        fmt,
        rows,
        len(cols),
        [{"name": c.name, "dtype": c.dtype} for c in cols],
        table_profile(cols, rows) if profile else {},
        None,
    )


# ------------------------------------------------------------------------------------------ registering


def check_dataset_name(name: str) -> str:
    """``name`` if it is a valid dataset name, else :class:`ValidationError` on the ``name`` field."""
    if not isinstance(name, str) or not NAME_RE.fullmatch(name) or ".." in name.split("/"):
        raise ValidationError(
            f"expected a dataset name of letters, digits, '.', '_', '-', '/' (max 200), got {name!r}", field="name"
        )
    return name


def check_dataset_role(role: str) -> str:
    """``role`` if it is one of :data:`~modeltrail.lineage.entities.DATASET_ROLES`, else ValidationError."""
    if role not in DATASET_ROLES:
        raise ValidationError(f"expected one of {', '.join(DATASET_ROLES)}, got {role!r}", field="role")
    return role


def _parent_refs(parents: Iterable[DatasetVersion | str]) -> list[str]:
    out: list[str] = []
    for i, p in enumerate(parents):
        ref = p.ref if isinstance(p, DatasetVersion) else p
        if not isinstance(ref, str) or not ref.startswith("dataset:"):
            raise ValidationError(f"expected a DatasetVersion or 'dataset:NAME@HASH', got {p!r}", field=f"parents[{i}]")
        out.append(ref)
    return out


def _run_id(run: Run | str | None) -> str | None:
    if run is None:
        return None
    rid = run.run_id if isinstance(run, Run) else run
    return rid[len("run:") :] if rid.startswith("run:") else rid


def dataset_version(payload: Mapping[str, Any], system: str, seq: int, ts: str) -> DatasetVersion:
    """The :class:`DatasetVersion` a ``dataset.registered`` payload describes, recorded at ``seq``/``ts``."""
    return DatasetVersion(
        name=payload["name"],
        content_hash=payload["content_hash"],
        hash_method=payload["hash_method"],
        role=payload["role"],
        format=payload["format"],
        rows=payload["rows"],
        columns=payload["columns"],
        schema=list(payload["schema"]),
        profile=dict(payload["profile"]),
        source=payload["source"],
        run_id=payload["run_id"],
        parents=list(payload["parents"]),
        system=system,
        seq=seq,
        ts=ts,
        roles=[payload["role"]],
        extra={k: v for k, v in payload.items() if k == "dvc"},
    )


def register_dataset(
    trail: Trail,
    data: Any,
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
    """Hash, describe and record a dataset version (``dataset.registered``); returns it.

    ``data`` is a file or folder path, a pandas or polars DataFrame or a numpy array. A dataset
    registered with ``run`` is an input of that run; ``parents`` name the dataset versions it was derived
    from. ``source`` (default: the path given) says where the data lives. ``profile=False`` skips
    reading a CSV/Parquet file for its schema and profile.
    """
    check_dataset_name(name)
    check_dataset_role(role)
    d = describe(data, profile=profile)
    parent_refs = _parent_refs(parents)
    run_id = _run_id(run)
    payload: dict[str, Any] = {
        "name": name,
        "content_hash": d.content_hash,
        "hash_method": HASH_METHOD,
        "role": role,
        "format": d.format,
        "rows": d.rows,
        "columns": d.columns,
        "schema": d.schema,
        "profile": d.profile,
        "source": source if source is not None else d.source,
        "run_id": run_id,
        "parents": parent_refs,
    }
    ref = dataset_ref(name, d.content_hash)
    refs = [*parent_refs, *([f"run:{run_id}"] if run_id else [])]
    r = trail.record("dataset.registered", system=system, actor=actor, subject=ref, payload=payload, refs=refs)
    return dataset_version(payload, system, r.seq, r.ts)


__all__ = [
    "HASH_METHOD",
    "Column",
    "check_dataset_name",
    "check_dataset_role",
    "content_hash",
    "dataset_version",
    "describe",
    "hash_array",
    "hash_file",
    "hash_folder",
    "hash_table",
    "register_dataset",
    "table_columns",
    "table_profile",
]
