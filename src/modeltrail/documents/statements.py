"""Human statements the documents rest on: one event per answer, by a named person.

Some content of the AI Act's documents cannot come from a pipeline: the intended purpose, the provider's
address, the standards applied, the signatory of the declaration. Each such item has a key in
:data:`STATEMENTS` (with the role expected to answer it and the catalogue evidence it serves). An answer is
a ``doc.statement`` event (``modeltrail docs answer KEY --text …`` or a YAML file of answers); the latest
answer per key and system wins. The system record (provider, deployer, contact points, intended purpose,
Annex III area …) is the set of ``system.*`` statements: every document and the registration export read
it from there, nothing is retyped per document.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from ..errors import ValidationError
from ..events import Actor, EventInput, Receipt, format_ts, parse_ts
from ..governance.namespace import record_governed, record_governed_many

if TYPE_CHECKING:
    from ..identity import Identity
    from ..trail import Trail

STATEMENT_EVENT = "doc.statement"
DUE_AFTER = timedelta(days=30)
"""An open item is due this long after a generated document first lists it."""


@dataclass(frozen=True)
class StatementSpec:
    """What a statement key asks, who answers it and which catalogue evidence name it serves."""

    key: str
    title: str
    role: str
    evidence: str


def _s(key: str, title: str, role: str, evidence: str) -> StatementSpec:
    return StatementSpec(key, title, role, evidence)


STATEMENTS: dict[str, StatementSpec] = {
    s.key: s
    for s in (
        # the system record (Art. 11, Art. 13(3)(a), Art. 49, Annex IV(1), Annex VIII)
        _s("system.provider", "Provider name and address", "compliance", "system.record"),
        _s("system.contact", "Contact point for authorities and deployers", "compliance", "system.record"),
        _s(
            "system.representative",
            "Authorised representative (or 'none: provider established in the EU')",
            "compliance",
            "attestation.authorised_representative",
        ),
        _s("system.intended_purpose", "Intended purpose of the AI system", "product_owner", "doc.intended_purpose"),
        _s("system.deployer", "Deployer name and address", "deployer", "system.record"),
        _s("system.trade_name", "Trade name of the AI system", "product_owner", "system.record"),
        _s(
            "system.interactions",
            "Interaction with hardware, software and other AI systems",
            "engineering",
            "system.record",
        ),
        _s(
            "system.market_forms",
            "Forms in which the system is placed on the market or put into service",
            "product_owner",
            "system.record",
        ),
        _s("system.hardware", "Hardware the system is intended to run on", "engineering", "system.record"),
        _s("system.user_interface", "User interface provided to the deployer", "engineering", "system.record"),
        _s(
            "system.member_states",
            "Member States where the system is placed on the market or used",
            "compliance",
            "system.record",
        ),
        _s(
            "system.lifetime",
            "Expected lifetime, computational resources and maintenance measures",
            "engineering",
            "system.record",
        ),
        _s(
            "system.markings",
            "Photographs or illustrations of external features, markings and layout "
            "(products; 'not applicable: software only' otherwise)",
            "product_owner",
            "system.record",
        ),
        _s(
            "system.persons_affected",
            "Persons or groups affected by the system's outputs",
            "product_owner",
            "system.record",
        ),
        # design and testing (Annex IV(2), (4), (7))
        _s("design.choices", "Design choices, assumptions and trade-offs", "data_scientist", "doc.model_card"),
        _s(
            "design.metrics_rationale",
            "Why the chosen performance metrics are appropriate",
            "data_scientist",
            "doc.model_card",
        ),
        _s(
            "design.limitations",
            "Known limitations and foreseeable unintended outcomes",
            "data_scientist",
            "doc.model_card",
        ),
        _s("oversight.assessment", "Assessment of the human oversight measures", "model_risk", "policy.oversight"),
        _s(
            "use.output_interpretation",
            "How deployers should interpret and use the output",
            "product_owner",
            "doc.instructions_for_use",
        ),
        _s(
            "change.plan",
            "Pre-determined changes to the system and its performance",
            "engineering",
            "policy.change_plan",
        ),
        _s("security.measures", "Cybersecurity measures", "security", "attestation.security"),
        _s(
            "standards.applied",
            "Harmonised standards or common specifications applied (or other solutions)",
            "compliance",
            "attestation.standards",
        ),
        # quality management (Art. 17)
        _s("qms.strategy", "Regulatory compliance strategy", "compliance", "doc.qms"),
        _s("qms.resources", "Resource management, including security of supply", "compliance", "doc.qms"),
        _s("qms.communication", "Communication with authorities, notified bodies, customers", "compliance", "doc.qms"),
        _s("qms.incident_procedure", "Serious incident reporting procedure (Art. 73)", "compliance", "policy.incident"),
        # conformity (Art. 43, Art. 47, Annex V)
        _s(
            "conformity.procedure",
            "Conformity assessment procedure followed (and notified body, if any)",
            "compliance",
            "conformity.record",
        ),
        _s(
            "conformity.signatory",
            "Name and function of the person signing the declaration",
            "compliance",
            "approval.record",
        ),
        _s("conformity.place", "Place of issue of the declaration", "compliance", "doc.declaration_of_conformity"),
        # post-market monitoring (Art. 72)
        _s(
            "monitoring.responsible",
            "Who analyses monitoring results and acts on them",
            "model_risk",
            "doc.monitoring_plan",
        ),
        # fundamental-rights impact assessment (Art. 27(1)(a)-(f))
        _s("fria.process", "Deployer's processes in which the system is used", "deployer", "doc.fria"),
        _s("fria.period", "Period and frequency of use", "deployer", "doc.fria"),
        _s("fria.harms", "Specific risks of harm to the affected persons", "deployer", "doc.fria"),
        _s(
            "fria.measures", "Measures if risks materialise, internal governance and complaints", "deployer", "doc.fria"
        ),
        # other signed statements of the catalogue (attestation.*)
        _s(
            "attestation.ai_literacy",
            "AI literacy measures for staff (Art. 4)",
            "compliance",
            "attestation.ai_literacy",
        ),
        _s(
            "attestation.accessibility",
            "Accessibility requirements met (Art. 16(l))",
            "compliance",
            "attestation.accessibility",
        ),
        _s("attestation.ce_marking", "CE marking affixed (Art. 48)", "compliance", "attestation.ce_marking"),
        _s(
            "attestation.deployer_use",
            "Deployer uses the system per the instructions (Art. 26(1))",
            "deployer",
            "attestation.deployer_use",
        ),
        _s(
            "attestation.gpai_systemic_risk",
            "GPAI systemic-risk obligations",
            "compliance",
            "attestation.gpai_systemic_risk",
        ),
        _s("attestation.no_transfer", "No transfer outside the permitted scope", "dpo", "attestation.no_transfer"),
        _s(
            "attestation.notice",
            "Persons informed that they are subject to the system",
            "deployer",
            "attestation.notice",
        ),
        _s(
            "attestation.worker_information",
            "Workers' representatives informed (Art. 26(7))",
            "deployer",
            "attestation.worker_information",
        ),
        # GDPR Art. 35(7)
        _s("dpia.purposes", "Purposes of the processing and legitimate interest", "dpo", "doc.dpia"),
        _s("dpia.necessity", "Necessity and proportionality of the processing", "dpo", "doc.dpia"),
        _s("dpia.risks", "Risks to the rights and freedoms of data subjects", "dpo", "doc.dpia"),
        _s("dpia.measures", "Measures to address the risks (safeguards, security)", "dpo", "doc.dpia"),
    )
}


@dataclass(frozen=True)
class Statement:
    """The latest answer to a statement key for a system."""

    key: str
    text: str
    actor: str
    role: str
    seq: int
    ts: str


def spec(key: str) -> StatementSpec:
    """The spec of ``key``; :class:`ValidationError` naming the known keys otherwise."""
    try:
        return STATEMENTS[key]
    except KeyError:
        raise ValidationError(
            f"unknown statement key {key!r}; expected one of {', '.join(sorted(STATEMENTS))}", field="key"
        ) from None


def _human(actor: Actor | Identity | Mapping[str, str]) -> Actor:
    from ..identity import Identity

    if isinstance(actor, Identity):
        who = actor.acting_as()
    elif isinstance(actor, Actor):
        who = actor
    elif isinstance(actor, Mapping) and "id" in actor and "role" in actor:
        who = Actor(actor["id"], actor["role"], actor.get("kind", "human"))
    else:
        raise ValidationError("expected an Actor, an Identity or {id, role}", field="actor")
    if who.kind != "human":
        raise ValidationError("a statement is made by a named person (actor kind 'human')", field="actor")
    return who


def record_statement(
    trail: Trail, system: str, key: str, text: str, *, actor: Actor | Identity | Mapping[str, str]
) -> Receipt:
    """Record the answer ``text`` to statement ``key`` for ``system`` as a ``doc.statement`` event."""
    s = spec(key)
    if not isinstance(text, str) or not text.strip():
        raise ValidationError("expected a non-empty statement text", field="text")
    who = _human(actor)
    # doc.* is in the governance namespace (documents are gate evidence): the governed append path.
    return record_governed(
        trail,
        STATEMENT_EVENT,
        system=system,
        actor=who,
        subject=f"system:{system}",
        payload={"key": key, "title": s.title, "text": text.strip(), "expected_role": s.role},
    )


def load_answers(path: str | os.PathLike[str]) -> dict[str, str]:
    """Read a YAML mapping ``KEY: text`` of answers; every key is checked before anything is recorded."""
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ValidationError(f"cannot read answers file {p}: {exc}", field="file") from None
    if not isinstance(data, dict):
        raise ValidationError("expected a mapping of statement keys to texts", field="file")
    out: dict[str, str] = {}
    for k, v in data.items():
        spec(str(k))
        if not isinstance(v, str) or not v.strip():
            raise ValidationError("expected a non-empty text", field=f"file.{k}")
        out[str(k)] = v
    return out


def record_answers(
    trail: Trail, system: str, answers: Mapping[str, str], *, actor: Actor | Identity | Mapping[str, str]
) -> list[Receipt]:
    """Record several answers at once (all or none: the batch is appended atomically)."""
    who = _human(actor)
    events: list[EventInput] = []
    for key, text in answers.items():
        s = spec(key)
        if not text.strip():
            raise ValidationError("expected a non-empty text", field=f"answers.{key}")
        payload = {"key": key, "title": s.title, "text": text.strip(), "expected_role": s.role}
        events.append(EventInput(STATEMENT_EVENT, system, who, f"system:{system}", payload, None, None))
    return record_governed_many(trail, events)


def statements(trail: Trail, system: str) -> dict[str, Statement]:
    """The latest answer per statement key for ``system``."""
    out: dict[str, Statement] = {}
    for ev in trail.events(STATEMENT_EVENT, system=system):
        key = ev.payload.get("key")
        text = ev.payload.get("text")
        if isinstance(key, str) and isinstance(text, str):
            out[key] = Statement(key, text, ev.actor.id, ev.actor.role, ev.seq, ev.ts)
    return out


def due_date(raised: str) -> str:
    """The due date of an open item first raised at ``raised`` (ISO 8601)."""
    return format_ts(parse_ts(raised, "raised") + DUE_AFTER)[:10]
