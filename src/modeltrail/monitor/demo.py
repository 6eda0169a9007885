"""The monitoring chapter of ``modeltrail demo``: drift arrives, the alert acts, an incident is opened.

Called by :func:`modeltrail.demo.run_demo` with the live guard: the reference profile of the deployed
version is recorded from the validation split, the decisions served so far are checked (no drift), then
later applicants arrive with longer, larger loans; the next check raises the alert, whose
``require_review`` action routes every decision of the model to human review (the kill switch with the
``human_review`` fallback); a serious-incident record is opened with its Art. 73 deadline; bob
(model_risk) clears the alert and resumes the model once the cause is understood, so the demo's own
kill-switch chapter follows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..events import Actor
from ..trail import Trail
from .alerts import clear_alert
from .incidents import open_incident
from .profile import build_profile, record_profile
from .run import MONITOR_ACTOR, monitor

DRIFTED = 300


def run_story(
    trail: Trail,
    guard: Any,
    *,
    estimator: Any,
    features: Sequence[str],
    model: str,
    system: str,
    reference: pd.DataFrame,
    reference_labels: Sequence[Any],
    rows: Sequence[dict[str, Any]],
    subjects: Sequence[str],
    served: int,
    owner: Actor,
    reviewer: Actor,
    protected: Sequence[str] = (),
    say: Callable[[str], None] = lambda _m: None,
) -> dict[str, Any]:
    """Run the monitoring chapter; returns its figures (also shown through ``say``)."""
    # The reference scores come from the estimator itself: scoring through the guard would log decisions.
    scores = estimator.predict_proba(reference[list(features)])[:, 1]
    prof = build_profile(
        reference,
        scores=scores,
        labels=np.asarray(reference_labels),
        groups={g: reference[g] for g in protected if g in reference} or None,
        source="validation split",
    )
    pr = record_profile(trail, prof, model=model, system=system, actor=owner)
    first = monitor(trail, model, "production", count=served, actor=MONITOR_ACTOR)
    say(f"  reference profile recorded (event {pr.seq}); {served:,} served decisions checked: {first[-1].level}")
    noisy = first[-1]
    if noisy.alert_seq is not None and any(o.ok and o.action in ("require_review", "suspend") for o in noisy.outcomes):
        # A small first window can alert on sampling noise alone; a person looks and lifts it.
        clear_alert(trail, noisy.alert_seq, actor=reviewer, reason="small first window: sampling noise", resume=True)
        guard.switch.poll()
        say(f"  {reviewer.id} cleared that alert as sampling noise of a small window")
    # Later applicants ask for longer and larger loans: the input distribution moves.
    later = []
    for i in range(DRIFTED):
        r = rows[i % len(rows)]
        d = dict(r)
        d["duration_months"] = int(d["duration_months"]) + 24
        d["credit_amount"] = float(d["credit_amount"]) * 2.5
        later.append(d)
    for d in guard.decide_many(later, subjects=[subjects[i % len(subjects)] for i in range(DRIFTED)]):
        d.durable(timeout=30)
    (res,) = monitor(trail, model, "production", count=DRIFTED, actor=MONITOR_ACTOR)
    drift = next((f for f in res.findings if f.rule == "drift"), None)
    acts = ", ".join(f"{o.action} ({'ok' if o.ok else o.detail})" for o in res.outcomes)
    if drift is not None and drift.value is not None:
        say(
            f"  {DRIFTED} later decisions: [bold red]{res.level}[/bold red], {drift.metric} {drift.value:.2f} "
            f"on {', '.join(drift.detail['features'])} (event {res.alert_seq}); actions: {acts}"
        )
    guard.switch.poll()
    routed = guard.decide_many(later[:3], subjects=list(subjects[:3]))
    for d in routed:
        d.durable(timeout=30)
    say(f"  the next {len(routed)} decisions went to {routed[0].route} ({routed[0].fallback})")
    inc = open_incident(
        trail,
        model=model,
        type="fundamental_rights",
        severity="high",
        title="Drifted applications scored outside the validated range",
        actor=reviewer,
        system=system,
        env="production",
        links=[f"event:{res.alert_seq}"],
    )
    say(f"  incident {inc.id[:12]} opened by {reviewer.id}; report due {inc.deadline[:16]} ({inc.basis})")
    assert res.alert_seq is not None
    cleared = clear_alert(
        trail, res.alert_seq, actor=reviewer, reason="feed fixed upstream; incident stays open", resume=True
    )
    guard.switch.poll()
    say(f"  {reviewer.id} cleared the alert and resumed the model (event {cleared.seq})")
    return {
        "level": res.level,
        "alert_seq": res.alert_seq,
        "drifted_features": drift.detail["features"] if drift else [],
        "actions": [{"action": o.action, "ok": o.ok} for o in res.outcomes],
        "routed": [d.route for d in routed],
        "incident": inc.id,
        "deadline": inc.deadline,
        "decisions": DRIFTED + len(routed),
    }
