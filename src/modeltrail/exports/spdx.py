"""SPDX 3.0.1 with the AI and Dataset profiles: a model version as an ``ai_AIPackage`` and its data.

The document holds one ``ai_AIPackage`` (name, version, artifact hash, type of model, hyperparameters
from the run, metrics from the run and the reports, release time), one ``dataset_DatasetPackage`` per
linked dataset version (content hash, rows) and the relationships ``trainedOn`` / ``testedOn`` from the
model to its data. It is built with ``spdx-python-model``, the bindings generated from the SPDX 3.0.1
SHACL model: every property is type-checked when set and every required one is checked when the
document is written, so a document the bindings cannot serialise is never produced.

    >>> doc = spdx_document(trail, "credit@1")        # doctest: +SKIP
    >>> doc["@context"]                               # doctest: +SKIP
    'https://spdx.org/rdf/3.0.1/spdx-context.jsonld'
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from typing import Any

from ..errors import ValidationError
from ..trail import Trail
from ..version import __version__
from .facts import ModelFacts, model_facts

CONTEXT = "https://spdx.org/rdf/3.0.1/spdx-context.jsonld"
_TEST_ROLES = frozenset({"test", "validation", "evaluation", "holdout"})


def _when(ts: str) -> datetime:
    """A ledger timestamp as the whole-second UTC datetime SPDX's DateTime type asks for."""
    return datetime.strptime(ts[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)


def _base(trail: Trail, facts: ModelFacts) -> str:
    """The namespace of the document's element ids: the trail's origin and the model version."""
    return f"https://modeltrail.invalid/{trail.origin.strip('/')}/spdx/{facts.name}/{facts.version}"


def spdx_objects(trail: Trail, model: str) -> Any:
    """The SPDX object set of ``model`` (``NAME@VERSION``), for callers that extend it before writing."""
    from spdx_python_model import v3_0_1 as spdx

    facts = model_facts(trail, model)
    base = _base(trail, facts)
    # CreationInfo needs an Agent as its creator and creates a cycle (the agent has a creationInfo too).
    agent = spdx.SoftwareAgent(spdxId=f"{base}#agent", name="modeltrail")
    tool = spdx.Tool(spdxId=f"{base}#tool", name=f"modeltrail {__version__}")
    info = spdx.CreationInfo(
        specVersion="3.0.1", created=_when(facts.registered.ts), createdBy=[agent], createdUsing=[tool]
    )
    agent.creationInfo = info
    tool.creationInfo = info

    def entries(values: dict[str, Any]) -> list[Any]:
        return [spdx.DictionaryEntry(key=str(k), value=json.dumps(v) if not isinstance(v, str) else v)
                for k, v in sorted(values.items())]  # fmt: skip

    art = facts.artifact
    model_pkg = spdx.ai_AIPackage(
        spdxId=f"{base}#model",
        creationInfo=info,
        name=facts.name,
        software_packageVersion=facts.version,
        software_primaryPurpose=spdx.software_SoftwarePurpose.model,
        releaseTime=_when(facts.registered.ts),
        software_downloadLocation="NOASSERTION",
        comment=f"recorded in the modeltrail ledger as event {facts.registered.seq} ({facts.ref})",
    )
    if isinstance(art.get("sha256"), str):
        model_pkg.verifiedUsing = [spdx.Hash(algorithm=spdx.HashAlgorithm.sha256, hashValue=art["sha256"])]
    model_type = [str(x) for x in (art.get("framework"), art.get("format")) if x]
    if model_type:
        model_pkg.ai_typeOfModel = model_type
    if facts.params:
        model_pkg.ai_hyperparameter = entries(facts.params)
    if facts.metrics:
        model_pkg.ai_metric = entries(facts.metrics)
    objects: list[Any] = [agent, tool, model_pkg]
    trained: list[Any] = []
    tested: list[Any] = []
    for ev, role in facts.datasets:
        p = ev.payload
        digest = str(p.get("content_hash") or p.get("sha256") or "")
        ds = spdx.dataset_DatasetPackage(
            spdxId=f"{base}#dataset-{len(objects)}",
            creationInfo=info,
            name=str(p.get("name") or ev.subject),
            software_primaryPurpose=spdx.software_SoftwarePurpose.data,
            dataset_datasetType=[spdx.dataset_DatasetType.structured],
            releaseTime=_when(ev.ts),
            builtTime=_when(ev.ts),
            originatedBy=[agent],
            software_downloadLocation="NOASSERTION",
            comment=f"{ev.subject}, role {role}, recorded in event {ev.seq}",
        )
        if len(digest) == 64:
            ds.verifiedUsing = [spdx.Hash(algorithm=spdx.HashAlgorithm.sha256, hashValue=digest)]
        if isinstance(p.get("rows"), int):
            ds.dataset_datasetSize = int(p["rows"])
        objects.append(ds)
        (tested if role in _TEST_ROLES else trained).append(ds)
    for kind, targets in (("trainedOn", trained), ("testedOn", tested)):
        if targets:
            objects.append(
                spdx.Relationship(
                    spdxId=f"{base}#{kind}",
                    creationInfo=info,
                    from_=model_pkg,
                    to=targets,
                    relationshipType=getattr(spdx.RelationshipType, kind),
                )
            )
    doc = spdx.SpdxDocument(
        spdxId=f"{base}#document",
        creationInfo=info,
        name=f"{facts.ref} (modeltrail)",
        rootElement=[model_pkg],
        element=objects,
        profileConformance=[
            spdx.ProfileIdentifierType.core,
            spdx.ProfileIdentifierType.software,
            spdx.ProfileIdentifierType.ai,
            spdx.ProfileIdentifierType.dataset,
        ],
    )
    return spdx.SHACLObjectSet([doc, *objects])


def spdx_document(trail: Trail, model: str) -> dict[str, Any]:
    """The SPDX 3.0.1 JSON-LD document of ``model`` as a dictionary (see the module docstring)."""
    from spdx_python_model import v3_0_1 as spdx

    objects = spdx_objects(trail, model)
    out = io.BytesIO()
    try:
        spdx.JSONLDSerializer().write(objects, out)
    except ValueError as exc:  # a required property is missing or a value has the wrong type
        raise ValidationError(f"the SPDX 3.0.1 model refuses the document: {exc}", field="spdx") from exc
    result: dict[str, Any] = json.loads(out.getvalue())
    return result


__all__ = ["CONTEXT", "spdx_document", "spdx_objects"]
