"""``modeltrail audit check``: replay the whole ledger and list every governance rule that was broken.

``verify`` proves the bytes were not changed after they were signed; this proves they mean what they say.
The check replays the ledger from event 0 with the same rules the projections apply
(:mod:`modeltrail.governance.rules`) and reports, each with its seq:

- ``deployment_unapproved``: a deployment without a passed gate and complete approvals (forced deployments
  with an admitted break-glass are listed apart, under ``break_glass``);
- ``approval_by_registrant`` / ``approval_role``: an approval under four-eyes by the registrant, or by an
  actor who lacked the role at that time (``role`` for the other governance actions);
- ``ref_missing`` / ``ref_later``: an ``event:N`` reference to an event that does not exist or comes later;
- ``decision_not_deployed``: a decision the model served (not a fallback) while that version was not
  deployed in that environment;
- ``policy_change_role`` / ``policy_blob``: a policy change (or proposal) by an actor without the policy
  role, or one naming a blob that is missing or invalid;
- ``policy_change_unapproved``: a change to a high-risk system's policy that took no second approver (no
  admitted proposal, the proposer approving it, or a stale proposal);
- ``key_not_chained``: a checkpoint key, or a rotation, not chained from ``trail.initialized``;
- ``witness_cosignatures``: fewer witness cosignatures on a checkpoint of the log than a policy in force
  requires (``witnesses: {keys, min}``);
- ``approval_signature``: a person's signature on an approval, rejection, deployment or override that does
  not verify (or is missing where the stage, or ``oversight``, says ``signed: required``);
- any other inadmissible governance event, as ``inadmissible``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..events import Event
from ..governance.rules import WATCHED, Replay, Verdict, policy_loader

if TYPE_CHECKING:
    from ..trail import Trail

#: Replay rule -> violation kind, per event type where the same rule means different things.
_KINDS: dict[tuple[str, str], str] = {
    ("model.deployed", "deploy_unapproved"): "deployment_unapproved",
    ("model.deployed", "break_glass"): "deployment_unapproved",
    ("model.approved", "four_eyes"): "approval_by_registrant",
    ("model.approved", "role"): "approval_role",
    ("model.approved", "signature"): "approval_signature",
    ("model.rejected", "signature"): "approval_signature",
    ("model.deployed", "signature"): "approval_signature",
    ("oversight.overridden", "signature"): "approval_signature",
    ("policy.registered", "policy_role"): "policy_change_role",
    ("policy.registered", "policy_blob"): "policy_blob",
    ("policy.registered", "second_approver"): "policy_change_unapproved",
    ("policy.proposed", "policy_role"): "policy_change_role",
    ("policy.proposed", "policy_blob"): "policy_blob",
    ("key.rotated", "key_chain"): "key_not_chained",
}
_RULE_KINDS = {"role": "role", "signature": "approval_signature"}

MAX_PER_KIND = 1000
"""At most this many violations of one kind are listed; the rest are counted (``truncated``)."""


@dataclass(frozen=True)
class Violation:
    """One broken rule: the event, what kind of violation, and a sentence saying what happened."""

    seq: int
    kind: str
    type: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"seq": self.seq, "kind": self.kind, "type": self.type, "message": self.message}


@dataclass
class AuditResult:
    """The outcome of :func:`check`: ``ok`` only without violations."""

    size: int = 0
    events_checked: int = 0
    governance_events: int = 0
    violations: list[Violation] = field(default_factory=list)
    break_glass: list[Violation] = field(default_factory=list)
    """Forced deployments with an admitted break-glass: allowed, and shown so that someone looks."""
    notes: list[str] = field(default_factory=list)
    truncated: dict[str, int] = field(default_factory=dict)
    _listed: dict[str, int] = field(default_factory=dict, repr=False)

    @property
    def ok(self) -> bool:
        """True when no rule was broken."""
        return not self.violations and not self.truncated

    def kinds(self) -> dict[str, int]:
        """Number of violations of each kind (including those not listed)."""
        out: dict[str, int] = {}
        for v in self.violations:
            out[v.kind] = out.get(v.kind, 0) + 1
        for k, n in self.truncated.items():
            out[k] = out.get(k, 0) + n
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON form (``modeltrail audit check --json``)."""
        return {
            "ok": self.ok,
            "size": self.size,
            "events_checked": self.events_checked,
            "governance_events": self.governance_events,
            "kinds": self.kinds(),
            "violations": [v.to_dict() for v in self.violations],
            "break_glass": [v.to_dict() for v in self.break_glass],
            "truncated": dict(self.truncated),
            "notes": list(self.notes),
        }

    def add(self, v: Violation) -> None:
        """Record a violation (counting it only, past :data:`MAX_PER_KIND` of its kind)."""
        if self._listed.get(v.kind, 0) >= MAX_PER_KIND:
            self.truncated[v.kind] = self.truncated.get(v.kind, 0) + 1
        else:
            self._listed[v.kind] = self._listed.get(v.kind, 0) + 1
            self.violations.append(v)


def _kind(v: Verdict) -> str:
    return _KINDS.get((v.type, v.rule)) or _RULE_KINDS.get(v.rule) or "inadmissible"


def _event_refs(ev: Event) -> Iterator[int]:
    for r in ev.refs:
        if r.startswith("event:"):
            body = r[6:]
            yield int(body) if body.isdigit() else -1


def _decision_model(ev: Event) -> tuple[str, int, str] | None:
    model, env = ev.payload.get("model"), ev.payload.get("env")
    if not isinstance(model, str) or not isinstance(env, str) or not model.startswith("model:"):
        return None
    name, sep, version = model[6:].rpartition("@")
    if not sep or not version.isdigit():
        return None
    return name, int(version), env


def check(trail: Trail) -> AuditResult:
    """Replay every event of ``trail`` from 0 and return every broken governance rule (see the module doc).

    Reads the ledger only (never a projection table), so an edited projection cannot hide anything.
    """
    from ..governance.trailchecks import check_key_chain
    from ..governance.witnessing import policy_witness_problems

    res = AuditResult()
    replay = Replay(policy_loader(trail))
    replay._execute = trail.store.execute
    watched = frozenset(WATCHED)
    size = trail.size()
    res.size = size
    registered_anywhere = False
    for row in trail.rows(0, size):
        res.events_checked += 1
        has_refs = b'"event:' in row.leaf
        if (row.type not in watched and row.type != "inference.decision" and not has_refs) or not row.leaf:
            continue
        ev = Event.from_leaf(row.leaf, row.leaf_hash)
        if has_refs:
            for n in _event_refs(ev):
                if n < 0 or n >= size:
                    res.add(
                        Violation(
                            ev.seq, "ref_missing", ev.type, f"event {ev.seq} cites event:{n}, which does not exist"
                        )
                    )
                elif n >= ev.seq:
                    res.add(
                        Violation(ev.seq, "ref_later", ev.type, f"event {ev.seq} cites event:{n}, which comes later")
                    )
        if ev.type in watched:
            res.governance_events += 1
            v = replay.apply(ev)
            registered_anywhere = registered_anywhere or (ev.type == "policy.registered" and v.admitted)
            if not v.admitted:
                res.add(Violation(ev.seq, _kind(v), ev.type, v.reason))
            elif v.facts.get("break_glass"):
                res.break_glass.append(
                    Violation(ev.seq, "break_glass", ev.type, f"{ev.subject} forced into {ev.payload.get('env')}")
                )
        elif ev.type == "inference.decision" and ev.payload.get("route") != "fallback":
            target = _decision_model(ev)
            if target is not None and (target[0], target[1]) in replay.versions and not replay.deployed_at(*target):
                res.add(
                    Violation(
                        ev.seq,
                        "decision_not_deployed",
                        ev.type,
                        f"model:{target[0]}@{target[1]} served a decision in {target[2]} where it was not deployed",
                    )
                )
    for p in check_key_chain(trail):
        res.add(Violation(p.seq if p.seq is not None else -1, "key_not_chained", "checkpoint", p.message))
    for seq, message in policy_witness_problems(trail, replay.policies.values()):
        res.add(Violation(seq if seq is not None else -1, "witness_cosignatures", "checkpoint", message))
    if not registered_anywhere:
        res.notes.append(
            "no policy is registered in the ledger: rules were checked against the policy each event cites; "
            "run `modeltrail policy set FILE` so the policy in force is itself on the record"
        )
    return res


def dumps(result: AuditResult) -> str:
    """The result as indented JSON."""
    return json.dumps(result.to_dict(), indent=2)


__all__ = ["MAX_PER_KIND", "AuditResult", "Violation", "check", "dumps"]
