"""CycloneDX 1.6 ML-BOM of a model version: the model with its card, its datasets, its dependencies.

cyclonedx-python-lib writes the BOM (components, hashes, dependency graph, metadata). Its object model
has no ``modelCard`` and no component ``data`` yet, so those two objects are added to the serialised
JSON, shaped as the CycloneDX 1.6 schema defines them; the library's strict JSON validator then checks
the whole document against that schema (tests do).
"""

from __future__ import annotations

import json
from typing import Any

from ..trail import Trail
from .facts import ModelFacts, model_facts

SPEC_VERSION = "1.6"


def _bom_refs(facts: ModelFacts) -> tuple[str, dict[str, str]]:
    model_ref = facts.ref
    return model_ref, {str(ds.subject): str(ds.subject) for ds, _ in facts.datasets}


def _model_card(facts: ModelFacts, dataset_refs: dict[str, str]) -> dict[str, Any]:
    art = facts.artifact
    metrics = [
        {
            "type": name.split("[", 1)[0],
            "value": f"{value:.6g}",
            **({"slice": name[name.index("[") :]} if "[" in name else {}),
        }
        for name, value in sorted(facts.metrics.items())
    ]
    signature = facts.registered.payload.get("signature") or {}
    inputs = [{"format": str(i.get("dtype", "unknown"))} for i in signature.get("inputs") or [] if isinstance(i, dict)]
    outputs = [
        {"format": str(o.get("dtype", "unknown"))} for o in signature.get("outputs") or [] if isinstance(o, dict)
    ]
    params: dict[str, Any] = {
        "approach": {"type": "supervised"},
        "task": "classification",
        "architectureFamily": str(art.get("framework") or "unknown"),
        "modelArchitecture": str(art.get("class") or art.get("format") or "unknown"),
        "datasets": [{"ref": dataset_refs[str(ds.subject)]} for ds, _ in facts.datasets],
    }
    if inputs:
        params["inputs"] = inputs
    if outputs:
        params["outputs"] = outputs
    card: dict[str, Any] = {"bom-ref": f"{facts.ref}#model-card", "modelParameters": params}
    if metrics:
        card["quantitativeAnalysis"] = {"performanceMetrics": metrics}
    fairness = [r for r in facts.reports if r.payload.get("kind") == "fairness"]
    considerations: dict[str, Any] = {
        "useCases": [f"decisions of the AI system {facts.system}"],
        "technicalLimitations": [str(w) for r in facts.reports for w in r.payload.get("warnings") or []][:20]
        or ["see the evidence reports recorded in the modeltrail ledger"],
    }
    if fairness:
        considerations["fairnessAssessments"] = [
            {
                "groupAtRisk": name[name.index("[") + 1 : -1] if "[" in name else name,
                "harms": f"{name} = {value:.4g} (modeltrail fairness report, event {r.seq})",
            }
            for r in fairness
            for name, value in sorted((r.payload.get("metrics") or {}).items())
            if isinstance(value, int | float) and "difference" in name
        ][:20]
    card["considerations"] = considerations
    return card


def _data(ds_event: Any, role: str) -> list[dict[str, Any]]:
    p = ds_event.payload
    entry: dict[str, Any] = {"type": "dataset", "name": str(p.get("name") or ds_event.subject)}
    desc = [f"role {role}"]
    if p.get("rows") is not None:
        desc.append(f"{p.get('rows')} rows")
    if p.get("source"):
        desc.append(f"source {p.get('source')}")
    entry["description"] = ", ".join(desc)
    entry["classification"] = role
    return [entry]


def cyclonedx_bom(trail: Trail, model: str) -> dict[str, Any]:
    """The CycloneDX 1.6 ML-BOM (as a JSON object) of ``model`` (``NAME@VERSION``)."""
    from cyclonedx.model import HashAlgorithm, HashType, Property
    from cyclonedx.model.bom import Bom
    from cyclonedx.model.component import Component, ComponentType
    from cyclonedx.output.json import JsonV1Dot6
    from packageurl import PackageURL

    facts = model_facts(trail, model)
    model_ref, dataset_refs = _bom_refs(facts)
    art = facts.artifact
    hashes = [HashType(alg=HashAlgorithm.SHA_256, content=str(art["sha256"]))] if art.get("sha256") else []
    props = [
        Property(name="modeltrail:event", value=str(facts.registered.seq)),
        Property(name="modeltrail:system", value=facts.system),
    ]
    if facts.run is not None:
        props.append(Property(name="modeltrail:run", value=str(facts.run.subject)))
    for k, v in sorted(facts.params.items()):
        props.append(Property(name=f"modeltrail:param:{k}", value=json.dumps(v)))
    model_c = Component(
        name=facts.name,
        version=facts.version,
        type=ComponentType.MACHINE_LEARNING_MODEL,
        bom_ref=model_ref,
        hashes=hashes,
        properties=props,
        description=f"{facts.ref} registered by {facts.registered.actor.id} at {facts.registered.ts}",
    )
    bom = Bom()
    bom.metadata.component = model_c
    data_cs = []
    for ds, _role in facts.datasets:
        h = str(ds.payload.get("content_hash") or "")
        data_cs.append(
            Component(
                name=str(ds.payload.get("name") or ds.subject),
                version=str(ds.subject).rsplit("@", 1)[-1],
                type=ComponentType.DATA,
                bom_ref=dataset_refs[str(ds.subject)],
                hashes=[HashType(alg=HashAlgorithm.SHA_256, content=h)] if len(h) == 64 else [],
            )
        )
    lib_cs = [
        Component(
            name=n,
            version=v,
            type=ComponentType.LIBRARY,
            bom_ref=f"pkg:pypi/{n.lower()}@{v}",
            purl=PackageURL(type="pypi", name=n.lower(), version=v),
        )
        for n, v in facts.packages
    ]
    for c in [*data_cs, *lib_cs]:
        bom.components.add(c)
    bom.register_dependency(model_c, [*data_cs, *lib_cs])
    doc: dict[str, Any] = json.loads(JsonV1Dot6(bom).output_as_string())
    doc["metadata"]["component"]["modelCard"] = _model_card(facts, dataset_refs)
    roles = {str(ds.subject): role for ds, role in facts.datasets}
    for comp in doc.get("components", []):
        if comp.get("type") == "data":
            ds = next(d for d, _ in facts.datasets if str(d.subject) == comp["bom-ref"])
            comp["data"] = _data(ds, roles[comp["bom-ref"]])
    return doc
