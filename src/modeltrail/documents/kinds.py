"""The document kinds: each builds a :class:`~modeltrail.documents.model.Document` from collected evidence.

Kinds and their catalogue evidence names (``doc.*``): Annex IV technical documentation (``annex_iv``), model
card, dataset card (one per dataset version), Art. 13 instructions for use, intended purpose, Art. 9 risk
register, Art. 72 monitoring plan, Art. 17 QMS summary, Annex V declaration of conformity, Art. 27 FRIA,
GDPR Art. 35 DPIA outline and Annex VIII registration data (``registration``, machine-readable JSON too).

Section ids follow the provisions (``annex4.2g``, ``art13.3b.ii`` …) so that every section names the
catalogue requirement it answers. A value comes from an event (cited by seq) or from a statement; what a
person must still state is an :class:`Awaiting` item; what evidence could fill but the trail lacks is a
``missing`` field, never an empty section.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ..errors import ValidationError
from ..events import Event
from .evidence import Evidence
from .model import Awaiting, Chart, Document, Field, Section, Table, Text
from .statements import STATEMENTS, due_date


@dataclass(frozen=True)
class KindSpec:
    """A document kind: title, scope (``model``, ``system`` or ``dataset``), evidence name, builder."""

    kind: str
    title: str
    scope: str
    evidence: str
    build: Callable[[Builder], Document]


def _num(v: Any, digits: int = 3) -> str:
    if isinstance(v, bool) or not isinstance(v, int | float):
        return str(v)
    return str(v) if isinstance(v, int) else f"{v:.{digits}f}"


def _seqs(*events: Event | None) -> tuple[int, ...]:
    return tuple(e.seq for e in events if e is not None)


class Builder:
    """Shared helpers of the kinds: statements, cited values, evidence gaps."""

    def __init__(self, ev: Evidence, raised: dict[str, str] | None = None, dataset: Event | None = None) -> None:
        self.ev = ev
        self.raised = raised or {}
        self.dataset = dataset

    # -- fields ------------------------------------------------------------------------------------

    def stmt(self, key: str, label: str | None = None) -> Field:
        """The answer to statement ``key``, or an open item awaiting it."""
        spec = STATEMENTS[key]
        s = self.ev.statements.get(key)
        if s is not None:
            return Field(label or spec.title, f"{s.text} (stated by {s.actor}, {s.ts[:10]})", (s.seq,))
        raised = self.raised.get(key)
        how = f"modeltrail docs answer {key} --system {self.ev.system} --text '…'"
        return Field(
            label or spec.title,
            awaiting=Awaiting(
                key, spec.title, spec.role, raised[:10] if raised else None, due_date(raised) if raised else None, how
            ),
        )

    def val(self, label: str, value: Any, *events: Event | None, seqs: Iterable[int] = ()) -> Field:
        """A value from evidence, citing ``events``."""
        return Field(label, str(value), _seqs(*events) + tuple(seqs))

    def gap(self, label: str, what: str) -> Field:
        """A field evidence could fill, with what would fill it."""
        return Field(label, missing=what)

    def awaiting(self, label: str, key: str, title: str, role: str, how: str) -> Field:
        """An open item answered by a command other than ``docs answer`` (e.g. ``docs risk add``)."""
        raised = self.raised.get(key)
        return Field(
            label,
            awaiting=Awaiting(
                key,
                title,
                role,
                raised[:10] if raised else None,
                due_date(raised) if raised else None,
                how.replace("SYSTEM", self.ev.system),
            ),
        )

    # -- evidence shared by several kinds --------------------------------------------------------------

    def model_field(self) -> Field:
        """The model version with its artifact hash."""
        e, m = self.ev.model_event, self.ev.model
        if e is None or m is None:
            return self.gap("Model version", "no model version registered for the system (`model.registered`)")
        art = e.payload.get("artifact") or {}
        return self.val(
            "Model version",
            f"{m.model}@{m.version} ({art.get('class', '?')}, {art.get('framework', '?')} "
            f"{art.get('framework_version', '')}, artifact sha256 {art.get('sha256', '?')}), registered by "
            f"{e.actor.id} on {e.ts[:10]}",
            e,
        )

    def classification(self) -> Field:
        """Risk tier and the reasons of the latest classification."""
        c = self.ev.classification
        if c is None:
            return self.gap("Risk classification", "no `system.classified` event (`modeltrail classify`)")
        reasons = "; ".join(f"{r.get('article')}: {r.get('text')}" for r in c.payload.get("reasons") or [])
        return self.val("Risk classification", f"tier {c.payload.get('tier')} — {reasons or 'no reasons'}", c)

    def annex3_area(self) -> Field:
        """The Annex III area from the classification reasons."""
        c = self.ev.classification
        if c is None:
            return self.gap("Annex III area", "no `system.classified` event")
        areas = [str(r.get("text")) for r in c.payload.get("reasons") or [] if "Annex III" in str(r.get("article"))]
        return self.val("Annex III area", "; ".join(areas) or "none (not an Annex III use case)", c)

    def version_history(self) -> Table:
        """Every registered version of the model and its lifecycle events."""
        rows: list[list[str]] = []
        seqs: list[int] = []
        if self.ev.model_event is not None:
            e = self.ev.model_event
            rows.append([str(e.seq), e.ts[:19], "model.registered", e.actor.id, str(e.subject)])
            seqs.append(e.seq)
        for g in self.ev.gates:
            verdict = "passed" if g.payload.get("passed") else "failed"
            rows.append([str(g.seq), g.ts[:19], f"gate {g.payload.get('stage')} {verdict}", g.actor.id, ""])
            seqs.append(g.seq)
        for a in self.ev.approvals:
            rows.append(
                [
                    str(a.seq),
                    a.ts[:19],
                    f"approved ({a.payload.get('stage')})",
                    a.actor.id,
                    str(a.payload.get("rationale", "")),
                ]
            )
            seqs.append(a.seq)
        for e in self.ev.lifecycle:
            rows.append(
                [
                    str(e.seq),
                    e.ts[:19],
                    e.type,
                    e.actor.id,
                    str(e.payload.get("env") or "") + (f": {e.payload['reason']}" if e.payload.get("reason") else ""),
                ]
            )
            seqs.append(e.seq)
        rows.sort(key=lambda r: int(r[0]))
        return Table(
            ["event", "time", "change", "by", "detail"],
            rows,
            tuple(seqs),
            "Version history",
            "no model version registered",
        )

    def environment(self) -> Field:
        """Python, platform and package-list hash of the training run."""
        started = next((e for e in self.ev.run if e.type == "run.started"), None)
        if started is None:
            return self.gap("Software environment", "no training run linked to the model (`run.started`)")
        env = started.payload.get("environment") or {}
        art = (self.ev.model_event.payload.get("artifact") or {}) if self.ev.model_event else {}
        return self.val(
            "Software environment",
            f"Python {env.get('python')}, {env.get('platform')}, installed packages sha256 "
            f"{env.get('packages_sha256')}; {art.get('framework', '')} {art.get('framework_version', '')}",
            started,
        )

    def code(self) -> Field:
        """The code revision of the training run."""
        started = next((e for e in self.ev.run if e.type == "run.started"), None)
        if started is None:
            return self.gap("Code revision", "no training run linked to the model (`run.started`)")
        c = started.payload.get("code") or {}
        if not c.get("commit"):
            return self.val("Code revision", "the run was not started inside a git checkout", started)
        return self.val(
            "Code revision",
            f"commit {c.get('commit')} on {c.get('branch')}" + (" (uncommitted changes)" if c.get("dirty") else ""),
            started,
        )

    def run_summary(self) -> Table:
        """Runs: name, params, metrics, status."""
        rows: list[list[str]] = []
        started = next((e for e in self.ev.run if e.type == "run.started"), None)
        params: dict[str, Any] = dict(started.payload.get("params") or {}) if started else {}
        metrics: dict[str, Any] = {}
        status = ""
        for e in self.ev.run:
            if e.type == "run.params":
                params.update(e.payload.get("params") or {})
            elif e.type == "run.metrics":
                metrics.update(e.payload.get("metrics") or {})
            elif e.type == "run.ended":
                status = f"{e.payload.get('status')} in {_num(e.payload.get('duration_s'), 1)} s"
        if started is not None:
            rows.append(
                [
                    str(started.payload.get("name")),
                    ", ".join(f"{k}={v}" for k, v in sorted(params.items())),
                    ", ".join(f"{k}={_num(v)}" for k, v in sorted(metrics.items())),
                    status,
                ]
            )
        return Table(
            ["run", "parameters", "metrics", "status"],
            rows,
            _seqs(*self.ev.run),
            "Training run",
            "no training run linked to the model",
        )

    def datasets_table(self) -> Table:
        """The dataset versions of the model."""
        rows = []
        for role, d in self.ev.datasets:
            p = d.payload
            rows.append(
                [
                    str(d.subject),
                    role,
                    str(p.get("rows", "?")),
                    str(p.get("columns", "?")),
                    str(p.get("source") or "not stated"),
                    str(p.get("content_hash", ""))[:16] + "…",
                ]
            )
        return Table(
            ["dataset version", "role", "rows", "columns", "source", "content hash"],
            rows,
            _seqs(*(d for _, d in self.ev.datasets)),
            "Datasets",
            "no dataset version linked to the model",
        )

    def data_quality(self) -> list[Field]:
        """Figures of the data governance reports of the model's datasets."""
        out = []
        for ref, rep in self.ev.data_reports.items():
            m = rep.payload.get("metrics") or {}
            out.append(
                self.val(
                    f"Data governance report for {ref}",
                    f"missing rate {_num(m.get('data.missing_rate', 0))}, duplicate rate "
                    f"{_num(m.get('data.duplicate_rate', 0))}, label minority share "
                    f"{_num(m.get('data.label_minority_share', 0))}, PII findings "
                    f"{_num(m.get('data.pii_findings', 0))}, "
                    f"max proxy association {_num(m.get('data.max_proxy_association', 0))}",
                    rep,
                )
            )
        if not out:
            out.append(
                self.gap(
                    "Data governance report",
                    "no `report.generated` kind data for the datasets (`modeltrail evaluate data`)",
                )
            )
        return out

    def report_field(self, kind: str, label: str, names: Iterable[str]) -> Field:
        """Headline metrics of the latest report of ``kind``."""
        rep = self.ev.report(kind)
        if rep is None:
            return self.gap(label, f"no `report.generated` kind {kind} for the model (`modeltrail evaluate`)")
        m = rep.payload.get("metrics") or {}
        parts = [f"{n.split('.', 1)[1]} {_num(m[n])}" for n in names if n in m]
        warnings = rep.payload.get("warnings") or []
        text = ", ".join(parts) or "report recorded without headline metrics"
        if warnings:
            text += "; warnings: " + "; ".join(str(w) for w in warnings)
        return self.val(label, text, rep)

    def group_chart(self, kind: str, metric: str, title: str, limit: float | None = None) -> Chart | Field:
        """Per-group values of ``metric`` (``metric[attr=value]``) as a bar chart."""
        rep = self.ev.report(kind)
        if rep is None:
            return self.gap(title, f"no `report.generated` kind {kind}")
        m = rep.payload.get("metrics") or {}
        bars = [
            (k[len(metric) + 1 : -1], float(v))
            for k, v in sorted(m.items())
            if k.startswith(metric + "[") and isinstance(v, int | float)
        ]
        if not bars:
            return self.val(title, "the report gives no per-group values", rep)
        return Chart(title, bars, (rep.seq,), limit)

    def performance(self) -> list[Any]:
        """Accuracy, robustness and per-group performance."""
        return [
            self.report_field(
                "performance",
                "Accuracy",
                (
                    "performance.roc_auc",
                    "performance.accuracy",
                    "performance.f1",
                    "performance.brier",
                    "performance.ece",
                ),
            ),
            self.group_chart("performance", "performance.accuracy", "Accuracy by group"),
            self.report_field(
                "robustness",
                "Robustness",
                (
                    "robustness.flip_rate_noise",
                    "robustness.flip_rate_out_of_range",
                    "robustness.flip_rate_unseen_category",
                    "robustness.flip_rate_missing",
                ),
            ),
        ]

    def fairness(self) -> list[Any]:
        """Fairness figures and a chart of selection rates by group."""
        threshold = None
        if self.ev.policy is not None:
            for gate in self.ev.policy.gates.values():
                for t in gate.thresholds:
                    if t.metric == "fairness.demographic_parity_difference" and t.max is not None:
                        threshold = t.max
        return [
            self.report_field(
                "fairness",
                "Fairness",
                (
                    "fairness.demographic_parity_difference",
                    "fairness.equalized_odds_difference",
                    "fairness.disparate_impact",
                ),
            ),
            self.group_chart(
                "fairness",
                "fairness.demographic_parity_difference",
                "Demographic parity difference by attribute",
                threshold,
            ),
        ]

    def explainability(self) -> list[Any]:
        """Global feature importance and whether decisions carry explanations."""
        rep = self.ev.report("explainability")
        if rep is None:
            return [self.gap("Explainability", "no `report.generated` kind explainability")]
        m = rep.payload.get("metrics") or {}
        bars = sorted(
            (
                (k[len("explainability.importance[") : -1], float(v))
                for k, v in m.items()
                if k.startswith("explainability.importance[")
            ),
            key=lambda b: -b[1],
        )[:10]
        return [Chart("Global feature importance (top 10)", bars, (rep.seq,))]

    def gates_table(self) -> Table:
        """Every gate evaluation of the version, check by check."""
        rows = []
        for g in self.ev.gates:
            for c in g.payload.get("checks") or []:
                rows.append(
                    [
                        str(g.seq),
                        str(g.payload.get("stage")),
                        str(c.get("name")),
                        "passed" if c.get("passed") else "FAILED",
                        str(c.get("message")),
                    ]
                )
        return Table(
            ["event", "stage", "check", "result", "detail"],
            rows,
            _seqs(*self.ev.gates),
            "Gate evaluations",
            "no gate evaluated for the version",
        )

    def approvals_table(self) -> Table:
        """Approvals and refusals of the version."""
        rows = [
            [str(a.seq), a.ts[:10], a.actor.id, a.actor.role, "approved", str(a.payload.get("rationale", ""))]
            for a in self.ev.approvals
        ]
        rows += [
            [str(r.seq), r.ts[:10], r.actor.id, r.actor.role, "refused", str(r.payload.get("reason", ""))]
            for r in self.ev.refusals
        ]
        rows.sort(key=lambda r: int(r[0]))
        return Table(
            ["event", "date", "person", "role", "outcome", "rationale"],
            rows,
            _seqs(*self.ev.approvals, *self.ev.refusals),
            "Approvals",
            "no approval recorded",
        )

    def oversight(self) -> list[Any]:
        """Oversight rules of the policy, review figures and the kill switch."""
        pol, pe = self.ev.policy, self.ev.policy_event
        out: list[Any] = []
        if pol is None or pol.oversight is None:
            out.append(self.gap("Oversight rules", "no `oversight:` section in the registered policy"))
        else:
            rw = pol.oversight.review_when
            rules = []
            if rw.confidence_below is not None:
                rules.append(f"confidence below {rw.confidence_below}")
            if rw.outside_training_range:
                rules.append("inputs outside the training range")
            rules += [f"segment {s.column}={s.value}" for s in rw.segments]
            if rw.sample_rate:
                rules.append(f"a {rw.sample_rate:.0%} random sample")
            out.append(
                self.val(
                    "Oversight rules",
                    "decisions are routed to a human reviewer on "
                    + (", ".join(rules) or "no rule")
                    + f"; fallback while suspended: "
                    f"{pol.oversight.fallback}",
                    pe,
                )
            )
        n, first, last = self.ev.decisions
        st = self.ev.oversight
        if n:
            rate = st.get("override_rate")
            out.append(
                Field(
                    "Human oversight in operation",
                    f"{n} decisions served (events {first}–{last}); {st.get('routed', 0)} routed to review, "
                    f"{st.get('reviewed', 0)} reviewed, {st.get('overridden', 0)} overridden"
                    + (f" (override rate {rate:.1%})" if isinstance(rate, float) else "")
                    + f", {st.get('pending', 0)} pending; {self.ev.labels} ground-truth labels (figures over the "
                    "ledger prefix of this document's checkpoint; serving events do not make the document stale)",
                )
            )
        else:
            out.append(Text("The version has not served decisions yet: no `inference.decision` events."))
        stops = [e for e in self.ev.lifecycle if e.type in ("model.suspended", "model.resumed")]
        out.append(
            Text(
                "Kill switch: `modeltrail suspend` stops the model within a second and the guard falls back; "
                + (
                    f"used {len(stops)} time(s) ("
                    + ", ".join(f"{e.type} by {e.actor.id} on {e.ts[:10]}" for e in stops)
                    + ")"
                    if stops
                    else "not used so far"
                ),
                _seqs(*stops),
            )
        )
        return out

    def logging(self) -> list[Any]:
        """Logging capabilities and retention."""
        pol, pe = self.ev.policy, self.ev.policy_event
        out: list[Any] = [
            Text(
                "Every decision, review, gate, approval and deployment is an event of an append-only RFC 9162 Merkle "
                "ledger with signed C2SP checkpoints (docs/ledger-format.md); read it with `modeltrail log`, verify "
                "it with `modeltrail verify`, reconstruct one decision with `modeltrail.audit.reconstruct`."
            )
        ]
        if pol is not None and pol.retention:
            out.append(self.val("Retention", ", ".join(f"{r.pattern}: {r.period.text}" for r in pol.retention), pe))
        else:
            out.append(self.gap("Retention", "no `retention:` section in the registered policy"))
        if pol is not None and pol.data_policy is not None and pol.data_policy.fields:
            out.append(
                self.val(
                    "Personal data in logs",
                    ", ".join(f"{k}: {v}" for k, v in sorted(pol.data_policy.fields.items())) + f"; other fields: "
                    f"{pol.data_policy.default}",
                    pe,
                )
            )
        return out

    def risks_table(self) -> Table | Field:
        """The current risk register."""
        if not self.ev.risks:
            return self.awaiting(
                "Risk register",
                "risk.register",
                "Identified risks (Art. 9(2))",
                "model_risk",
                "modeltrail docs risk add ID --system SYSTEM --title … --category … "
                "--likelihood N --impact N --owner … --review-by YYYY-MM-DD",
            )
        rows = []
        seqs: list[int] = []
        for r in self.ev.risks.values():
            residual = "not mitigated" if r.residual_score is None else str(r.residual_score)
            rows.append(
                [
                    r.risk_id,
                    r.category,
                    r.title,
                    str(r.likelihood),
                    str(r.impact),
                    str(r.score),
                    r.mitigation or "awaiting mitigation",
                    residual,
                    r.owner,
                    r.review_by + (" (OVERDUE)" if r.overdue() else ""),
                ]
            )
            seqs += r.seqs
        return Table(
            ["id", "category", "risk", "L", "I", "score", "mitigation", "residual", "owner", "review by"],
            rows,
            tuple(seqs),
            "Risk register",
        )

    def proposed_table(self) -> Table:
        """Risks that evidence proposes, not yet in the register."""
        rows = [[str(p.source_seq), p.source, p.text] for p in self.ev.proposed]
        return Table(
            ["event", "source", "finding"],
            rows,
            tuple(p.source_seq for p in self.ev.proposed),
            "Proposed by evidence (accept with `modeltrail docs risk add … --from-event SEQ`)",
            "no report warning, failed gate check or monitoring alert",
        )

    def monitoring(self) -> list[Any]:
        """The policy's monitoring rules and what monitoring recorded."""
        pol, pe = self.ev.policy, self.ev.policy_event
        out: list[Any] = []
        mon = pol.monitoring if pol is not None else None
        if mon is None:
            out.append(self.gap("Monitoring rules", "no `monitoring:` section in the registered policy"))
        else:
            rules = []
            if mon.drift is not None:
                rules.append(
                    f"drift {mon.drift.metric} warn {mon.drift.warn} alert {mon.drift.alert} over {mon.drift.window}"
                )
            for name, rule in (("performance", mon.performance), ("fairness", mon.fairness)):
                if rule is not None:
                    bound = " ".join(
                        x
                        for x in (
                            f"min {rule.min}" if rule.min is not None else "",
                            f"max {rule.max}" if rule.max is not None else "",
                        )
                        if x
                    )
                    rules.append(f"{name} {rule.metric} {bound} over {rule.window}")
            out.append(self.val("Monitoring rules", "; ".join(rules) + f"; on alert: {', '.join(mon.on_alert)}", pe))
        if self.ev.monitor:
            rows = [
                [
                    str(e.seq),
                    e.ts[:19],
                    e.type,
                    str(e.payload.get("metric") or e.payload.get("kind") or ""),
                    str(e.payload.get("message") or e.payload.get("value") or ""),
                ]
                for e in self.ev.monitor
            ]
            out.append(
                Table(["event", "time", "type", "metric", "detail"], rows, _seqs(*self.ev.monitor), "Monitoring events")
            )
        else:
            out.append(Text("Not yet monitored: the trail holds no `monitor.*` events for this system."))
        n = self.ev.decisions[0]
        out.append(Text(f"Data collected for monitoring: {n} logged decisions, {self.ev.labels} ground-truth labels."))
        return out

    def doc_field(self, kind: str, label: str) -> Field:
        """A reference to the latest generated document of ``kind`` (its sha256 and event)."""
        d = self.ev.docs.get(kind)
        if d is None:
            return self.gap(label, f"no `doc.generated` kind {kind} yet (`modeltrail docs build … --kind {kind}`)")
        return self.val(
            label, f"{KINDS[kind.split(':', 1)[0]].title}, sha256 {d.payload.get('sha256')}, generated {d.ts[:10]}", d
        )


# ------------------------------------------------------------------------------------------------ kinds


def _doc(b: Builder, kind: str, subject: str | None = None) -> Document:
    title = KINDS[kind].title
    who = b.ev.model_ref.removeprefix("model:") if b.ev.model_ref and KINDS[kind].scope == "model" else b.ev.system
    return Document(
        kind,
        f"{title} — {who}",
        subject or (b.ev.model_ref if KINDS[kind].scope == "model" and b.ev.model_ref else f"system:{b.ev.system}"),
        b.ev.system,
    )


def annex_iv(b: Builder) -> Document:
    """Annex IV technical documentation, point by point."""
    d = _doc(b, "annex_iv")
    S = Section
    d.sections = [
        S("annex4.1a", "1(a) Intended purpose, provider, version", ("annex4.1a",)).add(
            b.stmt("system.intended_purpose"), b.stmt("system.provider"), b.model_field(), b.version_history()
        ),
        S("annex4.1b", "1(b) Interaction with hardware, software and other AI systems", ("annex4.1b",)).add(
            b.stmt("system.interactions")
        ),
        S("annex4.1c", "1(c) Software and firmware versions", ("annex4.1c",)).add(b.environment(), b.code()),
        S("annex4.1d", "1(d) Forms of placing on the market", ("annex4.1d",)).add(b.stmt("system.market_forms")),
        S("annex4.1e", "1(e) Target hardware", ("annex4.1e",)).add(b.stmt("system.hardware"), b.environment()),
        S("annex4.1f", "1(f) Photographs and markings", ("annex4.1f",)).add(b.stmt("system.markings")),
        S("annex4.1g", "1(g) User interface for the deployer", ("annex4.1g",)).add(b.stmt("system.user_interface")),
        S("annex4.1h", "1(h) Instructions for use", ("annex4.1h",)).add(
            b.doc_field("instructions_for_use", "Instructions for use")
        ),
        S("annex4.2a", "2(a) Development methods and third-party components", ("annex4.2a",)).add(
            b.run_summary(), b.code(), b.model_field()
        ),
        S("annex4.2b", "2(b) Design specifications and trade-offs", ("annex4.2b",)).add(
            b.stmt("design.choices"), b.doc_field("model_card", "Model card")
        ),
        S("annex4.2c", "2(c) System architecture and computational resources", ("annex4.2c",)).add(
            b.environment(), b.run_summary()
        ),
        S("annex4.2d", "2(d) Data requirements and datasheets", ("annex4.2d",)).add(
            b.datasets_table(),
            *b.data_quality(),
            *[b.doc_field(f"dataset_card:{ds.subject}", f"Dataset card {ds.subject}") for _, ds in b.ev.datasets],
        ),
        S("annex4.2e", "2(e) Human oversight measures", ("annex4.2e",)).add(
            *b.oversight(), b.stmt("oversight.assessment"), *b.explainability()
        ),
        S("annex4.2f", "2(f) Pre-determined changes", ("annex4.2f",)).add(b.stmt("change.plan")),
        S("annex4.2g", "2(g) Validation and testing", ("annex4.2g",)).add(
            *b.performance(), *b.fairness(), b.gates_table(), b.approvals_table()
        ),
        S("annex4.2h", "2(h) Cybersecurity measures", ("annex4.2h",)).add(
            b.stmt("security.measures"),
            b.report_field(
                "robustness", "Robustness testing", ("robustness.flip_rate_noise", "robustness.flip_rate_out_of_range")
            ),
        ),
        S("annex4.3", "3. Monitoring, functioning and control", ("annex4.3",)).add(
            *b.performance(), *b.fairness(), b.stmt("design.limitations"), b.risks_table(), *b.oversight()
        ),
        S("annex4.4", "4. Appropriateness of the performance metrics", ("annex4.4",)).add(
            b.stmt("design.metrics_rationale"), b.gates_table()
        ),
        S("annex4.5", "5. Risk management system", ("annex4.5",)).add(
            b.risks_table(), b.doc_field("risk_register", "Risk register")
        ),
        S("annex4.6", "6. Changes over the lifecycle", ("annex4.6",)).add(b.version_history()),
        S("annex4.7", "7. Standards applied", ("annex4.7",)).add(b.stmt("standards.applied")),
        S("annex4.8", "8. EU declaration of conformity", ("annex4.8",)).add(
            b.doc_field("declaration_of_conformity", "Declaration of conformity")
        ),
        S("annex4.9", "9. Post-market monitoring plan", ("annex4.9",)).add(
            b.doc_field("monitoring_plan", "Monitoring plan"), *b.monitoring()
        ),
    ]
    return d


def model_card(b: Builder) -> Document:
    """A model card: details, intended use, data, evaluation, limitations, approvals."""
    d = _doc(b, "model_card")
    d.sections = [
        Section("details", "Model details", ("annex4.1a", "annex4.2a")).add(
            b.model_field(), b.run_summary(), b.environment(), b.code()
        ),
        Section("intended_use", "Intended use", ("art13.3b.i",)).add(
            b.stmt("system.intended_purpose"), b.annex3_area(), b.stmt("system.persons_affected")
        ),
        Section("design", "Design and trade-offs", ("annex4.2b", "annex4.4")).add(
            b.stmt("design.choices"), b.stmt("design.metrics_rationale")
        ),
        Section("data", "Training and evaluation data", ("annex4.2d",)).add(b.datasets_table(), *b.data_quality()),
        Section("evaluation", "Evaluation", ("annex4.2g",)).add(*b.performance(), *b.fairness()),
        Section("explainability", "Explainability", ("art13.1",)).add(*b.explainability()),
        Section("limitations", "Limitations", ("annex4.3",)).add(b.stmt("design.limitations"), b.proposed_table()),
        Section("governance", "Gates and approvals", ("art17.1c",)).add(b.gates_table(), b.approvals_table()),
    ]
    return d


def dataset_card(b: Builder) -> Document:
    """A dataset card (datasheet) for one dataset version."""
    ds = b.dataset
    if ds is None:
        raise ValidationError("a dataset card needs a dataset version", field="dataset")
    p = ds.payload
    d = Document("dataset_card", f"Dataset card — {ds.subject}", str(ds.subject), b.ev.system)
    profile = (p.get("profile") or {}).get("columns") or {}
    rows = [
        [
            name,
            str(c.get("kind")),
            str(c.get("missing", "")),
            str(c.get("distinct", "")),
            ", ".join(f"{t[0]} ({t[1]})" for t in c.get("top", [])[:3])
            if c.get("top")
            else f"min {_num(c.get('min'))} mean {_num(c.get('mean'))} max {_num(c.get('max'))}",
        ]
        for name, c in sorted(profile.items())
    ]
    rep = next((r for ref, r in b.ev.data_reports.items() if ref == ds.subject), None)
    used = [r for r, e in b.ev.datasets if e.subject == ds.subject]
    quality: list[Any]
    if rep is None:
        quality = [b.gap("Data governance report", "no `report.generated` kind data for this dataset version")]
    else:
        m = rep.payload.get("metrics") or {}
        quality = [
            b.val(
                "Quality",
                f"missing rate {_num(m.get('data.missing_rate', 0))}, duplicate rate "
                f"{_num(m.get('data.duplicate_rate', 0))}, constant columns {_num(m.get('data.constant_columns', 0))}",
                rep,
            ),
            Chart(
                "Group shares",
                [
                    (k[len("data.group_share[") : -1], float(v))
                    for k, v in sorted(m.items())
                    if k.startswith("data.group_share[")
                ],
                (rep.seq,),
            ),
            b.val(
                "Personal data and proxies",
                f"PII findings {_num(m.get('data.pii_findings', 0))}, max proxy "
                f"association {_num(m.get('data.max_proxy_association', 0))}"
                + (
                    "; warnings: " + "; ".join(map(str, rep.payload.get("warnings") or []))
                    if rep.payload.get("warnings")
                    else ""
                ),
                rep,
            ),
        ]
    d.sections = [
        Section("identity", "Identity and provenance", ("annex4.2d", "art10.2")).add(
            b.val(
                "Dataset version", f"{p.get('name')} content hash {p.get('content_hash')} ({p.get('hash_method')})", ds
            ),
            b.val("Source", p.get("source") or "not stated at registration", ds),
            b.val(
                "Registered",
                f"by {ds.actor.id} ({ds.actor.role}) on {ds.ts[:10]}; role "
                f"{p.get('role') or (used[0] if used else 'not stated')}",
                ds,
            ),
            b.val("Shape", f"{p.get('rows')} rows × {p.get('columns')} columns, format {p.get('format')}", ds),
            b.val("Parents", ", ".join(p.get("parents") or []) or "none (an original dataset)", ds),
        ),
        Section("schema", "Schema and profile", ("art10.3",)).add(
            Table(
                ["column", "kind", "missing", "distinct", "values"],
                rows,
                (ds.seq,),
                "Columns",
                "the registration recorded no profile",
            )
        ),
        Section("quality", "Quality, representativeness and bias examination", ("art10.2f", "art10.3")).add(*quality),
        Section("use", "Use", ("art10.1",)).add(
            b.val("Used by", f"{b.ev.model_ref} as {', '.join(used) or 'linked data'}", b.ev.model_event)
            if b.ev.model_ref
            else b.gap("Used by", "no model version links this dataset")
        ),
    ]
    return d


def instructions_for_use(b: Builder) -> Document:
    """Art. 13(3) instructions for use."""
    d = _doc(b, "instructions_for_use")
    S = Section
    d.sections = [
        S("art13.3a", "(a) Provider and contact", ("art13.3a",)).add(
            b.stmt("system.provider"), b.stmt("system.contact")
        ),
        S("art13.3b.i", "(b)(i) Intended purpose", ("art13.3b.i",)).add(
            b.stmt("system.intended_purpose"), b.annex3_area(), b.model_field()
        ),
        S("art13.3b.ii", "(b)(ii) Accuracy, robustness and cybersecurity", ("art13.3b.ii",)).add(
            *b.performance(), b.stmt("security.measures")
        ),
        S("art13.3b.iii", "(b)(iii) Circumstances that may lead to risks", ("art13.3b.iii",)).add(
            b.stmt("design.limitations"), b.risks_table()
        ),
        S("art13.3b.iv", "(b)(iv) Explanation capabilities", ("art13.3b.iv",)).add(*b.explainability()),
        S("art13.3b.v", "(b)(v) Performance for specific groups", ("art13.3b.v",)).add(
            *b.fairness(), b.group_chart("performance", "performance.accuracy", "Accuracy by group")
        ),
        S("art13.3b.vi", "(b)(vi) Input data and training data", ("art13.3b.vi",)).add(
            b.val(
                "Inputs",
                ", ".join(
                    f"{i.get('name')} ({i.get('dtype')})"
                    for i in ((b.ev.model_event.payload.get("signature") or {}).get("inputs") or [])
                ),
                b.ev.model_event,
            )
            if b.ev.model_event
            else b.gap("Inputs", "no model version registered"),
            b.datasets_table(),
        ),
        S("art13.3b.vii", "(b)(vii) Interpreting and using the output", ("art13.3b.vii",)).add(
            b.stmt("use.output_interpretation")
        ),
        S("art13.3c", "(c) Pre-determined changes", ("art13.3c",)).add(b.stmt("change.plan")),
        S("art13.3d", "(d) Human oversight measures", ("art13.3d",)).add(*b.oversight()),
        S("art13.3e", "(e) Resources, lifetime and maintenance", ("art13.3e",)).add(
            b.stmt("system.lifetime"), b.environment()
        ),
        S("art13.3f", "(f) Collecting and interpreting the logs", ("art13.3f",)).add(*b.logging()),
    ]
    return d


def intended_purpose(b: Builder) -> Document:
    """The intended-purpose statement with the system record."""
    d = _doc(b, "intended_purpose")
    d.sections = [
        Section("purpose", "Intended purpose", ("annex4.1a", "art13.3b.i")).add(
            b.stmt("system.intended_purpose"), b.stmt("system.persons_affected")
        ),
        Section("system", "System record", ("annex8a.1", "annex8a.4")).add(
            b.stmt("system.provider"), b.stmt("system.trade_name"), b.stmt("system.deployer"), b.stmt("system.contact")
        ),
        Section("classification", "Classification", ("art6.2",)).add(b.classification(), b.annex3_area()),
        Section("scope", "Versions and context of use", ("annex4.1d",)).add(
            b.model_field(), b.stmt("system.market_forms"), b.stmt("system.member_states")
        ),
    ]
    return d


def risk_register_doc(b: Builder) -> Document:
    """The Art. 9 risk register."""
    d = _doc(b, "risk_register")
    overdue = [r for r in b.ev.risks.values() if r.overdue()]
    d.sections = [
        Section(
            "register",
            "Identified risks, mitigations and residual risk",
            ("art9.1", "art9.2a", "art9.2b", "art9.2d", "art9.5"),
        ).add(b.risks_table()),
        Section("reviews", "Reviews", ("art9.2",)).add(
            Text(
                "Overdue reviews: " + (", ".join(f"{r.risk_id} (due {r.review_by})" for r in overdue) or "none"),
                tuple(s for r in overdue for s in r.seqs),
            )
            if b.ev.risks
            else Text("No risk identified yet, so no review is due.")
        ),
        Section("proposed", "Risks proposed by evidence", ("art9.2c",)).add(b.proposed_table()),
        Section("testing", "Testing against the risks", ("art9.6", "art9.8", "art9.9")).add(
            *b.fairness(), b.gates_table()
        ),
    ]
    return d


def monitoring_plan(b: Builder) -> Document:
    """The Art. 72 post-market monitoring plan."""
    d = _doc(b, "monitoring_plan")
    d.sections = [
        Section("plan", "What is monitored and when", ("art72.1", "annex4.9")).add(*b.monitoring()),
        Section("responsible", "Responsibilities", ("art72.1",)).add(b.stmt("monitoring.responsible")),
        Section("baseline", "Baseline at approval", ("art72.2",)).add(*b.performance(), *b.fairness()),
        Section("oversight", "Operation and human oversight", ("art72.2",)).add(*b.oversight()),
        Section("incidents", "Serious incidents", ("art73",)).add(
            Table(
                ["event", "time", "type", "detail"],
                [[str(e.seq), e.ts[:19], e.type, str(e.payload)[:200]] for e in b.ev.incidents],
                _seqs(*b.ev.incidents),
                "Incident events",
                "no serious incident recorded in the trail",
            ),
            b.stmt("qms.incident_procedure"),
        ),
    ]
    return d


def qms(b: Builder) -> Document:
    """The Art. 17 quality management summary."""
    d = _doc(b, "qms")
    pol, pe = b.ev.policy, b.ev.policy_event
    gates = (
        b.val(
            "Gates",
            "; ".join(
                f"{g.stage}: evidence {', '.join(g.evidence) or 'none'}; thresholds "
                + (
                    ", ".join(
                        f"{t.metric} {'min ' + str(t.min) if t.min is not None else ''}"
                        f"{'max ' + str(t.max) if t.max is not None else ''}"
                        for t in g.thresholds
                    )
                    or "none"
                )
                + (
                    f"; approvals {g.approvals.min} of {', '.join(g.approvals.roles)}"
                    + (" (four eyes)" if g.approvals.four_eyes else "")
                    if g.approvals
                    else ""
                )
                for g in pol.gates.values()
            ),
            pe,
        )
        if pol is not None and pol.gates
        else b.gap("Gates", "no `gates:` section in the registered policy")
    )
    roles = (
        b.val(
            "Roles",
            "; ".join(
                f"{k}: {', '.join(v)}"
                for k, v in sorted((f.name, getattr(pol.roles, f.name)) for f in dataclasses.fields(pol.roles))
                if v
            )
            or "default roles",
            pe,
        )
        if pol is not None
        else b.gap("Roles", "no registered policy")
    )
    S = Section
    d.sections = [
        S("art17.1a", "(a) Regulatory compliance strategy", ("art17.1a",)).add(b.stmt("qms.strategy")),
        S("art17.1b", "(b) Design control and verification", ("art17.1b",)).add(gates),
        S("art17.1c", "(c) Quality control and assurance", ("art17.1c",)).add(b.gates_table(), b.approvals_table()),
        S("art17.1d", "(d) Examination, test and validation", ("art17.1d",)).add(gates, *b.monitoring()[:1]),
        S("art17.1e", "(e) Technical specifications and standards", ("art17.1e",)).add(b.stmt("standards.applied")),
        S("art17.1f", "(f) Data management", ("art17.1f",)).add(b.datasets_table(), *b.logging()[1:]),
        S("art17.1g", "(g) Risk management", ("art17.1g",)).add(b.risks_table()),
        S("art17.1h", "(h) Post-market monitoring", ("art17.1h",)).add(*b.monitoring()),
        S("art17.1i", "(i) Serious incident reporting", ("art17.1i",)).add(b.stmt("qms.incident_procedure")),
        S("art17.1j", "(j) Communication", ("art17.1j",)).add(b.stmt("qms.communication")),
        S("art17.1k", "(k) Record-keeping", ("art17.1k",)).add(*b.logging()),
        S("art17.1l", "(l) Resource management", ("art17.1l",)).add(b.stmt("qms.resources")),
        S("art17.1m", "(m) Accountability", ("art17.1m",)).add(roles, b.approvals_table()),
    ]
    return d


def declaration_of_conformity(b: Builder) -> Document:
    """The Annex V EU declaration of conformity (signed: see :mod:`modeltrail.documents.signing`)."""
    d = _doc(b, "declaration_of_conformity")
    personal = b.ev.policy is not None and b.ev.policy.data_policy is not None and bool(b.ev.policy.data_policy.fields)
    S = Section
    d.sections = [
        S("annex5.1", "1. AI system", ("annex5.1",)).add(
            b.stmt("system.trade_name"),
            b.val(
                "System and unique reference",
                f"system {b.ev.system}, {b.ev.model_ref or 'no model version'}",
                b.ev.model_event,
            ),
            b.model_field(),
        ),
        S("annex5.2", "2. Provider", ("annex5.2",)).add(b.stmt("system.provider"), b.stmt("system.representative")),
        S("annex5.3", "3. Responsibility", ("annex5.3",)).add(
            Text("This EU declaration of conformity is issued under the sole responsibility of the provider.")
        ),
        S("annex5.4", "4. Conformity", ("annex5.4",)).add(
            Text(
                "The AI system described above is in conformity with Regulation (EU) 2024/1689 and, where "
                "applicable, with other relevant Union law providing for the issuing of this declaration."
            ),
            b.classification(),
            b.gates_table(),
        ),
        S("annex5.5", "5. Data protection", ("annex5.5",)).add(
            Text(
                "Where the AI system involves the processing of personal data, it complies with Regulations (EU) "
                "2016/679 and (EU) 2018/1725 and Directive (EU) 2016/680."
                + (" The system processes personal data under the registered data policy." if personal else ""),
                _seqs(b.ev.policy_event) if personal else (),
            )
        ),
        S("annex5.6", "6. Standards and common specifications", ("annex5.6",)).add(b.stmt("standards.applied")),
        S("annex5.7", "7. Notified body", ("annex5.7",)).add(b.stmt("conformity.procedure")),
        S("annex5.8", "8. Place, date, signatory", ("annex5.8",)).add(
            b.stmt("conformity.place"), b.stmt("conformity.signatory"), b.approvals_table()
        ),
    ]
    return d


def fria(b: Builder) -> Document:
    """The Art. 27 fundamental-rights impact assessment (deployers)."""
    d = _doc(b, "fria")
    S = Section
    d.sections = [
        S("art27.1a", "(a) Processes in which the system is used", ("art27.1",)).add(
            b.stmt("system.deployer"), b.stmt("fria.process"), b.stmt("system.intended_purpose")
        ),
        S("art27.1b", "(b) Period and frequency of use", ("art27.1",)).add(b.stmt("fria.period"), *b.oversight()[1:2]),
        S("art27.1c", "(c) Categories of persons affected", ("art27.1",)).add(
            b.stmt("system.persons_affected"), b.annex3_area()
        ),
        S("art27.1d", "(d) Specific risks of harm", ("art27.1",)).add(
            b.stmt("fria.harms"), b.risks_table(), *b.fairness()
        ),
        S("art27.1e", "(e) Human oversight measures", ("art27.1",)).add(*b.oversight()),
        S("art27.1f", "(f) Measures if risks materialise; governance and complaints", ("art27.1",)).add(
            b.stmt("fria.measures")
        ),
        S("art27.3", "Notification of the results", ("art27.3",)).add(
            Text("Not notified to the market surveillance authority yet: no `notification.*` event in the trail.")
        ),
    ]
    return d


def dpia(b: Builder) -> Document:
    """A GDPR Art. 35(7) data protection impact assessment outline."""
    d = _doc(b, "dpia")
    pol, pe = b.ev.policy, b.ev.policy_event
    if pol is not None and pol.data_policy is not None:
        handling = b.val(
            "Processing of input fields",
            ", ".join(f"{k}: {v}" for k, v in sorted(pol.data_policy.fields.items())) + f"; other fields: "
            f"{pol.data_policy.default}; protected attributes: {', '.join(pol.protected_attributes) or 'none'}",
            pe,
        )
    else:
        handling = b.gap("Processing of input fields", "no `data_policy:` section in the registered policy")
    inputs = b.ev.model_event.payload.get("signature", {}).get("inputs", []) if b.ev.model_event else []
    S = Section
    d.sections = [
        S("gdpr35.7a", "(a) Systematic description and purposes", ("gdpr.art35",)).add(
            b.stmt("dpia.purposes"),
            b.stmt("system.intended_purpose"),
            b.val("Data processed by the model", ", ".join(str(i.get("name")) for i in inputs), b.ev.model_event)
            if b.ev.model_event
            else b.gap("Data processed by the model", "no model version registered"),
            handling,
            b.datasets_table(),
        ),
        S("gdpr35.7b", "(b) Necessity and proportionality", ("gdpr.art35",)).add(b.stmt("dpia.necessity")),
        S("gdpr35.7c", "(c) Risks to data subjects", ("gdpr.art35",)).add(
            b.stmt("dpia.risks"), *b.data_quality(), *b.fairness()
        ),
        S("gdpr35.7d", "(d) Measures", ("gdpr.art35",)).add(b.stmt("dpia.measures"), *b.logging()[1:]),
    ]
    return d


def registration(b: Builder) -> Document:
    """Annex VIII Section A registration data (also as JSON for the EU database)."""
    d = _doc(b, "registration")

    def answer(key: str) -> str | None:
        s = b.ev.statements.get(key)
        return None if s is None else s.text

    dep = b.ev.deployment()
    last = b.ev.lifecycle[-1] if b.ev.lifecycle else None
    market = (
        "not placed on the market"
        if dep is None
        else "withdrawn"
        if last is not None and last.type == "model.retired"
        else "suspended"
        if last is not None and last.type == "model.suspended"
        else "on the market / in service"
    )
    doc_sha = {k: str(e.payload.get("sha256")) for k, e in b.ev.docs.items()}
    sig = (b.ev.model_event.payload.get("signature") or {}) if b.ev.model_event else {}
    d.data = {
        "schema": "modeltrail/annex-viii-a/v1",
        "1_provider": answer("system.provider"),
        "2_submitter": answer("system.contact"),
        "3_authorised_representative": answer("system.representative"),
        "4_trade_name": answer("system.trade_name"),
        "4_unique_reference": b.ev.model_ref,
        "5_intended_purpose": answer("system.intended_purpose"),
        "5_technical_documentation_sha256": doc_sha.get("annex_iv"),
        "6_inputs": [i.get("name") for i in sig.get("inputs") or []],
        "6_model_class": ((b.ev.model_event.payload.get("artifact") or {}).get("class") if b.ev.model_event else None),
        "7_market_status": market,
        "8_conformity_procedure": answer("conformity.procedure"),
        "10_member_states": answer("system.member_states"),
        "11_declaration_of_conformity_sha256": doc_sha.get("declaration_of_conformity"),
        "12_instructions_for_use_sha256": doc_sha.get("instructions_for_use"),
        "classification": None
        if b.ev.classification is None
        else {
            "tier": b.ev.classification.payload.get("tier"),
            "reasons": [r.get("requirement_id") for r in b.ev.classification.payload.get("reasons") or []],
        },
    }
    S = Section
    d.sections = [
        S("annex8a.1", "1-3. Provider, submitter, representative", ("annex8a.1",)).add(
            b.stmt("system.provider"), b.stmt("system.contact"), b.stmt("system.representative")
        ),
        S("annex8a.4", "4. Trade name and unique reference", ("annex8a.4",)).add(
            b.stmt("system.trade_name"), b.model_field()
        ),
        S("annex8a.5", "5. Intended purpose, components and functions", ("annex8a.5",)).add(
            b.stmt("system.intended_purpose"), b.doc_field("annex_iv", "Technical documentation")
        ),
        S("annex8a.6", "6. Data, inputs and operating logic", ("annex8a.6",)).add(
            b.doc_field("model_card", "Model card"), b.datasets_table()
        ),
        S("annex8a.7", "7. Market status", ("annex8a.7",)).add(
            b.val("Status", market, *(e for e in (dep, last) if e is not None))
            if dep is not None
            else b.val("Status", market, b.ev.model_event)
        ),
        S("annex8a.8", "8-9. Notified body certificate", ("annex8a.8",)).add(b.stmt("conformity.procedure")),
        S("annex8a.10", "10. Member States", ("annex8a.10",)).add(b.stmt("system.member_states")),
        S("annex8a.11", "11. Declaration of conformity", ("annex8a.11",)).add(
            b.doc_field("declaration_of_conformity", "Declaration of conformity")
        ),
        S("annex8a.12", "12-13. Instructions for use", ("annex8a.12",)).add(
            b.doc_field("instructions_for_use", "Instructions for use")
        ),
    ]
    return d


KINDS: dict[str, KindSpec] = {
    k.kind: k
    for k in (
        KindSpec("dataset_card", "Dataset card", "dataset", "doc.dataset_card", dataset_card),
        KindSpec("model_card", "Model card", "model", "doc.model_card", model_card),
        KindSpec("intended_purpose", "Intended purpose", "system", "doc.intended_purpose", intended_purpose),
        KindSpec("risk_register", "Risk register (Art. 9)", "system", "doc.risk_register", risk_register_doc),
        KindSpec(
            "instructions_for_use",
            "Instructions for use (Art. 13)",
            "model",
            "doc.instructions_for_use",
            instructions_for_use,
        ),
        KindSpec(
            "monitoring_plan", "Post-market monitoring plan (Art. 72)", "system", "doc.monitoring_plan", monitoring_plan
        ),
        KindSpec("qms", "Quality management system summary (Art. 17)", "system", "doc.qms", qms),
        KindSpec(
            "declaration_of_conformity",
            "EU declaration of conformity (Annex V)",
            "model",
            "doc.declaration_of_conformity",
            declaration_of_conformity,
        ),
        KindSpec("annex_iv", "Technical documentation (Annex IV)", "model", "doc.annex_iv", annex_iv),
        KindSpec("fria", "Fundamental rights impact assessment (Art. 27)", "system", "doc.fria", fria),
        KindSpec("dpia", "Data protection impact assessment outline (GDPR Art. 35)", "system", "doc.dpia", dpia),
        KindSpec(
            "registration", "EU database registration data (Annex VIII)", "model", "export.annex_viii", registration
        ),
    )
}
"""Every kind, in an order where a kind comes after the kinds it cites (``docs build --kind all``)."""


def kind_spec(kind: str) -> KindSpec:
    """The spec of ``kind``; :class:`ValidationError` naming the kinds otherwise."""
    try:
        return KINDS[kind.replace("-", "_")]
    except KeyError:
        raise ValidationError(f"expected one of {', '.join(KINDS)}, got {kind!r}", field="kind") from None
