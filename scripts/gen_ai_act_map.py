"""Generate docs/ai-act-map.md: which AI Act (and GDPR) requirement modeltrail serves today, and how.

Usage::

    python scripts/gen_ai_act_map.py            # rewrite docs/ai-act-map.md
    python scripts/gen_ai_act_map.py --check    # exit 1 when the page is out of date

The requirement catalogue (``modeltrail.requirements.load_catalogue()``) names, for every obligation, the
evidence a tool would hold (``ledger.inference_events``, ``report.fairness``, ``doc.annex_iv`` …). This
script holds the one hand-written part: :data:`EVIDENCE`, what modeltrail does today for each evidence name
and what it does not do yet. Everything else on the page is derived from the catalogue, so adding a
requirement to the catalogue shows up here on the next run, and an evidence name without an entry below
makes the script fail instead of silently claiming nothing.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "ai-act-map.md"


@dataclass(frozen=True)
class Serves:
    """What modeltrail does for one evidence name.

    ``today`` is the feature that exists now (commands, library calls, event types), ``None`` when there is
    nothing; ``gap`` is what is missing, ``None`` when the evidence is fully served.
    """

    today: str | None
    gap: str | None = None


EVIDENCE: dict[str, Serves] = {
    # --- the ledger and its cryptography -------------------------------------------------------------
    "ledger.inference_events": Serves(
        "every guarded decision is an `inference.decision` event (model version, env, inputs after the data "
        "policy, output, score, confidence, route and the review rules that fired); ground truth as "
        "`inference.label` (`modeltrail label`); `modeltrail log --type 'inference.*'`"
    ),
    "ledger.model_events": Serves(
        "`model.registered`, `gate.evaluated`, `model.approved`, `model.deployed`, `model.suspended`, "
        "`model.resumed`, `model.retired`, `model.rejected`, `model.break_glass`; `modeltrail status`, "
        "`modeltrail audit live-at`"
    ),
    "ledger.oversight_events": Serves(
        "`oversight.reviewed`, `oversight.overridden` (with reasons), `oversight.revealed`, "
        "`oversight.reveal_refused`; `modeltrail review decide`, `modeltrail review stats`"
    ),
    "ledger.subject_events": Serves(
        "decisions carry a pseudonym of the applicant id (a vault token on new trails, a keyed hash on older "
        "ones) and sealed values under the person's key, so one person's decisions are found for an access "
        "or erasure request (`modeltrail.retention.subjects.find_records`); every request is an event",
    ),
    "ledger.verify": Serves(
        "append-only Merkle ledger; `modeltrail verify` recomputes every leaf, node, checkpoint and "
        "signature (exit 1 names the first bad index)"
    ),
    "checkpoint.signed": Serves(
        "Ed25519-signed C2SP checkpoints (`modeltrail checkpoint`), taken automatically and cited by every "
        "approval; `modeltrail prove` gives inclusion and consistency proofs"
    ),
    "crypto.signatures": Serves(
        "signed checkpoints cover every event, approvals included; every generated document file has a "
        "signed note (`.sig`, `modeltrail docs verify`) binding its sha256 to a checkpoint",
        "documents are signed with the trail key (the declaration on behalf of the approvers it names), not "
        "with personal approver keys",
    ),
    "crypto.keys": Serves(
        "signing, pseudonym and per-subject data keys kept apart from the ledger (`keys/`, mode 0600); "
        "`modeltrail key rotate` (`key.rotated`; needs `roles.keys`, default `admin`; refusals recorded as "
        "`key.rotation_refused`); erasure shreds a subject's data keys and cuts their rows from the subject "
        "(`modeltrail erase`, `subject.erased`); a `KeyProvider` interface wraps the data keys: a file KEK or "
        "AWS KMS (`modeltrail.crypto.providers`)",
        "no CLI or config setting selects the KMS provider yet; data-key and pseudonym-key rotation and key "
        "operations as events are not built",
    ),
    "crypto.pseudonymise": Serves(
        "data policy `pseudonymise`: keyed HMAC-SHA256 pseudonyms in `inference.decision` (`pseudonyms`)"
    ),
    "crypto.seal": Serves(
        "data policy `seal`: AES-256-GCM per subject, only hash and key id in the event; `modeltrail reveal` "
        "(reveal role, every attempt recorded)"
    ),
    "access.log": Serves(
        "every reveal of sealed data, granted or refused, is an event (`oversight.revealed`, "
        "`oversight.reveal_refused`)",
        "reads of the trail itself (log, lineage, blobs) are not logged",
    ),
    # --- lineage ---------------------------------------------------------------------------------------
    "lineage.dataset": Serves(
        "`dataset.registered` with content hash, schema, profile, role and source (`modeltrail dataset "
        "register`, `dataset import-dvc`, `trail.register_dataset`); `modeltrail datasets show`"
    ),
    "lineage.run": Serves(
        "`run.started` / `run.params` / `run.metrics` / `run.ended` (`trail.run(...)`, `modeltrail run`, "
        "`modeltrail import mlflow`); `modeltrail runs show`"
    ),
    "lineage.code": Serves("git commit, branch, remote, dirty flag and diff hash in `run.started`"),
    "lineage.environment": Serves(
        "Python version, platform and the hash of the installed package list in `run.started`"
    ),
    "lineage.model": Serves(
        "`model.registered` with artifact hash, signature, training range, run and datasets; "
        "`modeltrail lineage model:NAME@V --up`, `modeltrail models show`"
    ),
    # --- evidence reports --------------------------------------------------------------------------------
    "report.data": Serves(
        "data governance report (quality, balance, representativeness, proxies) as `report.generated` "
        "kind `data` (`modeltrail evaluate data`, `modeltrail.evidence.data_report`)"
    ),
    "report.pii": Serves("PII scan inside the data report (`data.pii_findings`, usable as a gate threshold)"),
    "report.fairness": Serves(
        "fairness report by group with bootstrap intervals (`modeltrail evaluate fairness|model`, "
        "`modeltrail.evidence.fairness_report`)"
    ),
    "report.performance": Serves(
        "performance report, overall and per group, with confidence intervals (`modeltrail evaluate "
        "performance|model`)"
    ),
    "report.explainability": Serves(
        "explainability report (global feature importance) (`modeltrail evaluate model`, "
        "`modeltrail.evidence.explainability_report`)"
    ),
    "report.robustness": Serves(
        "robustness report (perturbation stability) (`modeltrail evaluate model`, "
        "`modeltrail.evidence.robustness_report`)",
        "no security or adversarial testing",
    ),
    "report.content_marking": Serves(None, "no marking of synthetic content"),
    "inference.explanations": Serves(
        "per-decision explanations when the guard is given a `DecisionExplainer` "
        "(`inference.decision.explanation`)",
        "off unless the integrating code passes an explainer (the demo does not)",
    ),
    # --- gates, approvals, policy --------------------------------------------------------------------------
    "gate.evaluated": Serves(
        "`modeltrail gate check` evaluates required evidence and thresholds, records `gate.evaluated` "
        "with the evidence events and the policy hash; JUnit output for CI"
    ),
    "approval.record": Serves(
        "`modeltrail approve` / `reject` / `revoke-approval` with roles and the four-eyes rule; refusals "
        "recorded as `model.approval_refused`; deployment refused until complete"
    ),
    "policy.gates": Serves(
        "`gates:` section of the policy file, stored in the trail (`modeltrail policy set`)"
    ),
    "policy.oversight": Serves(
        "`oversight:` section (review when confidence is low, outside the training range, per segment, or "
        "sampled; fallback)"
    ),
    "policy.roles": Serves(
        "`roles:` and `users:` sections (suspend, resume, reveal, break glass, tokens, keys; approvers)"
    ),
    "policy.data_governance": Serves(
        "`data_policy:` section (keep, drop, pseudonymise or seal each input field) and "
        "`protected_attributes`",
        "no data-governance policy beyond serving-time fields",
    ),
    "policy.special_categories": Serves(
        "sensitive input fields can be sealed per subject by the data policy",
        "no record of the necessity, purpose or deletion of special-category data",
    ),
    "policy.access": Serves(
        "`roles.reveal` limits who may unseal data",
        "no access control on the trail as a whole; identities are asserted (`MODELTRAIL_USER`) unless a "
        "token is used",
    ),
    "policy.retention": Serves(
        "`retention:` rules (ISO 8601 per event-type glob, per system) are refused below the legal minimums "
        "(Art. 19(1)/26(6): logs P6M; Art. 18(1): documentation P10Y) and enforced by `modeltrail retention "
        "plan` / `retention apply`",
        "scheduled by `retention watch` (its own loop), not inside `monitor watch`",
    ),
    "policy.monitoring": Serves(
        "`monitoring:` section is parsed and validated", "nothing evaluates it yet (no monitoring jobs)"
    ),
    "policy.change_plan": Serves(
        "statement `change.plan` by a named person (`modeltrail docs answer`), cited in Annex IV 2(f) and the "
        "instructions for use",
        "later changes are not checked against the plan",
    ),
    "policy.copyright": Serves(None, "no copyright policy record"),
    "policy.incident": Serves(
        "statement `qms.incident_procedure` (`modeltrail docs answer`), cited in the QMS summary and the "
        "monitoring plan",
        "no incident procedure in the policy file itself",
    ),
    # --- runtime and oversight -----------------------------------------------------------------------------
    "oversight.queue": Serves(
        "decisions routed to review by the policy wait in the queue (`modeltrail review list`, "
        "`review decide`, `modeltrail.runtime.oversight.review_queue`)"
    ),
    "runtime.kill_switch": Serves(
        "`modeltrail suspend` / `resume` (`model.suspended` / `model.resumed`); every guard switches to the "
        "fallback within a second"
    ),
    "runtime.fallback": Serves(
        "guard fallback while suspended: `human_review`, `reject`, `previous_version`, another model or a "
        "function"
    ),
    # --- audit -----------------------------------------------------------------------------------------------
    "audit.reconstruct": Serves(
        "`modeltrail audit reconstruct DECISION_ID [--reveal --purpose …] [--json|--html]`: inputs per the data "
        "policy, model version, run, code, environment, datasets, reports, the gate and approvals of the deployment "
        "in force, reviews, labels, alerts, and the inclusion proof against a signed checkpoint; `modeltrail audit "
        "tabletop` exercises it on a random past decision (`audit.tabletop`); `modeltrail audit trace MODEL@V`",
        "no export addressed to a data subject",
    ),
    "audit.status": Serves(
        "`modeltrail status MODEL@V` (state, gates, approvals, deployments, break glass); "
        "`modeltrail status --requirements [--system S] [--json|--html]`: every applicable requirement "
        "satisfied (with events), waiting for a statement (who, since when) or missing, readiness per article"
    ),
    "audit.bundle": Serves(
        "`modeltrail audit export --system S [--from T --to T] [--decisions IDS] -o bundle.zip`: events, inclusion "
        "and consistency proofs, signed checkpoints, key chain, reports, README; `modeltrail verify bundle.zip` "
        "checks it offline (format: docs/audit-bundle.md); CycloneDX ML-BOM, SPDX 3.0.1 AI/Dataset, in-toto/SLSA "
        "and OpenLineage exports, OpenSSF model signatures verified at registration and made on export "
        "(`modeltrail export`)",
    ),
    "system.record": Serves(
        "the system name on every event, its classification (`system.classified`) and policy "
        "(`policy.registered`); provider, contact, deployer, intended purpose, trade name, hardware, interfaces, "
        "market forms and Member States as `doc.statement` events (`modeltrail docs answer system.*`), read by "
        "every document and the registration export"
    ),
    "classification.record": Serves(
        "`modeltrail classify` asks the Art. 5 / Art. 6 / Annex III / Art. 50 / GPAI questions and records "
        "`system.classified` (tier, answers, reasons)"
    ),
    "classification.rationale": Serves(
        "`system.classified` keeps each reason with its article and requirement id, and the Art. 6(3) "
        "derogation answer"
    ),
    "training.records": Serves(
        "`audit.tabletop` records each tabletop audit exercise: who ran it, the decision drawn, every check and the "
        "result",
        "no record of other staff training or AI literacy measures",
    ),
    "risk.register": Serves(
        "`risk.identified` (category, likelihood, impact, score, owner, review date; `modeltrail docs risk add`, "
        "`modeltrail.documents.identify_risk`); report warnings, failed gate checks and monitoring alerts are "
        "proposed for a person to accept (`docs risk list`)"
    ),
    "risk.reviews": Serves("`risk.reviewed` with the next review date; overdue reviews reported (`docs risk list`)"),
    "risk.mitigations": Serves("`risk.mitigated` with the residual likelihood and impact (`docs risk mitigate`)"),
    "registration.record": Serves(None, "no EU database registration record"),
    "conformity.record": Serves(
        "statement `conformity.procedure` (procedure followed, notified body) by a named person",
        "no notified-body certificate record",
    ),
    "incident.record": Serves(
        "`incident.opened` / `incident.updated` / `incident.reported` / `incident.closed` with the Art. 73 "
        "deadline from awareness (2, 10 or 15 days by basis) and whether the report was on time "
        "(`modeltrail incident open|update|report|close|list`)"
    ),
    "notification.record": Serves(
        "`incident.notice` names the change and the authority informed (`modeltrail incident notice`)",
        "no notification records outside incidents",
    ),
    "monitor.alerts": Serves(
        "`monitor.alert` with the breached threshold and window, `monitor.action` (webhook signed with HMAC, "
        "e-mail, route to human review through the kill switch, suspend), `monitor.alert_cleared` by a person "
        "(`modeltrail monitor run|watch|clear`)"
    ),
    "monitor.drift": Serves(
        "`monitor.checked` per window: Kolmogorov-Smirnov, Wasserstein, PSI, Jensen-Shannon, chi-squared or z "
        "per feature and for the predictions, against the `monitor.profile` of the reference data"
    ),
    "monitor.performance": Serves(
        "`monitor.checked` per window: accuracy, precision, recall, F1 and ROC AUC from `inference.label` joined "
        "to decisions, and an estimate with its expected range before labels arrive (confidence-based "
        "performance estimation on an isotonic calibration)"
    ),
    "monitor.fairness": Serves(
        "`monitor.checked` per window: the fairness report's metrics (fairlearn) per protected attribute on "
        "labelled decisions, and demographic parity with an interval before labels arrive"
    ),
    "retention.purged": Serves(
        "`modeltrail retention apply`: expired events lose their payload and keep their leaf hashes (tree, "
        "checkpoints and proofs still verify; `verify` reports them as purged, an unrecorded purge as damage); "
        "`retention.purged` records rule, ranges, counts and the sha256 of what went (optional JSON-lines "
        "archive); space reclaimed (SQLite vacuum, PostgreSQL VACUUM); legal holds block it",
        "no Parquet archive; PostgreSQL's plain VACUUM makes the space reusable without shrinking the file",
    ),
    "subject.erased": Serves(
        "`modeltrail erase --subject V --reason R`: vault pseudonym rows deleted, data keys shredded, sealed "
        "blobs deleted, records naming the person in clear or by keyed pseudonym purged; `subject.erased` "
        "without the identifier; legal holds block it (`subject.erasure_refused`)",
        "copies outside the trail (backups, exports already handed out) are out of reach",
    ),
    "subject.export": Serves(
        "`modeltrail subject export V [--format json|html]`: every decision with model version, main reasons, "
        "route and human actions, sealed inputs opened for the person; `subject.exported` with the answer's "
        "sha256",
    ),
    "subject.requests": Serves(
        "`subject.request_received` (with the one-month deadline of GDPR Art. 12(3)) and `subject.exported` "
        "for access requests; erasure requests as `subject.erased` / `subject.erasure_refused`",
        "no tracking of rectification or objection requests",
    ),
    "export.annex_viii": Serves(
        "`modeltrail docs build … --kind registration --format json`: Annex VIII Section A data from the system "
        "record, lineage, lifecycle and the generated documents' sha256"
    ),
    "export.ropa": Serves(
        "`modeltrail export ropa [--format md|json]`: per system the purpose, data categories and their treatment, "
        "bias-detection attributes, retention limits, measures and request counts",
        "controller, DPO, recipients and transfers are listed as to be completed by the controller",
    ),
    "doc.ledger_format": Serves(
        "docs/ledger-format.md specifies the ledger precisely enough for an independent verifier"
    ),
}

# Generated documents not built yet. A `doc.generated` event recorded by other means counts as evidence in
# gates (e.g. `model_card`), so the gap text says what the tool does not produce.
_DOCS = {
    "doc.gpai_downstream": "GPAI downstream information",
    "doc.gpai_technical": "GPAI technical documentation",
    "doc.incident_report": "incident reports",
    "doc.training_content_summary": "training content summary",
}
for _name, _what in _DOCS.items():
    EVIDENCE[_name] = Serves(None, f"no generation of {_what} yet")

# Documents generated from evidence (modeltrail.documents): `modeltrail docs build MODEL@V|SYSTEM --kind K
# --format md,html,pdf`, each bound to a checkpoint and the events it cites, stored as a blob, signed and
# recorded as `doc.generated`; what needs a person is an open item until answered.
_GENERATED = {
    "doc.annex_iv": "Annex IV technical documentation, every point 1(a)-9 (`--kind annex_iv`)",
    "doc.dataset_card": "a dataset card per dataset version: provenance, schema, quality, bias examination "
    "(`--kind dataset_card`)",
    "doc.declaration_of_conformity": "Annex V EU declaration of conformity, signed, naming the approvers "
    "(`--kind declaration_of_conformity`)",
    "doc.dpia": "GDPR Art. 35(7) DPIA outline from the data policy, data and fairness evidence (`--kind dpia`)",
    "doc.fria": "Art. 27 fundamental-rights impact assessment (`--kind fria`)",
    "doc.instructions_for_use": "Art. 13(3) instructions for use, points (a)-(f) (`--kind instructions_for_use`)",
    "doc.intended_purpose": "intended-purpose statement with the system record (`--kind intended_purpose`)",
    "doc.model_card": "model card from lineage, reports, gates and approvals (`--kind model_card`)",
    "doc.monitoring_plan": "Art. 72 monitoring plan from the policy and the `monitor.*` events, or \"not yet "
    "monitored\" (`--kind monitoring_plan`)",
    "doc.qms": "Art. 17(1)(a)-(m) quality-management summary (`--kind qms`)",
    "doc.risk_register": "Art. 9 risk register document with overdue reviews and proposed risks "
    "(`--kind risk_register`)",
}
for _name, _what in _GENERATED.items():
    EVIDENCE[_name] = Serves(_what)
EVIDENCE["doc.freshness"] = Serves(
    "`modeltrail docs check`: which documents are stale and which newer events changed what they rest on "
    "(exit 1 when any is)"
)

# Signed human statements (the catalogue's ``attestation.*`` names) share one answer: a `doc.statement` by a
# named person, listed as an open item (owner, due date) in every document that needs it until answered.
ATTESTATION = Serves(
    "`modeltrail docs answer attestation.NAME --system S --text …` (or a YAML file of answers) records a "
    "`doc.statement` by a named person; documents list it as an open item until then, and "
    "`status --requirements` shows who it waits for and since when"
)


def serves(name: str) -> Serves:
    """The entry for an evidence name; ``attestation.*`` names share :data:`ATTESTATION`."""
    if name in EVIDENCE:
        return EVIDENCE[name]
    if name.startswith("attestation."):
        return ATTESTATION
    raise KeyError(name)


HEADER = """# AI Act and GDPR: what modeltrail serves today

<!-- Generated by scripts/gen_ai_act_map.py from the requirement catalogue
     (src/modeltrail/data/eu-ai-act.yaml, version {version}); do not edit by hand.
     tests/test_ai_act_map.py fails when this page is out of date. -->

This page maps every requirement of modeltrail's catalogue — the EU AI Act (Regulation (EU) 2024/1689, as
amended) and the GDPR articles modeltrail touches — to the features, commands and ledger events that serve
it **today**, and says plainly what is **not built yet**. Titles are the catalogue's own short
paraphrases, not the legal text, and nothing here is legal advice.

How to read it:

- **served**: every piece of evidence the catalogue names for the requirement is recorded or checked by
  modeltrail now;
- **partial**: some of it is (or it exists only as a library call, or a policy section that nothing
  enforces yet);
- **not yet**: nothing in modeltrail produces that evidence today.

"Served" says what the product can record; whether one system's trail holds it (statements answered,
documents current) is `modeltrail status --requirements --system S`.

Not built at the time of writing: notification records, EU-database registration record, key rotation of
data and pseudonym keys, an encrypted SQLite ledger.

Kinds: `M` machine-checkable, `H` human-attested, `N` not a tooling check.
"""


def _article_key(article: str) -> str:
    """Group a provision by article: ``Art. 13(3)(b)(i)`` → ``Art. 13``; GDPR ones keep their prefix."""
    m = re.match(r"(GDPR )?(Art\. \d+[a-z]?|Annex [IVX]+)", article)
    return m.group(0) if m else article


def _status(served: list[Serves]) -> str:
    if not served:
        return "n/a"
    if all(s.today is not None and s.gap is None for s in served):
        return "served"
    if any(s.today is not None for s in served):
        return "partial"
    return "not yet"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render() -> str:
    """The whole Markdown page for the packaged catalogue."""
    from modeltrail.requirements import load_catalogue

    cat = load_catalogue()
    missing = sorted(
        e
        for e in {e for r in cat for e in r.evidence}
        if e not in EVIDENCE and not e.startswith("attestation.")
    )
    if missing:
        raise SystemExit(f"evidence names without an entry in EVIDENCE: {', '.join(missing)}")

    out = [HEADER.format(version=cat.version)]
    groups: dict[str, list[tuple[str, object]]] = defaultdict(list)
    rows: list[str] = []
    for r in cat:
        served = [serves(e) for e in r.evidence]
        status = _status(served)
        groups[_article_key(r.article)].append((status, r))
        # Cells name the evidence; the "Evidence" section below says what each name means in modeltrail.
        today = ", ".join(
            f"`{e}`" + (" (partly)" if serves(e).gap else "") for e in r.evidence if serves(e).today
        )
        gaps = ", ".join(f"`{e}`" for e in r.evidence if serves(e).today is None)
        rows.append(
            f"| `{r.id}` | {_cell(r.article)} | {_cell(r.title)} | {r.kind} | {status} | "
            f"{_cell(today) or '—'} | {_cell(gaps) or '—'} |"
        )

    out.append("## By article\n")
    out.append("| article | requirements | served | partial | not yet |")
    out.append("|---|---|---|---|---|")
    for key, items in groups.items():
        counts = {s: sum(1 for st, _ in items if st == s) for s in ("served", "partial", "not yet")}
        out.append(
            f"| {key} | {len(items)} | {counts['served']} | {counts['partial']} | {counts['not yet']} |"
        )
    total = {
        s: sum(1 for items in groups.values() for st, _ in items if st == s)
        for s in ("served", "partial", "not yet")
    }
    n = sum(len(v) for v in groups.values())
    out.append(f"| **all** | {n} | {total['served']} | {total['partial']} | {total['not yet']} |")
    out.append("")

    out.append("## By requirement\n")
    out.append(
        "| id | provision | requirement | kind | status | evidence served today | evidence not built |"
    )
    out.append("|---|---|---|---|---|---|---|")
    out.extend(rows)
    out.append("")
    out.append("## Evidence\n")
    out.append("What each evidence name of the catalogue is in modeltrail today, and what is missing.\n")
    out.append("| evidence | today | not yet |")
    out.append("|---|---|---|")
    for name in sorted({e for r in cat for e in r.evidence}):
        s = serves(name)
        out.append(f"| `{name}` | {_cell(s.today or '—')} | {_cell(s.gap or '—')} |")
    out.append("")
    out.append(
        "Regenerate with `python scripts/gen_ai_act_map.py` after changing the catalogue or adding a "
        "feature (update `EVIDENCE` in the script)."
    )
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write docs/ai-act-map.md, or with ``--check`` report whether it is up to date."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the page is out of date")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = OUT.read_text(encoding="utf-8") if OUT.exists() else ""
        if current != text:
            print("docs/ai-act-map.md is out of date: run python scripts/gen_ai_act_map.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
