"""Model versions: a stored artifact in a safe format, its signature, and links to its run and datasets.

Serialisation (the artifact is a blob; the event carries its sha256):

- scikit-learn estimators and pipelines: ``skops`` (no code runs on load; types are checked first);
- XGBoost models: the native JSON model file; LightGBM models: the native text model file (when those
  libraries are installed);
- a file or a folder path: stored as is (a folder as an uncompressed tar with sorted entries and fixed
  owner, mode and time fields, so the same folder always gives the same digest);
- anything else, and pickle files, only with ``trusted=True`` (pickle can run arbitrary code on load).

Versions are numbered per model name, 1, 2, 3 …: the next number is the highest registered one plus one,
computed and recorded while holding a lock file in the trail folder (``locks/``), so concurrent
registrations by threads and processes sharing the trail never claim the same number. Writers on
different hosts appending to one PostgreSQL ledger do not share that lock; should two of them claim a
number, the lineage projection keeps the first in ledger order and lists the other under
``duplicate_registrations``.

:func:`load_model` fetches the blob, checks its sha256, and refuses what it cannot load safely: skops
files holding types outside an allow-list (scikit-learn, numpy and builtins) and pickles, unless the
caller passes ``trusted=True`` (:class:`~modeltrail.errors.TrustError`).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import io
import os
import pickle
import tarfile
import tempfile
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import IntegrityError, NotFoundError, TrustError, ValidationError
from ..events import Actor, EventInput
from .datasets import NAME_RE, _is_pandas, _is_polars, table_columns
from .entities import DatasetVersion, ModelVersion, model_ref
from .jsonsafe import json_value
from .queries import get_dataset, get_model_version, latest_model_version
from .runs import Run

if TYPE_CHECKING:
    from ..trail import Trail

FORMATS = ("skops", "xgboost-json", "lightgbm-text", "pickle", "file", "directory")
PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib")
SAFE_TYPE_PREFIXES = ("sklearn.", "numpy.", "scipy.sparse.")
"""skops types allowed on load without ``trusted=True``: scikit-learn's own classes and numpy/scipy data."""
SAFE_TYPES = frozenset(
    {
        "builtins.dict",
        "builtins.list",
        "builtins.tuple",
        "builtins.slice",
        "collections.OrderedDict",
        "collections.defaultdict",
    }
)

_thread_locks: dict[str, threading.Lock] = {}
_thread_locks_guard = threading.Lock()


@dataclass
class Artifact:
    """A model artifact ready to store: in-memory bytes or a file/folder, with its format and origin.

    Built by :func:`register_model` from the user's object, or by an importer (MLflow) from a download.
    """

    data: bytes | None
    file: Path | None
    format: str
    framework: str | None
    framework_version: str | None
    cls: str | None
    filename: str | None = None


def _version_of(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _qualname(obj: Any) -> str:
    t = type(obj)
    return f"{t.__module__}.{t.__qualname__}"


def _top_module(obj: Any) -> str:
    return type(obj).__module__.split(".")[0]


# ------------------------------------------------------------------------------------------ serialising


def _is_pickle_file(path: Path) -> bool:
    if path.suffix.lower() in PICKLE_SUFFIXES:
        return True
    with path.open("rb") as fh:
        head = fh.read(2)
    # Pickle protocol 2+ starts with PROTO (0x80) and the protocol number.
    return len(head) == 2 and head[0] == 0x80 and 2 <= head[1] <= 5


def _tar_folder(folder: Path, out: io.BufferedIOBase | Any) -> None:
    """A reproducible tar: sorted entries, no owner names, mtime 0, modes 0644/0755."""
    with tarfile.open(fileobj=out, mode="w", format=tarfile.GNU_FORMAT) as tar:
        entries = sorted(folder.rglob("*"), key=lambda p: p.relative_to(folder).as_posix().encode("utf-8"))
        for p in entries:
            if p.is_symlink() and p.is_dir():
                continue  # linked folders are not entered, as for dataset hashing
            rel = p.relative_to(folder).as_posix()
            info = tarfile.TarInfo(rel)
            info.mtime = 0
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            if p.is_dir():
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                tar.addfile(info)
            elif p.is_file():
                info.size = p.stat().st_size
                info.mode = 0o755 if os.access(p, os.X_OK) else 0o644
                with p.open("rb") as fh:
                    tar.addfile(info, fh)


def _serialise(obj: Any, trusted: bool) -> Artifact:
    if isinstance(obj, str | os.PathLike):
        p = Path(obj)
        if p.is_dir():
            return Artifact(None, p, "directory", None, None, None, p.name)
        if not p.is_file():
            raise NotFoundError(f"no model file or folder {p}")
        if p.suffix.lower() == ".skops":
            return Artifact(None, p, "skops", "scikit-learn", None, None, p.name)
        if _is_pickle_file(p):
            if not trusted:
                raise TrustError(
                    f"{p} is a pickle file; pickles run code when loaded. Pass trusted=True to register it"
                )
            return Artifact(None, p, "pickle", None, None, None, p.name)
        return Artifact(None, p, "file", None, None, None, p.name)
    top = _top_module(obj)
    if top == "xgboost":
        with tempfile.TemporaryDirectory() as tmp:
            target = Path(tmp) / "model.json"
            obj.save_model(str(target))
            return Artifact(
                target.read_bytes(), None, "xgboost-json", "xgboost", _version_of("xgboost"), _qualname(obj)
            )
    if top == "lightgbm":
        booster = obj.booster_ if hasattr(obj, "booster_") else obj
        text = booster.model_to_string()
        return Artifact(
            text.encode("utf-8"), None, "lightgbm-text", "lightgbm", _version_of("lightgbm"), _qualname(obj)
        )
    if top == "sklearn" or _is_sklearn_estimator(obj):
        import skops.io as sio

        return Artifact(sio.dumps(obj), None, "skops", "scikit-learn", _version_of("scikit-learn"), _qualname(obj))
    if not trusted:
        raise TrustError(
            f"{_qualname(obj)} has no safe serialisation (skops, XGBoost JSON, LightGBM text); "
            "pass trusted=True to store it as a pickle"
        )
    return Artifact(pickle.dumps(obj, protocol=5), None, "pickle", top, _version_of(top), _qualname(obj))


def _is_sklearn_estimator(obj: Any) -> bool:
    try:
        from sklearn.base import BaseEstimator
    except ImportError:
        return False
    return isinstance(obj, BaseEstimator)


def _store(trail: Trail, art: Artifact) -> tuple[str, int]:
    if art.data is not None:
        return trail.blobs.put_bytes(art.data), len(art.data)
    assert art.file is not None
    if art.format == "directory":
        with tempfile.TemporaryFile() as tmp:
            _tar_folder(art.file, tmp)
            size = tmp.tell()
            tmp.seek(0)
            return trail.blobs.put_stream(tmp), size
    return trail.blobs.put_file(art.file), art.file.stat().st_size


# ------------------------------------------------------------------------------------------- signature


def _feature_names(model: Any, width: int) -> list[str]:
    names = getattr(model, "feature_names_in_", None)
    if names is not None and len(names) == width:
        return [str(n) for n in names]
    return [f"x{i}" for i in range(width)]


def infer_signature(model: Any, training_data: Any = None) -> dict[str, Any]:
    """Inputs from ``training_data`` (column names and dtypes) or the model's fitted feature names;
    outputs from the model (class labels and probabilities for a classifier)."""
    inputs: list[dict[str, Any]] = []
    if training_data is not None:
        if _is_pandas(training_data) or _is_polars(training_data):
            cols = table_columns(training_data)
            inputs = [{"name": c.name, "dtype": c.dtype} for c in cols]
        elif isinstance(training_data, np.ndarray) and training_data.ndim == 2:
            dtype = str(training_data.dtype)
            inputs = [{"name": n, "dtype": dtype} for n in _feature_names(model, training_data.shape[1])]
        else:
            raise ValidationError("expected a DataFrame or a 2-d numpy array", field="training_data")
    elif isinstance(getattr(model, "n_features_in_", None), int):
        inputs = [{"name": n, "dtype": None} for n in _feature_names(model, model.n_features_in_)]
    outputs: list[dict[str, Any]] = []
    classes = getattr(model, "classes_", None)
    if classes is not None:
        arr = np.asarray(classes)
        outputs.append({"name": "prediction", "dtype": str(arr.dtype), "classes": json_value(arr.tolist()[:100])})
        if hasattr(model, "predict_proba"):
            outputs.append({"name": "probability", "dtype": "float64", "shape": [None, int(arr.shape[0])]})
    elif hasattr(model, "predict"):
        outputs.append({"name": "prediction", "dtype": "float64"})
    return {"inputs": inputs, "outputs": outputs}


def training_range(training_data: Any, model: Any = None) -> dict[str, list[float]]:
    """``{numeric feature: [min, max]}`` over the finite values of the training data."""
    out: dict[str, list[float]] = {}
    if training_data is None:
        return out
    if _is_pandas(training_data) or _is_polars(training_data):
        for c in table_columns(training_data):
            if c.kind not in ("int64", "uint64", "float64"):
                continue
            v = np.asarray(c.values, dtype="f8")[~c.mask]
            v = v[np.isfinite(v)]
            if v.size:
                out[c.name] = [float(v.min()), float(v.max())]
    elif isinstance(training_data, np.ndarray) and training_data.ndim == 2 and training_data.dtype.kind in "iuf":
        names = _feature_names(model, training_data.shape[1])
        data = training_data.astype("f8")
        for i, n in enumerate(names):
            col = data[:, i][np.isfinite(data[:, i])]
            if col.size:
                out[n] = [float(col.min()), float(col.max())]
    return out


def _check_signature(sig: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(sig, Mapping):
        raise ValidationError(
            f"expected a mapping with inputs and outputs, got {type(sig).__name__}", field="signature"
        )
    out = {"inputs": json_value(list(sig.get("inputs") or [])), "outputs": json_value(list(sig.get("outputs") or []))}
    for key in ("inputs", "outputs"):
        for i, item in enumerate(out[key]):
            if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                raise ValidationError("expected {name, dtype}", field=f"signature.{key}[{i}]")
    return out


# -------------------------------------------------------------------------------------------- locking


@contextlib.contextmanager
def _version_lock(trail: Trail, name: str) -> Iterator[None]:
    """Serialise version numbering of one model name across threads and processes sharing the trail."""
    key = hashlib.sha256(name.encode("utf-8")).hexdigest()[:32]
    with _thread_locks_guard:
        tlock = _thread_locks.setdefault(f"{trail.path}:{key}", threading.Lock())
    with tlock:
        folder = Path(trail.path) / "locks"
        folder.mkdir(exist_ok=True)
        fd = os.open(folder / f"model-{key}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                import fcntl

                fcntl.flock(fd, fcntl.LOCK_EX)
            except ImportError:  # Windows: the thread lock still covers one process
                pass
            yield
        finally:
            os.close(fd)  # closing releases the flock


# ------------------------------------------------------------------------------------------ registering


def _dataset_links(trail: Trail, datasets: Iterable[Any]) -> list[dict[str, str]]:
    links: list[dict[str, str]] = []
    for i, d in enumerate(datasets):
        role: str | None = None
        if isinstance(d, tuple) and len(d) == 2:
            d, role = d
        if isinstance(d, DatasetVersion):
            ref, role = d.ref, role or d.role
        elif isinstance(d, str):
            found = get_dataset(trail, d)
            ref, role = found.ref, role or found.role
        else:
            raise ValidationError(
                f"expected a DatasetVersion, 'dataset:NAME@HASH' or (dataset, role), got {d!r}", field=f"datasets[{i}]"
            )
        if not any(link["ref"] == ref for link in links):
            links.append({"ref": ref, "role": role})
    return links


def _actor_id(actor: Actor | Mapping[str, str]) -> str:
    return actor.id if isinstance(actor, Actor) else str(actor.get("id", ""))


def register_model(
    trail: Trail,
    model_or_path: Any,
    *,
    name: str,
    system: str,
    actor: Actor | Mapping[str, str],
    run: Run | str | None = None,
    datasets: Sequence[Any] = (),
    signature: Mapping[str, Any] | None = None,
    trusted: bool = False,
    training_data: Any = None,
    signing_key: str | os.PathLike[str] | None = None,
) -> ModelVersion:
    """Store the model artifact and record ``model.registered`` as the next version of ``name``.

    ``model_or_path``: an in-memory scikit-learn, XGBoost or LightGBM model, or a file or folder path.
    ``datasets``: DatasetVersions or references (``dataset:NAME@HASH``, a hash prefix or a name for its
    latest version), optionally as ``(dataset, role)`` pairs; each is linked with its role.
    ``training_data`` (the feature frame the model was fitted on) gives the signature when none is given
    and the per-feature training range. ``trusted=True`` allows pickle for other objects and pickle files.
    ``signing_key`` (an elliptic-curve public key in PEM): the folder's OpenSSF ``model.sig`` must verify
    with it (:mod:`modeltrail.lineage.modelsigning`); the outcome is recorded with the artifact.
    """
    if not isinstance(name, str) or not NAME_RE.fullmatch(name) or "@" in name:
        raise ValidationError(
            f"expected a model name of letters, digits, '.', '_', '-', '/', got {name!r}", field="name"
        )
    art = _serialise(model_or_path, trusted)
    signing: dict[str, Any] | None = None
    if signing_key is not None:
        if art.file is None or art.format != "directory":
            raise ValidationError("an OpenSSF model signature is checked on a model folder", field="signing_key")
        from .modelsigning import verify_folder

        signing = verify_folder(art.file, signing_key)
    links = _dataset_links(trail, datasets)
    run_id = run.run_id if isinstance(run, Run) else run
    if run_id is not None and run_id.startswith("run:"):
        run_id = run_id[len("run:") :]
    in_memory = art.file is None
    if signature is not None:
        sig = _check_signature(signature)
    elif in_memory:
        sig = infer_signature(model_or_path, training_data)
    else:
        sig = {"inputs": [], "outputs": []}
    ranges = training_range(training_data, model_or_path if in_memory else None)
    return record_model_version(trail, art, name, system, actor, run_id, links, sig, ranges, None, signing)


def record_model_version(
    trail: Trail,
    art: Artifact,
    name: str,
    system: str,
    actor: Actor | Mapping[str, str],
    run_id: str | None,
    links: list[dict[str, str]],
    sig: dict[str, Any],
    ranges: dict[str, list[float]],
    imported: Mapping[str, Any] | None,
    signing: Mapping[str, Any] | None = None,
) -> ModelVersion:
    """Store the artifact, then number and record the version (with ``model.imported`` in one batch).

    The common tail of :func:`register_model` and of importers such as
    :func:`modeltrail.integrations.mlflow.import_mlflow_model_version`, which have already checked their inputs.
    """
    digest, size = _store(trail, art)
    artifact: dict[str, Any] = {
        "sha256": digest,
        "format": art.format,
        "size": size,
        "framework": art.framework,
        "framework_version": art.framework_version,
        "trusted_pickle": art.format == "pickle",
        "class": art.cls,
        "filename": art.filename,
    }
    if signing is not None:
        artifact["model_signing"] = dict(signing)
    refs = [f"blob:sha256:{digest}", *([f"run:{run_id}"] if run_id else []), *(link["ref"] for link in links)]
    with _version_lock(trail, name):
        version = latest_model_version(trail, name) + 1
        subject = model_ref(name, version)
        payload: dict[str, Any] = {
            "name": name,
            "version": version,
            "artifact": artifact,
            "signature": sig,
            "run_id": run_id,
            "datasets": links,
            "training_range": ranges,
            "registrant": _actor_id(actor),
        }
        events = [EventInput("model.registered", system, actor, subject, payload, refs)]
        if imported is not None:
            events.append(EventInput("model.imported", system, actor, subject, dict(imported), refs))
        r = trail.record_many(events)[0]
    return ModelVersion(
        name=name,
        version=version,
        system=system,
        artifact=artifact,
        signature=sig,
        run_id=run_id,
        datasets=links,
        training_range=ranges,
        registrant=payload["registrant"],
        seq=r.seq,
        ts=r.ts,
        imported=None if imported is None else dict(imported),
    )


# --------------------------------------------------------------------------------------------- loading


def _safe_type(t: str, allow: Iterable[str]) -> bool:
    return t in SAFE_TYPES or t in set(allow) or t.startswith(SAFE_TYPE_PREFIXES)


def artifact_bytes(trail: Trail, mv: ModelVersion) -> bytes:
    """The verified artifact bytes of a model version (IntegrityError when the blob was altered)."""
    digest = mv.sha256
    data = trail.blobs.get_bytes(digest)  # re-hashes and raises IntegrityError on a mismatch
    if hashlib.sha256(data).hexdigest() != digest:
        raise IntegrityError(f"artifact of {mv} does not match its recorded sha256 {digest}")
    size = mv.artifact.get("size")
    if isinstance(size, int) and size != len(data):
        raise IntegrityError(f"artifact of {mv} is {len(data)} bytes, the ledger recorded {size}")
    return data


def load_model(
    trail: Trail,
    ref: str | ModelVersion,
    *,
    trusted: bool = False,
    allow: Iterable[str] = (),
    dest: str | os.PathLike[str] | None = None,
) -> Any:
    """Load a registered model version (``"name@version"`` or a ModelVersion) after checking its hash.

    skops artifacts load only when every type they hold is on the allow-list (scikit-learn, numpy, scipy
    sparse, plain containers, plus ``allow``), or with ``trusted=True``; pickles only with ``trusted=True``.
    ``file`` artifacts are written to ``dest`` (default: a new temporary folder) and their path returned;
    ``directory`` artifacts are unpacked there. XGBoost artifacts load as the recorded class, LightGBM
    artifacts as a ``lightgbm.Booster``.
    """
    mv = get_model_version(trail, ref) if isinstance(ref, str) else ref
    data = artifact_bytes(trail, mv)
    fmt = mv.artifact.get("format")
    if fmt == "skops":
        import skops.io as sio

        types = sio.get_untrusted_types(data=data)
        unsafe = [t for t in types if not _safe_type(t, allow)]
        if unsafe and not trusted:
            raise TrustError(
                f"{mv} holds types outside the allow-list: {', '.join(unsafe)}; "
                "pass allow=[...] naming them, or trusted=True if you trust its registrant"
            )
        return sio.loads(data, trusted=types)
    if fmt == "pickle":
        if not trusted:
            raise TrustError(f"{mv} is a pickle, which runs code when loaded; pass trusted=True to load it")
        return pickle.loads(data)  # trusted by the caller, and the bytes match the ledger
    if fmt == "xgboost-json":
        return _load_xgboost(data, str(mv.artifact.get("class") or "xgboost.core.Booster"))
    if fmt == "lightgbm-text":
        import lightgbm

        return lightgbm.Booster(model_str=data.decode("utf-8"))
    target = Path(dest) if dest is not None else Path(tempfile.mkdtemp(prefix="modeltrail-model-"))
    target.mkdir(parents=True, exist_ok=True)
    if fmt == "directory":
        with tarfile.open(fileobj=io.BytesIO(data), mode="r") as tar:
            tar.extractall(target, filter="data")  # the data filter refuses absolute paths and links out
        return target
    out = target / str(mv.artifact.get("filename") or "model")
    out.write_bytes(data)
    return out


def _load_xgboost(data: bytes, cls_name: str) -> Any:
    module, _, cls = cls_name.rpartition(".")
    if not module.startswith("xgboost"):
        raise TrustError(f"refusing to load XGBoost model as {cls_name}")
    model = getattr(importlib.import_module(module), cls)()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.json"
        path.write_bytes(data)
        model.load_model(str(path))
    return model


__all__ = [
    "FORMATS",
    "SAFE_TYPES",
    "SAFE_TYPE_PREFIXES",
    "Artifact",
    "artifact_bytes",
    "infer_signature",
    "load_model",
    "record_model_version",
    "register_model",
    "training_range",
]
