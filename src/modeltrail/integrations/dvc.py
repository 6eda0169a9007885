"""Import DVC-tracked data as dataset versions: the outputs recorded in ``dvc.lock`` and ``*.dvc`` files.

DVC already knows an md5 for every output it tracks; importing records each one as a ``dataset.registered``
event with hash method ``dvc-md5`` (the DVC md5 as content hash) and the DVC entry under ``dvc``, so the
lineage graph reaches data that modeltrail never read. Reading the YAML files needs PyYAML (a core
dependency)::

    >>> import modeltrail, pathlib, tempfile
    >>> from modeltrail.events import Actor
    >>> repo = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (repo / "data.csv.dvc").write_text("outs: [{md5: 0123456789abcdef0123456789abcdef, path: data.csv}]")
    >>> t = modeltrail.init(repo)
    >>> [d.ref for d in import_dvc(t, repo, system="credit", actor=Actor("alice", "data_scientist"))]
    ['dataset:data.csv@0123456789abcdef']
    >>> t.close()
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import NotFoundError, ValidationError
from ..events import Actor, EventInput
from ..lineage.datasets import check_dataset_name, check_dataset_role, dataset_version
from ..lineage.entities import DatasetVersion, dataset_ref
from ..lineage.queries import list_datasets

if TYPE_CHECKING:
    from ..trail import Trail

DVC_HASH_METHOD = "dvc-md5"


@dataclass
class _DvcOut:
    path: str
    md5: str
    entry: dict[str, Any]
    file: str
    stage: str | None
    deps: list[tuple[str, str]]


def _load_yaml(path: Path) -> Any:
    import yaml

    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ValidationError(f"cannot read {path}: {exc}", field="dvc") from exc


def _md5(entry: Mapping[str, Any]) -> str | None:
    md5 = entry.get("md5")
    if not isinstance(md5, str):
        return None
    bare = md5.removesuffix(".dir")
    return bare if re.fullmatch(r"[0-9a-f]{32}", bare) else None


def _dvc_outs(repo: Path) -> list[_DvcOut]:
    outs: list[_DvcOut] = []
    lock = repo / "dvc.lock"
    if lock.is_file():
        doc = _load_yaml(lock) or {}
        stages = doc.get("stages", {}) if isinstance(doc, dict) else {}
        for stage, body in sorted(stages.items()) if isinstance(stages, dict) else []:
            if not isinstance(body, dict):
                continue
            deps = [
                (str(e["path"]), m)
                for e in body.get("deps") or []
                if isinstance(e, dict) and "path" in e and (m := _md5(e)) is not None
            ]
            for e in body.get("outs") or []:
                if isinstance(e, dict) and "path" in e and (m := _md5(e)) is not None:
                    outs.append(_DvcOut(Path(str(e["path"])).as_posix(), m, e, "dvc.lock", str(stage), deps))
    for f in sorted(repo.rglob("*.dvc")):
        rel_parts = f.relative_to(repo).parts
        if rel_parts[0] in (".dvc", ".git") or not f.is_file():
            continue
        doc = _load_yaml(f) or {}
        for e in doc.get("outs") or [] if isinstance(doc, dict) else []:
            if isinstance(e, dict) and "path" in e and (m := _md5(e)) is not None:
                rel = (f.parent / str(e["path"])).relative_to(repo).as_posix()
                outs.append(_DvcOut(rel, m, e, f.relative_to(repo).as_posix(), None, []))
    return outs


def import_dvc(
    trail: Trail,
    repo_dir: str | os.PathLike[str],
    *,
    system: str,
    actor: Actor | Mapping[str, str],
    role: str = "other",
) -> list[DatasetVersion]:
    """Register the outputs recorded in ``dvc.lock`` and ``*.dvc`` files as dataset versions.

    Each output becomes a version named by its path in the repository, with ``hash_method`` ``dvc-md5``,
    ``content_hash`` the DVC md5 (32 hex; a ``.dir`` suffix marks a folder) and the DVC entry under
    ``dvc``. A stage's dependencies that are themselves DVC-tracked become ``parents`` of its outputs.
    Versions already registered are not recorded again. All new events are one atomic batch.
    """
    check_dataset_role(role)
    repo = Path(repo_dir)
    if not repo.is_dir():
        raise NotFoundError(f"no folder {repo}")
    outs = _dvc_outs(repo)
    tracked = {(o.path, o.md5) for o in outs}
    existing = {d.ref for d in list_datasets(trail) if d.hash_method == DVC_HASH_METHOD}
    events: list[EventInput] = []
    payloads: list[dict[str, Any]] = []
    seen: set[str] = set()
    result_refs: list[str] = []
    for o in outs:
        check_dataset_name(o.path)
        ref = dataset_ref(o.path, o.md5)
        if ref in seen:
            continue
        seen.add(ref)
        result_refs.append(ref)
        if ref in existing:
            continue
        parents = [dataset_ref(p, m) for p, m in o.deps if (p, m) in tracked]
        raw = str(o.entry.get("md5"))
        size = o.entry.get("size")
        nfiles = o.entry.get("nfiles")
        payload: dict[str, Any] = {
            "name": o.path,
            "content_hash": o.md5,
            "hash_method": DVC_HASH_METHOD,
            "role": role,
            "format": "directory" if raw.endswith(".dir") else (Path(o.path).suffix.lstrip(".") or "file"),
            "rows": None,
            "columns": None,
            "schema": [],
            "profile": {},
            "source": f"dvc:{o.file}",
            "run_id": None,
            "parents": parents,
            "dvc": {
                "md5": raw,
                "hash": o.entry.get("hash", "md5"),
                "size": size if isinstance(size, int) else None,
                "nfiles": nfiles if isinstance(nfiles, int) else None,
                "stage": o.stage,
                "file": o.file,
                "deps": [{"path": p, "md5": m} for p, m in o.deps],
            },
        }
        payloads.append(payload)
        events.append(EventInput("dataset.registered", system, actor, ref, payload, parents or None))
    receipts = trail.record_many(events) if events else []
    new = {
        dataset_ref(p["name"], p["content_hash"]): dataset_version(p, system, r.seq, r.ts)
        for p, r in zip(payloads, receipts, strict=True)
    }
    # Versions registered before this import come from the projection.
    known = {d.ref: d for d in list_datasets(trail)} if len(new) < len(result_refs) else {}
    out = [new[ref] if ref in new else known[ref] for ref in result_refs]
    return out


__all__ = ["DVC_HASH_METHOD", "import_dvc"]
