"""Erasure (GDPR Art. 17), legal holds on subjects, and subject access (GDPR Art. 15 / AI Act Art. 86)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from sklearn.linear_model import LogisticRegression

from modeltrail.cli.main import main
from modeltrail.errors import HoldError, NotFoundError, PermissionDeniedError, ValidationError
from modeltrail.events import Actor
from modeltrail.policy import parse_policy
from modeltrail.registry import register_policy
from modeltrail.retention import erasure, export, holds, subjects
from modeltrail.runtime import guard, reveal, review
from modeltrail.runtime.datapolicy import load_pseudonymiser, open_sealer, open_vault
from modeltrail.trail import Trail

POLICY = """
system: credit-scoring
risk_tier: high
data_policy:
  fields: {applicant_id: pseudonymise, age_years: seal, telephone: drop}
  default: keep
roles: {reveal: [auditor]}
users:
  dave: {roles: [auditor]}
  carol: {roles: [compliance]}
  dana: {roles: [dpo]}
  lena: {roles: [legal]}
  rita: {roles: [reviewer]}
  alice: {roles: [data_scientist]}
allow_impersonation: true
retention:
  inference.*: P6M
  "*": P10Y
"""
FEATURES = ["duration_months", "credit_amount", "age_years"]
DPO = Actor("dana", "dpo")
CAROL = Actor("carol", "compliance")
RITA = Actor("rita", "reviewer")


class _Explainer:
    """Per-decision reasons, as the guard logs them (feature, contribution)."""

    def explain(self, features: Mapping[str, Any], top_k: int) -> list[tuple[str, float]]:
        return [("credit_amount", -0.4), ("duration_months", 0.25)][:top_k]


@pytest.fixture()
def model() -> LogisticRegression:
    rng = np.random.default_rng(1)
    X = np.column_stack([rng.integers(6, 60, 300), rng.integers(500, 15000, 300), rng.integers(19, 75, 300)])
    y = (X[:, 0] * 100 + rng.normal(0, 800, 300) > X[:, 1] / 3).astype(int)
    return LogisticRegression(max_iter=1000).fit(X.astype(float), y)


def _row(applicant: str, age: int = 35) -> dict[str, object]:
    return {
        "duration_months": 24,
        "credit_amount": 4000.0,
        "age_years": age,
        "applicant_id": applicant,
        "telephone": "+49 30 1234567",
    }


def _populate(trail: Trail, model: LogisticRegression) -> dict[str, list[str]]:
    """Decisions for two applicants, a review of one, a generic event naming one; decision ids by applicant."""
    register_policy(trail, POLICY, actor=CAROL)
    g = guard(trail, model, name="credit", policy=parse_policy(POLICY), feature_names=FEATURES, explainer=_Explainer())
    out: dict[str, list[str]] = {"APP-1": [], "APP-2": []}
    for who, n in (("APP-1", 3), ("APP-2", 2)):
        for i in range(n):
            d = g.decide(_row(who, 30 + i), subject=who)
            d.durable(10)
            out[who].append(d.decision_id)
    review(trail, out["APP-1"][0], actor=RITA, accept=True, reason="checked the documents")
    review(trail, out["APP-2"][1], actor=RITA, override=0, reason="income verified by phone")
    trail.record("crm.note", system="credit-scoring", actor=CAROL, subject="APP-1", payload={"note": "called"})
    g.close()
    return out


def _all_leaves(trail: Trail) -> bytes:
    return b"\n".join(r.leaf for r in trail.rows())


def test_records_are_found_by_every_link(trail: Trail, model: LogisticRegression) -> None:
    ids = _populate(trail, model)
    found = subjects.find_records(trail, "APP-1")
    assert sorted(e.payload["decision_id"] for e in found.decisions) == sorted(ids["APP-1"])
    assert all(found.links[e.seq] == {"vault", "sealed"} for e in found.decisions)
    assert [e.type for e in found.related] == ["oversight.reviewed"]
    assert [e.type for e in found.direct] == ["crm.note"]
    assert found.vault_fields == {"applicant_id"} and len(found.key_ids) == 1


def test_erasure_leaves_no_way_back_and_verify_passes(trail: Trail, model: LogisticRegression) -> None:
    ids = _populate(trail, model)
    before = subjects.find_records(trail, "APP-1")
    token = before.decisions[0].payload["pseudonyms"]["applicant_id"]
    sealed_ref = before.decisions[0].sealed["age_years"]
    res = erasure.erase(trail, "APP-1", actor=DPO, reason="erasure request R-77 of 2026-12-01")
    assert (res.decisions, res.unlinked_tokens, res.keys_shredded) == (3, 1, 1)
    assert res.blobs_deleted == 3 and res.purged == 1  # the crm.note named the person in clear

    # Nobody can find the person any more: not by id, not with the keys, not through the vault.
    after = subjects.find_records(trail, "APP-1")
    assert after.empty and after.decisions == [] and after.direct == []
    leaves = _all_leaves(trail)
    assert b"APP-1" not in leaves
    keyed = load_pseudonymiser(trail)
    assert keyed.pseudonym("APP-1", "applicant_id").encode() not in leaves  # the vault lookup is not stored
    vault = open_vault(trail)
    assert vault.find("APP-1", "applicant_id") is None
    vault.close()
    # The token the records keep is random: it is not what a new vault row for the same id would be.
    assert token.encode() in leaves
    # Their sealed data cannot be read by any role, the auditor included.
    with pytest.raises(NotFoundError):
        open_sealer(trail).unseal_ref(trail.blobs, sealed_ref)
    with pytest.raises(NotFoundError):
        reveal(trail, ids["APP-1"][0], purpose="audit", actor=Actor("dave", "auditor"))
    # The erasure is recorded without the identifier, and the ledger still verifies.
    (ev,) = list(trail.events("subject.erased"))
    assert b"APP-1" not in ev.leaf and ev.payload["reason"].startswith("erasure request")
    assert ev.actor.id == "dana" and ev.payload["purged_ranges"]
    v = trail.verify()
    assert v.ok, v.problems
    assert v.purged_count == 1
    # The other applicant is untouched.
    assert len(subjects.find_records(trail, "APP-2").decisions) == 2


def test_erasure_on_an_old_trail_with_keyed_pseudonyms_purges_the_linked_records(
    trail: Trail, model: LogisticRegression
) -> None:
    trail.config = dataclasses.replace(trail.config, pseudonyms="keyed")
    _populate(trail, model)
    found = subjects.find_records(trail, "APP-1")
    assert all("keyed" in found.links[e.seq] for e in found.decisions)
    keyed = load_pseudonymiser(trail).pseudonym("APP-1", "applicant_id")
    assert keyed.encode() in _all_leaves(trail)  # old pseudonyms keep reading
    res = erasure.erase(trail, "APP-1", actor=DPO, reason="request R-78")
    assert res.purged == 3 + 1 + 1  # decisions, their review, the note
    assert keyed.encode() not in _all_leaves(trail)
    assert subjects.find_records(trail, "APP-1").empty
    assert trail.verify().ok


def test_a_hold_on_the_subject_blocks_erasure(trail: Trail, model: LogisticRegression) -> None:
    _populate(trail, model)
    h = holds.place_hold(trail, actor=Actor("lena", "legal"), subject="APP-2", reason="court order 4 O 12/26")
    placed = next(iter(trail.events("hold.placed")))
    assert b"APP-2" not in placed.leaf and placed.payload["records"]
    with pytest.raises(HoldError, match=h.id):
        erasure.erase(trail, "APP-2", actor=DPO, reason="request R-79")
    (ref,) = list(trail.events("subject.erasure_refused"))
    assert ref.payload["holds"] == [h.id] and b"APP-2" not in ref.leaf
    assert len(subjects.find_records(trail, "APP-2").decisions) == 2
    # The hold also keeps the subject's records from a retention purge of their system.
    from datetime import UTC, datetime, timedelta

    from modeltrail.retention import rules

    p = rules.plan(trail, now=datetime.now(UTC) + timedelta(days=200))
    assert p.held == 2 and p.count == 3
    holds.release_hold(trail, h.id, actor=Actor("lena", "legal"), reason="order lifted")
    erasure.erase(trail, "APP-2", actor=DPO, reason="request R-79")
    assert subjects.find_records(trail, "APP-2").empty
    assert trail.verify().ok  # the hold events named the subject's ref: purged with the erasure


def test_erasure_needs_the_role_and_a_reason_without_the_id(trail: Trail, model: LogisticRegression) -> None:
    _populate(trail, model)
    with pytest.raises(PermissionDeniedError, match="dpo"):
        erasure.erase(trail, "APP-1", actor=Actor("alice", "data_scientist"), reason="please")
    assert [e.actor.id for e in trail.events("subject.erasure_refused")] == ["alice"]
    with pytest.raises(ValidationError) as info:
        erasure.erase(trail, "APP-1", actor=DPO, reason="APP-1 asked")
    assert info.value.field == "reason"


def test_subject_export_is_complete_and_recorded(trail: Trail, model: LogisticRegression) -> None:
    ids = _populate(trail, model)
    out = export.export_subject(trail, "APP-2", actor=DPO)
    doc = json.loads(out.content)
    assert sorted(d["decision_id"] for d in doc["decisions"]) == sorted(ids["APP-2"])
    for d in doc["decisions"]:
        assert "credit" in d["model_version"] and d["main_reasons"][0]["feature"] == "credit_amount"
        assert isinstance(d["inputs_sealed"]["age_years"], int)  # the person's own sealed data, opened
    actions = [a for d in doc["decisions"] for a in d["human_actions"]]
    assert [a["type"] for a in actions] == ["oversight.overridden"] and actions[0]["by_role"] == "reviewer"
    req, ans = trail.get_event(out.request_seq), trail.get_event(out.answer_seq)
    assert (req.type, ans.type) == ("subject.request_received", "subject.exported")
    assert req.payload["deadline"] > req.payload["received_at"] and ans.refs == [f"event:{req.seq}"]
    assert ans.payload["sha256"] == out.sha256 and ans.payload["decisions"] == 2
    assert b"APP-2" not in req.leaf and b"APP-2" not in ans.leaf
    html = export.export_subject(trail, "APP-2", actor=DPO, fmt="html").content.decode()
    assert "<table" in html and "credit_amount" in html and "oversight.overridden" in html
    with pytest.raises(PermissionDeniedError):
        export.export_subject(trail, "APP-2", actor=Actor("alice", "data_scientist"))
    assert len(list(trail.events("subject.export_refused"))) == 1
    assert trail.verify().ok


def test_cli_hold_erase_and_export(trail: Trail, model: LogisticRegression, tmp_path: Path) -> None:
    _populate(trail, model)
    run = CliRunner()
    base = ["--trail", str(trail.path)]
    r = run.invoke(main, [*base, "hold", "add", "--subject", "APP-1", "--reason", "case 9"], env={"MODELTRAIL_USER": "lena"})
    assert r.exit_code == 0, r.output + r.stderr
    hold_id = json.loads(r.output)["hold_id"]
    r = run.invoke(main, [*base, "hold", "list"])
    assert hold_id in r.output and "APP-1" not in r.output
    r = run.invoke(main, [*base, "erase", "--subject", "APP-1", "--reason", "R-1"], env={"MODELTRAIL_USER": "dana"})
    assert r.exit_code == 1 and hold_id in r.stderr
    r = run.invoke(main, [*base, "hold", "remove", hold_id, "--reason", "closed"], env={"MODELTRAIL_USER": "lena"})
    assert r.exit_code == 0, r.output + r.stderr
    r = run.invoke(main, [*base, "erase", "--subject", "APP-1", "--reason", "R-1"], env={"MODELTRAIL_USER": "alice"})
    assert r.exit_code == 1
    r = run.invoke(main, [*base, "erase", "--subject", "APP-1", "--reason", "R-1", "--json"],
                   env={"MODELTRAIL_USER": "dana"})  # fmt: skip
    assert r.exit_code == 0, r.output + r.stderr
    assert json.loads(r.output)["decisions"] == 3
    f = tmp_path / "answer.html"
    r = run.invoke(main, [*base, "subject", "export", "APP-2", "--format", "html", "-o", str(f)],
                   env={"MODELTRAIL_USER": "dana"})  # fmt: skip
    assert r.exit_code == 0, r.output + r.stderr
    assert "Main reasons" in f.read_text()
    r = run.invoke(main, [*base, "log", "--type", "subject.*", "--json", "--all"])
    assert r.exit_code == 0
    types = [json.loads(line)["event"]["type"] for line in r.output.splitlines() if line.strip()]
    assert {"subject.erased", "subject.request_received", "subject.exported", "subject.erasure_refused"} <= set(types)
    r = run.invoke(main, [*base, "verify"])
    assert r.exit_code == 0 and "purged" in r.output


def test_records_sealed_under_another_spelling_of_the_id_are_erased_too(
    trail: Trail, model: LogisticRegression
) -> None:
    # As in the demo: the key is created for "applicant:APP-9", the pseudonym comes from the field "APP-9".
    register_policy(trail, POLICY, actor=CAROL)
    g = guard(trail, model, name="credit", policy=parse_policy(POLICY), feature_names=FEATURES)
    d = g.decide(_row("APP-9"), subject="applicant:APP-9")
    d.durable(10)
    g.close()
    found = subjects.find_records(trail, "APP-9")
    assert len(found.decisions) == 1 and found.key_ids and found.links[found.decisions[0].seq] == {"vault", "sealed"}
    ref = found.decisions[0].sealed["age_years"]
    res = erasure.erase(trail, "APP-9", actor=DPO, reason="request R-80")
    assert res.keys_shredded == 1 and res.unlinked_tokens == 1
    with pytest.raises(NotFoundError):
        open_sealer(trail).unseal_ref(trail.blobs, ref)
    assert subjects.find_records(trail, "APP-9").empty
    assert subjects.find_records(trail, "applicant:APP-9").empty
    assert trail.verify().ok


def test_the_demo_chapter_forgets_lawfully(trail: Trail, model: LogisticRegression) -> None:
    # The demo's last chapter on a small trail (the full demo needs the whole German Credit story).
    from modeltrail import demo

    register_policy(trail, POLICY, actor=CAROL)
    g = guard(trail, model, name="credit", policy=parse_policy(POLICY), feature_names=FEATURES, explainer=_Explainer())
    rows = [_row(f"APP-{i % 4}", 30 + i) for i in range(12)]
    first = g.decide_many(rows[:8], subjects=[str(r["applicant_id"]) for r in rows[:8]])
    for d in first:
        d.durable(10)
    later = g.decide_many(rows[8:], subjects=[str(r["applicant_id"]) for r in rows[8:]])
    for d in later:
        d.durable(10)
    g.close()
    said: list[str] = []
    out = demo._forgetting(trail, list(first), rows, said.append)
    assert out["purged"] == 8 and out["verify_ok"] and out["purged_leaves"] == 8
    assert out["access_decisions"] == 1 and out["erased_decisions"] == 1 and out["keys_shredded"] == 1
    assert any("access request" in s for s in said)


def test_record_of_processing(trail: Trail, model: LogisticRegression) -> None:
    _populate(trail, model)
    erasure.erase(trail, "APP-1", actor=DPO, reason="request R-90")
    r = CliRunner().invoke(main, ["--trail", str(trail.path), "export", "ropa", "--format", "json"])
    assert r.exit_code == 0, r.output + r.stderr
    rec = json.loads(r.output)
    (act,) = rec["activities"]
    assert act["system"] == "credit-scoring"
    assert {"field": "age_years", "treatment": "encrypted under the person's own key (crypto-shredded on erasure)"} in (
        act["personal_data"]
    )
    assert {"events": "inference.*", "kept_for": "P6M"} in act["erasure_time_limits"]
    assert rec["requests"]["erasures"] == 1 and rec["to_complete"]
    md = CliRunner().invoke(main, ["--trail", str(trail.path), "export", "ropa"])
    assert md.exit_code == 0 and "# Record of processing activities" in md.output and "APP-1" not in md.output
    # The export group of the audit module keeps its own subcommands.
    h = CliRunner().invoke(main, ["export", "--help"])
    assert "ropa" in h.output and "cyclonedx" in h.output.lower()
