"""The record of processing activities (GDPR Art. 30(1)) as far as the trail knows it.

One processing activity per system with a registered policy. What the trail can state is derived:

- the purpose and the legal classification (the latest ``system.classified``: tier and the reasons);
- the categories of personal data: the input fields the data policy names, with what happens to each
  (kept, pseudonymised, sealed, dropped), and the protected attributes used for bias detection;
- the categories of data subjects: the people decisions are made about (decision events carry them);
- the time limits for erasure: the retention rules, with the legal minimums they respect;
- the technical and organisational measures: pseudonymisation (vault tokens or keyed), per-subject
  encryption, the signed Merkle ledger, legal holds, the roles for erasure and access;
- the record of requests: erasures, access requests and purges so far (counts).

What only the controller knows (their name and contact, the DPO, recipients, transfers to third
countries) is asked for by name in ``to_complete``: the record says what it lacks instead of guessing.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..registry.policy_store import policy_or_none
from ..runtime.datapolicy import uses_vault
from .access import allowed_roles
from .holds import active_holds

if TYPE_CHECKING:
    from ..trail import Trail

_ACTION_TEXT = {
    "keep": "logged in clear",
    "pseudonymise": "pseudonymised",
    "seal": "encrypted under the person's own key (crypto-shredded on erasure)",
    "drop": "not stored",
}

TO_COMPLETE = (
    "controller name and contact details (Art. 30(1)(a))",
    "data protection officer contact (Art. 30(1)(a))",
    "recipients or categories of recipients (Art. 30(1)(d))",
    "transfers to third countries and safeguards (Art. 30(1)(e))",
)


def record_of_processing(trail: Trail) -> dict[str, Any]:
    """The record as a dictionary (``modeltrail export ropa --format json``)."""
    systems = sorted(
        str(r[0]) for r in trail.store.execute("SELECT DISTINCT system FROM events", ()) if r[0] != "modeltrail"
    )
    counts = Counter(ev.type for ev in trail.events("subject.*"))
    purges = list(trail.events("retention.purged"))
    activities = []
    for system in systems:
        policy = policy_or_none(trail, system)
        if policy is None or policy.system != system:
            continue
        cls = next(iter(trail.events("system.classified", system=system, descending=True, limit=1)), None)
        decisions = next(iter(trail.events("inference.decision", system=system, limit=1)), None)
        fields = dict(policy.data_policy.fields)
        purpose = f"automated decisions by the AI system {system} (risk tier {policy.risk_tier})"
        if cls is not None:
            articles = [str(r.get("article", "")) for r in cls.payload.get("reasons", [])]
            purpose += "; classified under " + ", ".join(articles)
        activities.append(
            {
                "system": system,
                "purpose": purpose,
                "data_subjects": ["persons the system decides about"] if decisions is not None else [],
                "personal_data": [
                    {"field": name, "treatment": _ACTION_TEXT.get(action, action)} for name, action in fields.items()
                ]
                + [{"field": "(other input fields)", "treatment": _ACTION_TEXT.get(policy.data_policy.default, "")}],
                "special_categories_for_bias_detection": list(policy.protected_attributes),
                "erasure_time_limits": [
                    {"events": r.pattern, "kept_for": r.period.text} for r in policy.retention
                ],
                "measures": [
                    "pseudonyms are random vault tokens whose link erasure deletes"
                    if uses_vault(trail)
                    else "pseudonyms are keyed hashes (HMAC-SHA256); erasure purges the records they link",
                    "sealed fields are AES-256-GCM encrypted under a per-person data key",
                    "every event is a leaf of a signed Merkle ledger (RFC 9162); `modeltrail verify` checks it",
                    "purges and erasures are recorded events; legal holds block them",
                    f"erasure by roles {', '.join(allowed_roles(trail, 'erasure'))}; access requests by "
                    f"{', '.join(allowed_roles(trail, 'subject_access'))}; reveal of sealed data by "
                    f"{', '.join(policy.roles.reveal) or 'nobody'}",
                ],
            }
        )
    return {
        "title": "Record of processing activities (GDPR Art. 30(1))",
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "trail": trail.origin,
        "ledger_size": trail.size(),
        "activities": activities,
        "requests": {
            "erasures": counts.get("subject.erased", 0),
            "erasures_refused": counts.get("subject.erasure_refused", 0),
            "access_requests": counts.get("subject.request_received", 0),
            "access_answers": counts.get("subject.exported", 0),
            "retention_purges": len(purges),
            "events_purged": sum(int(e.payload.get("count", 0)) for e in purges),
            "legal_holds_in_force": len(active_holds(trail)),
        },
        "to_complete": list(TO_COMPLETE),
    }


def render_markdown(rec: dict[str, Any]) -> str:
    """The record as Markdown."""
    out = [f"# {rec['title']}", "", f"Trail `{rec['trail']}`, {rec['ledger_size']} events, {rec['generated_at']}.", ""]
    for a in rec["activities"]:
        out += [f"## {a['system']}", "", f"Purpose: {a['purpose']}", ""]
        out += ["Categories of data subjects: " + (", ".join(a["data_subjects"]) or "none recorded"), ""]
        out += ["| personal data | treatment |", "|---|---|"]
        out += [f"| {p['field']} | {p['treatment']} |" for p in a["personal_data"]]
        if a["special_categories_for_bias_detection"]:
            used = ", ".join(a["special_categories_for_bias_detection"])
            out += ["", f"Used for bias detection (AI Act Art. 10(5)): {used}"]
        out += ["", "Time limits for erasure:", ""]
        out += [f"- `{t['events']}`: {t['kept_for']}" for t in a["erasure_time_limits"]] or ["- none set"]
        out += ["", "Measures:", ""] + [f"- {m}" for m in a["measures"]] + [""]
    out += ["## Requests and purges so far", ""]
    out += [f"- {k.replace('_', ' ')}: {v}" for k, v in rec["requests"].items()]
    out += ["", "## To be completed by the controller", ""] + [f"- {t}" for t in rec["to_complete"]]
    return "\n".join(out) + "\n"


def render(rec: dict[str, Any], fmt: str) -> str:
    """``json`` or ``md``."""
    return json.dumps(rec, indent=2, ensure_ascii=False) + "\n" if fmt == "json" else render_markdown(rec)


__all__ = ["TO_COMPLETE", "record_of_processing", "render", "render_markdown"]
