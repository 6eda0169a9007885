"""Documents generated from evidence on the demo's credit trail (SQLite and PostgreSQL): every kind in every
format with no evidence gap, citations bound to a checkpoint, signatures, staleness, statements, the risk
register and the per-system compliance status."""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import modeltrail
from conftest import pg_base_url, require_pg
from modeltrail.demo import CAROL, run_demo
from modeltrail.documents import (
    KINDS,
    build_documents,
    identify_risk,
    load_answers,
    mitigate_risk,
    proposed_risks,
    record_answers,
    record_statement,
    review_risk,
    risk_register,
)
from modeltrail.documents.render import pdf_available
from modeltrail.documents.signing import verify_document
from modeltrail.documents.staleness import check_documents
from modeltrail.documents.status import compliance_status, render_status_html
from modeltrail.errors import NotFoundError, SignatureError, ValidationError
from modeltrail.events import Actor
from modeltrail.requirements import load_catalogue

SYSTEM = "credit-scoring"
BOB = Actor("bob", "model_risk")


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def demo(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The demo (120 decisions) on each backend; it already generated every kind once."""
    url = None
    if request.param == "postgres":
        require_pg()
        base = pg_base_url()
        url = f"{base}{'&' if '?' in base else '?'}schema=mt_docs_{secrets.token_hex(6)}"
    result = run_demo(tmp_path_factory.mktemp("docs") / "demo", decisions=120, seed=7, url=url)
    yield result
    if url is not None:
        from modeltrail.ledger.pgstore import PostgresStore

        store = PostgresStore(url)
        try:
            store.drop()
        finally:
            store.close()


@pytest.fixture(scope="module")
def built(demo: Any) -> list[Any]:
    """Every kind for the deployed model in md, html, json and (with the extra) pdf."""
    formats = "md,html,json" + (",pdf" if pdf_available() else "")
    with modeltrail.open(demo.trail_path) as t:
        return build_documents(t, demo.deployed, "all", actor=CAROL, formats=formats, out_dir=demo.directory / "built")


def test_demo_generated_every_kind(demo: Any) -> None:
    kinds = {Path(f).name.split("-", 1)[0] for f in demo.documents}
    assert kinds == set(KINDS)
    assert demo.counts["doc.generated"] == len(KINDS) + 2  # one dataset card per dataset version (3)


def test_every_kind_every_format_without_evidence_gaps(built: list[Any]) -> None:
    assert {d.kind for d in built} == set(KINDS)
    assert sum(d.kind == "dataset_card" for d in built) == 3
    for d in built:
        assert d.gaps == [], (d.kind, d.gaps)
        md = d.files["md"].read_text(encoding="utf-8")
        html = d.files["html"].read_text(encoding="utf-8")
        for text in (md, html):
            assert "NO EVIDENCE" not in text, d.kind
            assert f"size {d.checkpoint_size}, root" in text and d.checkpoint_root in text
        # Self-contained: no script, no stylesheet link, no remote resource.
        assert "<script" not in html and "<link" not in html and 'src="http' not in html
        if pdf_available():
            pdf = d.files["pdf"].read_bytes()
            assert pdf.startswith(b"%PDF-") and b"/Metadata" in pdf  # PDF/A-3b: XMP metadata present
    charts = {d.kind for d in built if "<svg" in d.files["html"].read_text(encoding="utf-8")}
    assert {"annex_iv", "model_card", "dataset_card", "instructions_for_use"} <= charts
    reg = next(d for d in built if d.kind == "registration")
    data = json.loads(reg.files["json"].read_text(encoding="utf-8"))
    assert data["4_unique_reference"] == "model:credit-logreg@1" or data["4_unique_reference"].startswith("model:")
    assert data["7_market_status"] == "suspended"  # the demo's kill switch
    assert data["provenance"]["checkpoint"]["size"] == reg.checkpoint_size
    # Every null of the registration data is explained by an open item naming who answers it.
    awaited = {i["key"] for i in data["open_items"]}
    assert data["1_provider"] is None and "system.provider" in awaited
    assert all(i["role"] and i["how"].startswith("modeltrail docs answer") for i in data["open_items"])


def test_documents_cover_every_point_the_catalogue_lists(built: list[Any]) -> None:
    cat = load_catalogue()
    by_kind = {d.kind: d.files["md"].read_text(encoding="utf-8") for d in built}
    for kind, prefix in (
        ("annex_iv", "annex4."),
        ("declaration_of_conformity", "annex5."),
        ("instructions_for_use", "art13.3"),
        ("qms", "art17.1"),
        ("registration", "annex8a."),
    ):
        ids = [r.id for r in cat if r.id.startswith(prefix)]
        assert ids
        missing = [i for i in ids if i not in by_kind[kind]]
        assert missing == [], (kind, missing)


def test_human_parts_are_open_items_not_blanks(built: list[Any]) -> None:
    annex = next(d for d in built if d.kind == "annex_iv")
    md = annex.files["md"].read_text(encoding="utf-8")
    assert "system.intended_purpose" in annex.open_items
    assert "AWAITING STATEMENT by product_owner (`system.intended_purpose`" in md
    assert "## Open items" in md
    # Evidence-filled values cite their events.
    assert "credit-logreg@1 (sklearn.pipeline.Pipeline" in md and "_(events " in md


def test_doc_generated_binds_files_to_a_checkpoint(demo: Any, built: list[Any]) -> None:
    with modeltrail.open(demo.trail_path) as t:
        for d in built:
            ev = t.get_event(d.seq)
            assert ev.type == "doc.generated" and ev.actor.id == "carol"
            p = ev.payload
            assert p["kind"] == d.kind and p["checkpoint"]["size"] <= d.seq
            assert all(s < p["checkpoint"]["size"] for s in p["basis"])
            cps = {(c.size, c.root.hex()) for c in t.checkpoints()}
            assert (p["checkpoint"]["size"], p["checkpoint"]["root_hex"]) in cps
            for fmt, path in d.files.items():
                data = path.read_bytes()
                assert hashlib.sha256(data).hexdigest() == p["formats"][fmt]["sha256"]
                assert t.blobs.get_bytes(p["formats"][fmt]["sha256"]) == data
                text = verify_document(t, data, path.with_suffix(path.suffix + ".sig").read_text())
                assert f"checkpoint {d.checkpoint_size} {d.checkpoint_root}" in text
            with pytest.raises(SignatureError):
                verify_document(t, d.files["md"].read_bytes() + b" ", p["formats"]["md"]["signature"])
        doc = next(d for d in built if d.kind == "declaration_of_conformity")
        assert t.get_event(doc.seq).payload["authority"] == ["bob", "carol"]


def test_compliance_status_answers_per_requirement(demo: Any) -> None:
    with modeltrail.open(demo.trail_path) as t:
        st = compliance_status(t, SYSTEM)
    assert st.tiers == ["high"] and st.roles == ["provider", "deployer"]
    by_id = {r.id: r for r in st.requirements}
    cat = load_catalogue()
    expected = {r.id for r in cat if "high" in r.risk_tiers and {"provider", "deployer"} & set(r.applies_to)}
    assert set(by_id) == expected
    assert not any(i.startswith("art53") for i in by_id)  # GPAI duties do not apply
    c = by_id["annex4.1c"]
    assert c.state == "satisfied" and all(e.seqs for e in c.evidence)
    reg = by_id["art9.1"].evidence[0]
    assert by_id["art9.1"].state == "waiting" and reg.name == "risk.register" and reg.who == ["model_risk"]
    assert by_id["art72.2"].state == "missing"  # not yet monitored
    arts = st.articles()
    assert arts["Art. 5"]["readiness"] == 1.0
    assert 0 < sum(st.counts().values()) == len(st.requirements)
    html = render_status_html(st)
    assert "<html" in html and "annex4.1c" in html and "<script" not in html


def test_statements_risks_staleness_and_status_move_together(demo: Any) -> None:
    with modeltrail.open(demo.trail_path) as t:
        target = demo.deployed
        [card] = build_documents(t, target, "model_card", actor=CAROL, formats="md")
        [risk] = build_documents(t, SYSTEM, "risk_register", actor=CAROL, formats="md")
        current = {(s.kind, s.subject): s for s in check_documents(t, SYSTEM)}
        assert not current[("model_card", card.subject)].stale
        # Serving traffic alone does not make a document stale.
        t.record(
            "inference.decision",
            system=SYSTEM,
            actor={"id": "svc", "role": "service", "kind": "service"},
            subject="decision:x",
            payload={"model": target, "output": 0},
        )
        assert not {(s.kind, s.subject): s for s in check_documents(t, SYSTEM)}[("model_card", card.subject)].stale
        # A statement it rests on does.
        r = record_statement(t, SYSTEM, "design.limitations", "Trained on 1990s German data", actor=BOB)
        states = {(s.kind, s.subject): s for s in check_documents(t, SYSTEM)}
        stale = states[("model_card", card.subject)]
        assert stale.stale and stale.newer == [r.seq]
        assert any(f"event {r.seq} doc.statement design.limitations" in x for x in stale.reasons)
        # A risk makes the register stale; once identified, mitigated and reviewed, Art. 9(1) is satisfied.
        rr = identify_risk(
            t,
            SYSTEM,
            "R1",
            title="Indirect discrimination by age",
            category="discrimination",
            likelihood=3,
            impact=4,
            owner="bob",
            review_by="2999-01-01",
            actor=BOB,
        )
        assert not states[("risk_register", risk.subject)].stale
        after = {(s.kind, s.subject): s for s in check_documents(t, SYSTEM)}
        assert after[("risk_register", risk.subject)].stale and rr.seq in after[("risk_register", risk.subject)].newer
        mitigate_risk(
            t,
            SYSTEM,
            "R1",
            mitigation="age_band excluded; fairness gate",
            residual_likelihood=2,
            residual_impact=3,
            actor=BOB,
        )
        review_risk(t, SYSTEM, "R1", outcome="acceptable", next_review="2999-06-01", actor=BOB)
        reg = risk_register(t, SYSTEM)["R1"]
        assert reg.score == 12 and reg.residual_score == 6 and not reg.overdue() and rr.seq in reg.seqs
        [fresh] = build_documents(t, SYSTEM, "risk_register", actor=CAROL, formats="md")
        md = fresh.files["md"].read_text(encoding="utf-8")
        assert "Indirect discrimination by age" in md and "risk.register" not in fresh.open_items
        assert not next(s for s in check_documents(t, SYSTEM) if s.kind == "risk_register").stale
        st = {r.id: r for r in compliance_status(t, SYSTEM).requirements}
        assert st["art9.1"].state == "satisfied"
        assert st["art9.2d"].state == "satisfied"  # risk.mitigations
        # The answered statement shows up in a regenerated card, with who said it.
        [card2] = build_documents(t, target, "model_card", actor=CAROL, formats="md")
        text = card2.files["md"].read_text(encoding="utf-8")
        assert "Trained on 1990s German data (stated by bob" in text and "design.limitations" not in card2.open_items


def test_proposed_risks_come_from_evidence(demo: Any) -> None:
    with modeltrail.open(demo.trail_path) as t:
        proposed = proposed_risks(t, SYSTEM)
    sources = {p.source.split(" ", 1)[0] for p in proposed}
    assert "robustness" in sources  # the demo's robustness report warns about missing values
    assert any(p.source.startswith("gate production") for p in proposed)  # the failing candidate


def test_bad_input_is_refused_and_nothing_written(demo: Any, tmp_path: Path) -> None:
    with modeltrail.open(demo.trail_path) as t:
        n = t.size()
        with pytest.raises(ValidationError, match="unknown statement key"):
            record_statement(t, SYSTEM, "system.nope", "x", actor=BOB)
        with pytest.raises(ValidationError) as exc:
            record_statement(t, SYSTEM, "system.provider", "x", actor={"id": "ci", "role": "svc", "kind": "service"})
        assert exc.value.field == "actor"
        with pytest.raises(ValidationError) as exc:
            identify_risk(
                t,
                SYSTEM,
                "R9",
                title="t",
                category="discrimination",
                likelihood=6,
                impact=1,
                owner="o",
                review_by="2999-01-01",
                actor=BOB,
            )
        assert exc.value.field == "likelihood"
        with pytest.raises(NotFoundError):
            mitigate_risk(t, SYSTEM, "nope", mitigation="m", residual_likelihood=1, residual_impact=1, actor=BOB)
        answers = tmp_path / "answers.yaml"
        answers.write_text(yaml.safe_dump({"system.provider": "ACME Bank", "not.a.key": "x"}))
        with pytest.raises(ValidationError, match=r"not\.a\.key"):
            record_answers(t, SYSTEM, load_answers(answers), actor=BOB)
        with pytest.raises(ValidationError) as exc:
            build_documents(t, demo.deployed, "annex_v", actor=CAROL)
        assert exc.value.field == "kind"
        with pytest.raises(ValidationError) as exc:
            build_documents(t, demo.deployed, "qms", actor=CAROL, formats="md,docx")
        assert exc.value.field == "format"
        assert t.size() == n


def test_templates_are_overridable_per_kind(demo: Any, tmp_path: Path) -> None:
    (tmp_path / "model_card.md.j2").write_text(
        '{% extends "base.md.j2" %}{% block footer %}\nBank house style: {{ doc.subject }}\n{% endblock %}'
    )
    with modeltrail.open(demo.trail_path) as t:
        [card] = build_documents(
            t, demo.deployed, "model_card", actor=CAROL, formats="md", templates=tmp_path, out_dir=tmp_path / "out"
        )
        [qms] = build_documents(
            t, SYSTEM, "qms", actor=CAROL, formats="md", templates=tmp_path, out_dir=tmp_path / "out"
        )
    assert f"Bank house style: {card.subject}" in card.files["md"].read_text()
    assert "Bank house style" not in qms.files["md"].read_text()  # other kinds keep the packaged layout


def test_gates_accept_generated_documents_as_evidence(demo: Any, built: list[Any]) -> None:
    from modeltrail.registry import collect_evidence, get_version

    with modeltrail.open(demo.trail_path) as t:
        ev = collect_evidence(t, get_version(t, demo.deployed)).evidence
        latest = {e.payload["kind"]: e.seq for e in t.events("doc.generated")}  # later tests may regenerate
    assert ev["model_card"] == latest["model_card"]
    assert ev["technical_documentation"] == latest["annex_iv"]
    assert ev["risk_assessment"] == latest["risk_register"]


def test_monitoring_plan_reads_monitor_events(demo: Any) -> None:
    with modeltrail.open(demo.trail_path) as t:
        # The demo's monitoring chapter has already run: the plan cites its readings; a new one makes it stale.
        [before] = build_documents(t, SYSTEM, "monitoring_plan", actor=CAROL, formats="md")
        assert "psi 0.31 on credit_amount" not in before.files["md"].read_text()
        r = t.record(
            "monitor.drift",
            system=SYSTEM,
            actor={"id": "monitor", "role": "service", "kind": "service"},
            subject=demo.deployed,
            payload={"metric": "psi", "value": 0.31, "message": "psi 0.31 on credit_amount exceeds 0.25"},
        )
        stale = next(s for s in check_documents(t, SYSTEM) if s.kind == "monitoring_plan")
        assert stale.stale and stale.newer == [r.seq]
        [after] = build_documents(t, SYSTEM, "monitoring_plan", actor=CAROL, formats="md")
        md = after.files["md"].read_text()
        assert "psi 0.31 on credit_amount" in md and r.seq in after.basis
        st = {q.id: q for q in compliance_status(t, SYSTEM).requirements}
        drift = next(e for e in st["art72.2"].evidence if e.name == "monitor.drift")
        assert drift.state == "satisfied" and drift.seqs == [r.seq]
        assert not any(p.source_seq == r.seq for p in proposed_risks(t, SYSTEM))  # a reading, not an alert
