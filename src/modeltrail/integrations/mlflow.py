"""Import MLflow runs and registered model versions into the trail (the ``[mlflow]`` extra).

MLflow keeps experiment tracking mutable and unsigned; importing copies what an auditor needs into the
ledger, with a link back (tracking URI, run id, model URI):

- :func:`import_mlflow_run` records ``run.started`` (``source: "mlflow"``, params, user tags, the git
  commit MLflow saw), ``run.metrics`` (the full history, one event per step), ``run.ended`` and, for the
  datasets MLflow logged as run inputs, ``dataset.registered`` (hash method ``mlflow-digest``), all in one
  atomic batch. The run's artifacts are downloaded and hashed; their manifest (path → sha256) is stored
  as a blob and summarised in ``run.started``.
- :func:`import_mlflow_model_version` downloads the model version's artifacts (the MLflow model folder),
  stores them as a ``directory`` artifact and records ``model.registered`` + ``model.imported`` (the link
  back) as the next modeltrail version of the model name, after importing its source run. With MLflow 3
  the link names the *logged model* behind the version (``mlflow_model_id``, ``m-…``); with MLflow 2,
  which has no logged models, it is ``null``.

MLflow's dataset digests are its own short fingerprints (for pandas and NumPy data an MD5 of up to the
first 10,000 rows, truncated to 8 hex digits); they are recorded as logged, so the dataset reference is
``dataset:<name>@<the whole digest>``, not a modeltrail content hash.

Both are idempotent: importing the same run or model version from the same tracking URI again returns
what was imported before and records nothing. To keep the two in sync, call them from the training
pipeline right after ``mlflow.register_model`` (or run ``modeltrail import mlflow RUN_ID`` as a CI step);
later changes in MLflow (new tags, stage transitions) are not followed, on purpose: the ledger keeps what
was true at import time.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import NotFoundError, ValidationError
from ..events import Actor, EventInput
from ..ids import new_id
from ..lineage.code import strip_credentials
from ..lineage.datasets import check_dataset_name, folder_files, hash_file, hash_folder
from ..lineage.entities import DatasetVersion, ModelVersion, RunInfo, dataset_ref, run_ref
from ..lineage.jsonsafe import json_value
from ..lineage.models import Artifact, record_model_version
from ..lineage.queries import get_dataset, get_run, list_models, list_runs

if TYPE_CHECKING:
    from ..trail import Trail

SOURCE = "mlflow"
INLINE_ARTIFACTS = 50
_KEEP_SYSTEM_TAGS = {
    "mlflow.runName": "run_name",
    "mlflow.source.name": "source_name",
    "mlflow.source.type": "source_type",
    "mlflow.parentRunId": "parent_run_id",
}
_STATUS = {"FINISHED": "completed", "FAILED": "failed", "KILLED": "failed"}
_CONTEXT_ROLES = {
    "train": "train",
    "training": "train",
    "eval": "validation",
    "validation": "validation",
    "test": "test",
}


_LOGGED_MODEL_URI = re.compile(r"^models:/(m-[0-9a-f]+)/?$")


def _client(tracking_uri: str, registry_uri: str | None) -> Any:
    try:
        from mlflow.tracking import MlflowClient
    except ImportError as exc:  # the optional extra is missing
        raise ValidationError("MLflow is not installed: pip install 'modeltrail[mlflow]'", field="mlflow") from exc
    return MlflowClient(tracking_uri=tracking_uri, registry_uri=registry_uri or tracking_uri)


def _existing_run(trail: Trail, uri: str, run_id: str) -> RunInfo | None:
    for r in list_runs(trail):
        link = r.link or {}
        if r.source == SOURCE and link.get("run_id") == run_id and link.get("tracking_uri") == uri:
            return r
    return None


def _artifact_manifest(trail: Trail, run_id: str, tracking_uri: str) -> dict[str, Any]:
    import mlflow.artifacts

    with tempfile.TemporaryDirectory() as tmp:
        local = Path(mlflow.artifacts.download_artifacts(run_id=run_id, dst_path=tmp, tracking_uri=tracking_uri))
        files = folder_files(local)
        manifest = {rel: hash_file(p) for rel, p in files}
        folder_hash = hash_folder(local)
    blob = json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode("utf-8")
    out: dict[str, Any] = {
        "count": len(manifest),
        "folder_hash": folder_hash,
        "manifest_sha256": trail.blobs.put_bytes(blob),
    }
    if len(manifest) <= INLINE_ARTIFACTS:
        out["files"] = manifest
    return out


def _dataset_inputs(run: Any, system: str, actor: Actor | Mapping[str, str], run_id: str) -> list[EventInput]:
    events: list[EventInput] = []
    inputs = getattr(getattr(run, "inputs", None), "dataset_inputs", None) or []
    for di in inputs:
        ds = di.dataset
        digest = str(getattr(ds, "digest", "") or "")
        if not digest:
            continue
        name = str(ds.name)
        try:
            check_dataset_name(name)
        except ValidationError:
            continue  # a name modeltrail cannot use as a reference; the run still imports
        context = next((t.value for t in di.tags or [] if t.key == "mlflow.data.context"), None)
        payload: dict[str, Any] = {
            "name": name,
            "content_hash": digest,
            "hash_method": "mlflow-digest",
            "role": _CONTEXT_ROLES.get(str(context or "").lower(), "other"),
            "format": str(getattr(ds, "source_type", "") or "mlflow"),
            "rows": None,
            "columns": None,
            "schema": [],
            "profile": {},
            "source": strip_credentials(str(getattr(ds, "source", "") or "")) or None,
            "run_id": run_id,
            "parents": [],
        }
        events.append(
            EventInput("dataset.registered", system, actor, dataset_ref(name, digest), payload, [run_ref(run_id)])
        )
    return events


def _metric_events(client: Any, run: Any, base: EventInput) -> tuple[list[EventInput], int]:
    by_step: dict[int, dict[str, float]] = {}
    skipped = 0
    for key in sorted(run.data.metrics):
        history = sorted(client.get_metric_history(run.info.run_id, key), key=lambda m: (m.step, m.timestamp))
        for m in history:
            value = float(m.value)
            if not math.isfinite(value):
                skipped += 1
                continue
            by_step.setdefault(int(m.step), {})[key] = value
    events = [
        EventInput("run.metrics", base.system, base.actor, base.subject, {"metrics": metrics, "step": step})
        for step, metrics in sorted(by_step.items())
    ]
    return events, skipped


def import_mlflow_run(
    trail: Trail,
    run_id: str,
    *,
    tracking_uri: str,
    system: str,
    actor: Actor | Mapping[str, str],
    registry_uri: str | None = None,
    artifacts: bool = True,
) -> RunInfo:
    """Import the MLflow run ``run_id`` as a modeltrail run (see the module docstring); returns it."""
    uri = strip_credentials(tracking_uri)
    found = _existing_run(trail, uri, run_id)
    if found is not None:
        return found
    client = _client(tracking_uri, registry_uri)
    run = client.get_run(run_id)
    info, data = run.info, run.data
    tags = {k: str(v) for k, v in data.tags.items() if not k.startswith("mlflow.")}
    link: dict[str, Any] = {
        "tracking_uri": uri,
        "run_id": info.run_id,
        "experiment_id": str(info.experiment_id),
        "artifact_uri": strip_credentials(str(info.artifact_uri)),
        "status": str(info.status),
        "start_time_ms": info.start_time,
        "end_time_ms": info.end_time,
    }
    link.update({out: str(data.tags[k]) for k, out in _KEEP_SYSTEM_TAGS.items() if k in data.tags})
    logged = _run_logged_models(run)
    if logged:
        link["logged_models"] = logged
    if artifacts:
        link["artifacts"] = _artifact_manifest(trail, info.run_id, tracking_uri)
    repo = data.tags.get("mlflow.source.git.repoURL")
    code = {
        "commit": data.tags.get("mlflow.source.git.commit"),
        "branch": data.tags.get("mlflow.source.git.branch"),
        "remote": strip_credentials(repo) if repo else None,
        "dirty": None,
        "diff_sha256": None,
    }
    mt_run_id = new_id()
    subject = run_ref(mt_run_id)
    dataset_events = _dataset_inputs(run, system, actor, mt_run_id)
    started = EventInput(
        "run.started",
        system,
        actor,
        subject,
        {
            "run_id": mt_run_id,
            "name": str(data.tags.get("mlflow.runName") or info.run_name or info.run_id),
            "code": code,
            "environment": {"python": None, "platform": None, "packages_sha256": None},
            "params": {k: json_value(v) for k, v in data.params.items()},
            "tags": tags,
            "source": SOURCE,
            "link": json_value(link),
        },
        [f"blob:sha256:{link['artifacts']['manifest_sha256']}"] if artifacts else None,
    )
    metric_events, skipped = _metric_events(client, run, started)
    events = [started, *dataset_events, *metric_events]
    status = _STATUS.get(str(info.status))
    if status is not None:
        duration = None
        if info.start_time is not None and info.end_time is not None:
            duration = max(0.0, (info.end_time - info.start_time) / 1000.0)
        events.append(
            EventInput(
                "run.ended",
                system,
                actor,
                subject,
                {
                    "status": status,
                    "error_type": None if status == "completed" else f"mlflow:{info.status}",
                    "duration_s": duration,
                    "source": SOURCE,
                    "skipped_non_finite_metrics": skipped,
                },
            )
        )
    trail.record_many(events)
    return get_run(trail, mt_run_id)


def _run_logged_models(run: Any) -> list[dict[str, Any]]:
    """MLflow 3: the logged models the run produced (``run.outputs.model_outputs``); empty with MLflow 2."""
    outputs = getattr(getattr(run, "outputs", None), "model_outputs", None) or []
    out: list[dict[str, Any]] = []
    for o in outputs:
        model_id = getattr(o, "model_id", None)
        if model_id:
            step = getattr(o, "step", None)
            out.append({"model_id": str(model_id), "step": int(step) if isinstance(step, int) else None})
    return out


def _logged_model_id(client: Any, mlv: Any) -> str | None:
    """The id of the MLflow 3 logged model behind registered version ``mlv``; None when there is none.

    Tried in order: ``ModelVersion.model_id`` (not filled in by every tracking store), the version's
    ``source`` when it is a logged-model URI (``models:/m-…``), and the source run's logged models
    (``run.outputs.model_outputs``; with several, the one whose name is the artifact path of a
    ``runs:/<run id>/<path>`` source). MLflow 2 has none of these, so the answer there is None.
    """
    model_id = getattr(mlv, "model_id", None)
    if model_id:
        return str(model_id)
    source = str(getattr(mlv, "source", "") or "")
    m = _LOGGED_MODEL_URI.match(source)
    if m:
        return m.group(1)
    run_id = getattr(mlv, "run_id", None)
    if not run_id:
        return None
    try:
        ids: list[str] = sorted({str(o["model_id"]) for o in _run_logged_models(client.get_run(run_id))})
    except Exception:  # an MLflow or store without logged models: the version imports without an id
        return None
    if len(ids) == 1:
        return ids[0]
    prefix = f"runs:/{run_id}/"
    path = source[len(prefix) :].strip("/") if source.startswith(prefix) else None
    get_logged_model = getattr(client, "get_logged_model", None)
    if not path or get_logged_model is None:
        return None
    for candidate in ids:
        try:
            if str(get_logged_model(candidate).name) == path:
                return candidate
        except Exception:  # a logged model that cannot be read is not the one
            continue
    return None


def _mlmodel(folder: Path) -> dict[str, Any]:
    import yaml

    for p in (folder / "MLmodel", *folder.rglob("MLmodel")):
        if p.is_file():
            doc = yaml.safe_load(p.read_text(encoding="utf-8"))
            return doc if isinstance(doc, dict) else {}
    return {}


def _signature(mlmodel: Mapping[str, Any]) -> dict[str, Any]:
    sig = mlmodel.get("signature") or {}
    out: dict[str, Any] = {"inputs": [], "outputs": []}
    for key in ("inputs", "outputs"):
        raw = sig.get(key) if isinstance(sig, dict) else None
        try:
            cols = json.loads(raw) if isinstance(raw, str) else []
        except json.JSONDecodeError:
            cols = []
        for i, c in enumerate(cols if isinstance(cols, list) else []):
            if isinstance(c, dict):
                out[key].append({"name": str(c.get("name", f"{key[:-1]}{i}")), "dtype": str(c.get("type", "unknown"))})
    return out


def import_mlflow_model_version(
    trail: Trail,
    name: str,
    version: int | str,
    *,
    tracking_uri: str,
    system: str,
    actor: Actor | Mapping[str, str],
    registry_uri: str | None = None,
    model_name: str | None = None,
) -> ModelVersion:
    """Import MLflow registered model ``name`` version ``version`` as a new modeltrail model version.

    The source run is imported first (idempotently) and linked; the artifact is the MLflow model folder
    (``MLmodel`` plus the flavour files) stored as a deterministic tar. ``model_name`` renames the model
    in modeltrail (default: the MLflow name).
    """
    uri = strip_credentials(tracking_uri)
    target = model_name or name
    for mv in list_models(trail, name=target):
        imp = mv.imported or {}
        if (
            imp.get("tracking_uri") == uri
            and imp.get("mlflow_name") == name
            and str(imp.get("mlflow_version")) == str(version)
        ):
            return mv
    client = _client(tracking_uri, registry_uri)
    mlv = client.get_model_version(name, str(version))
    run_info = None
    if mlv.run_id:
        run_info = import_mlflow_run(
            trail, mlv.run_id, tracking_uri=tracking_uri, system=system, actor=actor, registry_uri=registry_uri
        )
    import mlflow.artifacts

    with tempfile.TemporaryDirectory() as tmp:
        download_uri = client.get_model_version_download_uri(name, str(version))
        local = Path(
            mlflow.artifacts.download_artifacts(
                artifact_uri=download_uri, dst_path=tmp, tracking_uri=tracking_uri, registry_uri=registry_uri
            )
        )
        if not local.is_dir():
            raise NotFoundError(f"MLflow model {name} version {version} has no artifact folder at {download_uri}")
        mlmodel = _mlmodel(local)
        flavors = sorted((mlmodel.get("flavors") or {}).keys())
        sk = (mlmodel.get("flavors") or {}).get("sklearn") or {}
        framework = "scikit-learn" if "sklearn" in flavors else (flavors[0] if flavors else None)
        art = Artifact(
            None,
            local,
            "directory",
            framework,
            str(sk.get("sklearn_version")) if sk.get("sklearn_version") else None,
            "mlflow.models.Model",
            local.name,
        )
        links: list[dict[str, str]] = []
        if run_info is not None:
            for r in _input_datasets(trail, run_info.run_id):
                links.append({"ref": r.ref, "role": r.role})
        imported = {
            "source": SOURCE,
            "tracking_uri": uri,
            "registry_uri": strip_credentials(registry_uri) if registry_uri else None,
            "run_id": mlv.run_id,
            "model_uri": f"models:/{name}/{version}",
            "mlflow_name": name,
            "mlflow_version": str(mlv.version),
            "mlflow_source": strip_credentials(str(mlv.source)),
            "mlflow_status": str(mlv.status),
            "flavors": flavors,
            "mlflow_tags": {str(k): str(v) for k, v in (mlv.tags or {}).items()},
            "modeltrail_run_id": None if run_info is None else run_info.run_id,
            "mlflow_model_id": _logged_model_id(client, mlv),
        }
        return record_model_version(
            trail,
            art,
            target,
            system,
            actor,
            None if run_info is None else run_info.run_id,
            links,
            _signature(mlmodel),
            {},
            json_value(imported),
        )


def _input_datasets(trail: Trail, run_id: str) -> list[DatasetVersion]:
    rows = trail.store.execute(
        "SELECT src FROM lineage_edges WHERE dst = ? AND rel = 'input' ORDER BY src", (run_ref(run_id),)
    )
    return [get_dataset(trail, str(r[0])) for r in rows]


def manifest_digest(manifest: Mapping[str, str]) -> str:
    """sha256 of a manifest in its stored form (sorted keys, compact JSON): the ``manifest_sha256``."""
    return hashlib.sha256(json.dumps(dict(manifest), sort_keys=True, separators=(",", ":")).encode()).hexdigest()


__all__ = ["SOURCE", "import_mlflow_model_version", "import_mlflow_run", "manifest_digest"]
