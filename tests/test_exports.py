"""Standard exports, each checked by a validator that is not modeltrail's own code, offline."""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from securesystemslib.dsse import Envelope
from securesystemslib.exceptions import VerificationError
from securesystemslib.signer import SSlibKey

import modeltrail
from _audit_support import demo_copy, story
from modeltrail.cli.main import main as cli
from modeltrail.errors import NotFoundError, SignatureError, ValidationError
from modeltrail.exports.cyclonedx import cyclonedx_bom
from modeltrail.exports.intoto import pae, provenance_envelope, provenance_statement, verify_envelope
from modeltrail.exports.openlineage import run_events, write_openlineage
from modeltrail.ledger.note import NoteSigner, NoteVerifier
from modeltrail.trail import Trail

MODEL = "credit-logreg@1"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return demo_copy(tmp_path_factory.mktemp("exports")) / ".modeltrail"


def _cdx_errors(doc: dict[str, Any]) -> list[str]:
    errs = JsonStrictValidator(SchemaVersion.V1_6).validate_str(json.dumps(doc), all_errors=True)
    return [] if errs is None else [str(e) for e in errs]  # type: ignore[union-attr]


def test_cyclonedx_ml_bom_validates(demo: Path) -> None:
    with modeltrail.open(demo) as t:
        doc = cyclonedx_bom(t, MODEL)
    assert doc["specVersion"] == "1.6" and _cdx_errors(doc) == []
    model = doc["metadata"]["component"]
    assert model["type"] == "machine-learning-model" and model["hashes"][0]["alg"] == "SHA-256"
    card = model["modelCard"]
    data = [c for c in doc["components"] if c["type"] == "data"]
    assert len(data) == 3 and all(c["data"][0]["type"] == "dataset" for c in data)
    assert {d["ref"] for d in card["modelParameters"]["datasets"]} == {c["bom-ref"] for c in data}
    names = {m["type"] for m in card["quantitativeAnalysis"]["performanceMetrics"]}
    assert "performance.roc_auc" in names
    assert card["considerations"]["fairnessAssessments"]
    libs = {c["name"] for c in doc["components"] if c["type"] == "library"}
    assert "scikit-learn" in libs  # from the package list recorded with the run
    deps = {d["ref"]: d.get("dependsOn", []) for d in doc["dependencies"]}
    assert set(deps[model["bom-ref"]]) >= {c["bom-ref"] for c in data}
    # The validator is strict: a model card field the schema does not know is rejected.
    bad = copy.deepcopy(doc)
    bad["metadata"]["component"]["modelCard"]["modelParameters"]["approach"] = {"type": "guesswork"}
    assert _cdx_errors(bad)


def _sslib_key(verifier_key: str) -> SSlibKey:
    v = NoteVerifier(verifier_key)
    return SSlibKey(v.key_id_hex, "ed25519", "ed25519", {"public": v.public_key.hex()})


def test_intoto_slsa_dsse_verifies_with_securesystemslib(demo: Path) -> None:
    with modeltrail.open(demo) as t:
        env = provenance_envelope(t, MODEL)
        vk = t.signer().verifier_key()
        stmt = provenance_statement(t, MODEL)
    key = _sslib_key(vk)
    verified = Envelope.from_dict(copy.deepcopy(env)).verify([key], 1)
    assert key.keyid in verified
    body = json.loads(base64.b64decode(env["payload"]))
    assert body == stmt == verify_envelope(env, vk)
    assert body["_type"] == "https://in-toto.io/Statement/v1"
    assert body["predicateType"] == "https://slsa.dev/provenance/v1"
    deps = body["predicate"]["buildDefinition"]["resolvedDependencies"]
    assert sum(1 for d in deps if d["uri"].startswith("modeltrail:dataset:")) == 3
    assert body["predicate"]["runDetails"]["builder"]["id"].endswith(
        body["predicate"]["runDetails"]["metadata"]["invocationId"]
    )
    # A changed payload or another key fails both verifiers.
    forged = dict(env, payload=base64.b64encode(json.dumps({**body, "subject": []}).encode()).decode())
    with pytest.raises(VerificationError):
        Envelope.from_dict(copy.deepcopy(forged)).verify([key], 1)
    with pytest.raises(SignatureError):
        verify_envelope(forged, vk)
    other = NoteSigner.generate("someone-else")
    with pytest.raises(VerificationError):
        Envelope.from_dict(copy.deepcopy(env)).verify([_sslib_key(other.verifier_key())], 1)
    # PAE exactly as the DSSE spec's example: "DSSEv1 29 http://example.com/HelloWorld 11 hello world".
    assert (
        pae("http://example.com/HelloWorld", b"hello world")
        == b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )


# OpenLineage publishes its JSON Schema on its web site, and no PyPI package ships it, so this subset of
# OpenLineage.json 2-0-2 (RunEvent, Run, Job, Dataset and the facet base; source: openlineage.io/spec)
# is written out here and checked with jsonschema: required fields, formats and the facet contract.
_FACET = {
    "type": "object",
    "required": ["_producer", "_schemaURL"],
    "properties": {"_producer": {"type": "string", "format": "uri"}, "_schemaURL": {"type": "string", "format": "uri"}},
}
_DATASET = {
    "type": "object",
    "required": ["namespace", "name"],
    "properties": {
        "namespace": {"type": "string"},
        "name": {"type": "string"},
        "facets": {"type": "object", "additionalProperties": _FACET},
    },
}
RUN_EVENT_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["eventTime", "producer", "schemaURL", "run", "job"],
    "properties": {
        "eventType": {"enum": ["START", "RUNNING", "COMPLETE", "ABORT", "FAIL", "OTHER"]},
        "eventTime": {"type": "string", "format": "date-time"},
        "producer": {"type": "string", "format": "uri"},
        "schemaURL": {"type": "string", "format": "uri"},
        "run": {
            "type": "object",
            "required": ["runId"],
            "properties": {
                "runId": {"type": "string", "format": "uuid"},
                "facets": {"type": "object", "additionalProperties": _FACET},
            },
        },
        "job": {
            "type": "object",
            "required": ["namespace", "name"],
            "properties": {
                "namespace": {"type": "string"},
                "name": {"type": "string"},
                "facets": {"type": "object", "additionalProperties": _FACET},
            },
        },
        "inputs": {"type": "array", "items": _DATASET},
        "outputs": {"type": "array", "items": _DATASET},
    },
}


def test_openlineage_file_transport_events_validate(demo: Path, tmp_path: Path) -> None:
    out = tmp_path / "ol.jsonl"
    with modeltrail.open(demo) as t:
        assert write_openlineage(t, MODEL, out) == 2
        assert write_openlineage(t, MODEL, out) == 2  # written whole, not appended
    events = [json.loads(x) for x in out.read_text().splitlines()]
    assert [e["eventType"] for e in events] == ["START", "COMPLETE"]
    checker = jsonschema.Draft202012Validator(RUN_EVENT_SCHEMA, format_checker=jsonschema.FormatChecker())
    for e in events:
        checker.validate(e)
    start, done = events
    assert start["run"]["runId"] == done["run"]["runId"]
    assert len(start["inputs"]) == 3 and done["outputs"][0]["name"] == f"model:{MODEL}"
    params = {p["key"] for p in start["run"]["facets"]["executionParameters"]["parameters"]}
    assert {"seed", "model"} <= params
    assert done["run"]["facets"]["modeltrail_metrics"]["metrics"]["validation.roc_auc"] > 0.5
    with pytest.raises(jsonschema.ValidationError):
        checker.validate({**start, "run": {"runId": "not-a-uuid"}})


def test_exports_errors_and_failed_run(trail: Trail) -> None:
    story(trail)
    with pytest.raises(NotFoundError):
        cyclonedx_bom(trail, "ghost@1")
    with pytest.raises(ValidationError):
        provenance_statement(trail, "credit")
    doc = cyclonedx_bom(trail, "credit@1")
    assert _cdx_errors(doc) == []
    # The story's run ended "completed"; a failed run gives FAIL and no output.
    run_ref = next(trail.events("run.started")).subject
    assert run_ref is not None
    evs = run_events(trail, "credit@1")
    assert [e.eventType.value for e in evs] == ["START", "COMPLETE"]
    trail.record(
        "model.registered",
        system="credit-scoring",
        actor=modeltrail.Actor("alice", "data_scientist"),
        subject="model:credit@2",
        payload={"name": "credit", "version": 2, "artifact": {}},
        refs=[],
    )
    with pytest.raises(ValidationError):
        run_events(trail, "credit@2")  # no tracked run
    with pytest.raises(ValidationError):
        provenance_statement(trail, "credit@2")  # no artifact hash


def test_export_cli(demo: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    for kind, name in (("cyclonedx", "bom.json"), ("intoto", "prov.json"), ("openlineage", "ol.jsonl"), ("spdx", "spdx.json")):
        res = runner.invoke(cli, ["--trail", str(demo), "export", kind, MODEL, "-o", str(tmp_path / name)])
        assert res.exit_code == 0, res.output
    assert _cdx_errors(json.loads((tmp_path / "bom.json").read_text())) == []
    with modeltrail.open(demo) as t:
        key = _sslib_key(t.signer().verifier_key())
    Envelope.from_dict(json.loads((tmp_path / "prov.json").read_text())).verify([key], 1)
    res = runner.invoke(cli, ["--trail", str(demo), "export", "cyclonedx", "nothing@9", "-o", str(tmp_path / "x.json")])
    assert res.exit_code == 1 and not (tmp_path / "x.json").exists()


def test_spdx_ai_and_dataset_profiles_round_trip(demo: Path) -> None:
    import io

    from spdx_python_model import v3_0_1 as spdx

    from modeltrail.exports.spdx import spdx_document

    with modeltrail.open(demo) as t:
        doc = spdx_document(t, MODEL)
        reg = next(t.events("model.registered", subject=f"model:{MODEL}"))
        datasets = {e.subject: e for e in t.events("dataset.registered")}
    assert doc["@context"] == "https://spdx.org/rdf/3.0.1/spdx-context.jsonld"
    # The bindings generated from the SPDX 3.0.1 SHACL model read the document back, types checked.
    objects = spdx.SHACLObjectSet()
    spdx.JSONLDDeserializer().read(io.BytesIO(json.dumps(doc).encode()), objects)
    [model] = list(objects.foreach_type(spdx.ai_AIPackage))
    assert model.name == "credit-logreg" and model.software_packageVersion == "1"
    assert model.verifiedUsing[0].hashValue == reg.payload["artifact"]["sha256"]
    assert {e.key for e in model.ai_metric} >= {"performance.roc_auc"}
    packages = list(objects.foreach_type(spdx.dataset_DatasetPackage))
    hashes = {p.verifiedUsing[0].hashValue for p in packages}
    linked = {d["ref"] for d in reg.payload["datasets"]}
    assert hashes == {datasets[r].payload["content_hash"] for r in linked}
    rels = {str(r.relationshipType).rsplit("/", 1)[-1]: r for r in objects.foreach_type(spdx.Relationship)}
    assert set(rels) == {"trainedOn", "testedOn"} and all(r.from_ is model for r in rels.values())
    assert {p.name for r in rels.values() for p in r.to} == {p.name for p in packages}
    [document] = list(objects.foreach_type(spdx.SpdxDocument))
    assert document.rootElement == [model]
