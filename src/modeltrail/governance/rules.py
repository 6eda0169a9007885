"""The governance rules, re-checked on replay: does each governance event take effect?

The library operations check their rules before they append (:mod:`modeltrail.registry.lifecycle`,
:mod:`modeltrail.identity`, :mod:`modeltrail.runtime.oversight`). Something that goes around them (a direct
append to the database, an old client, a forged ``POST``) is caught here: :class:`Replay` folds the
governance events of the ledger in order and judges each one from the state before it, the policy in force
at that seq (the latest admitted ``policy.registered`` of the system), the actor's roles under that policy,
four-eyes, the gate result, complete approvals and the deployment state. An inadmissible event stays in the
ledger (it happened) but changes nothing: the registry projection, the kill switch and the review queue
skip it, and ``modeltrail audit check`` reports it with its seq.

The replay is a pure function of the ledger, so an edited projection table changes nothing after
``modeltrail rebuild``; it is cached per open trail and advanced incrementally (governance events are few:
decisions are not folded here).
"""

from __future__ import annotations

import contextvars
import threading
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import ModeltrailError
from ..events import Actor, Event
from .namespace import RESERVED

if TYPE_CHECKING:
    from ..policy import Policy
    from ..projections import Db
    from ..trail import Trail

Execute = Callable[[str, Sequence[Any]], list[tuple[Any, ...]]]

DEFAULT_POLICY_ROLE = "compliance"
"""Who may replace the policy in force when its ``roles.policy`` names nobody."""
ADMIN_ROLE = "admin"
DEFAULT_ROLE = "user"

#: Event types the replay folds: the reserved namespace plus the registrations the rules depend on.
WATCHED: tuple[str, ...] = (*sorted(RESERVED), "model.registered", "model.imported", "doc.generated")
_TERMINAL = ("rejected", "retired")

#: Set by :func:`modeltrail.projections.catch_up` so that folds can reach the trail (policies are blobs).
CURRENT_TRAIL: contextvars.ContextVar[Trail | None] = contextvars.ContextVar("modeltrail_current_trail", default=None)


@dataclass(frozen=True)
class Verdict:
    """Whether the event at ``seq`` takes effect; ``rule`` and ``reason`` say why not."""

    seq: int
    type: str
    admitted: bool
    rule: str = ""
    reason: str = ""
    facts: dict[str, Any] = field(default_factory=dict)
    """What the replay computed, e.g. ``complete`` for an approval (the payload's own claim is not trusted)."""


@dataclass
class _Approval:
    seq: int
    stage: str
    approver: str
    role: str
    active: bool = True


@dataclass
class _Version:
    model: str
    version: int
    system: str
    registrant: str
    seq: int
    gates: dict[str, tuple[int, bool]] = field(default_factory=dict)
    approvals: list[_Approval] = field(default_factory=list)
    rejected: bool = False
    retired: bool = False


@dataclass
class _Deployment:
    seq: int
    model: str
    version: int
    env: str
    traffic: float
    stage: str
    state: str = "live"  # live | suspended | ended
    break_glass: bool = False


@dataclass(frozen=True)
class PolicyInForce:
    """A policy as the replay knows it: its hash, the event that registered it (None: cited only)."""

    sha256: str
    seq: int | None
    policy: Policy


@dataclass
class PolicyProposal:
    """An admitted ``policy.proposed``: the text (by hash) one person proposed, waiting for a second."""

    seq: int
    system: str
    sha256: str
    proposer: str
    policy: Policy
    path: str | None
    approved_in: int | None = None


HIGH_RISK = "high"


def second_approver_needed(old: Policy, new: Policy) -> bool:
    """A change from ``old`` to ``new`` needs a second person when either of them is high-risk.

    Both sides count: a high-risk policy must not be loosened by one person, and a one-person change must
    not downgrade a high-risk system to ``minimal`` (and so escape the rule) or quietly make one high-risk.
    """
    return HIGH_RISK in (old.risk_tier, new.risk_tier)


def proposal_problem(r: Replay, prop: PolicyProposal, approver: str) -> str | None:
    """Why ``approver`` may not put the proposal ``prop`` in force now (None: they may)."""
    if prop.approved_in is not None:
        return f"the proposal in event {prop.seq} already took effect in event {prop.approved_in}"
    current = r.policies.get(prop.system)
    if current is not None and current.seq is not None and current.seq > prop.seq:
        return (
            f"the proposal in event {prop.seq} is stale: the policy of {prop.system} changed in event "
            f"{current.seq} after it was proposed"
        )
    if approver == prop.proposer:
        return f"{approver} proposed this change (event {prop.seq}); a second person must approve it"
    return None


def policy_roles(policy: Policy | None) -> tuple[str, ...]:
    """The roles that may replace ``policy`` (its ``roles.policy``, else ``compliance``)."""
    roles: tuple[str, ...] = getattr(policy.roles, "policy", ()) if policy is not None else ()
    return roles or (DEFAULT_POLICY_ROLE,)


def _role_problem(policy: Policy | None, actor: Actor, accepted: Sequence[str], action: str) -> str | None:
    """Why ``actor`` may not perform ``action`` under ``policy`` (None: they may)."""
    if actor.role not in accepted:
        need = " or ".join(accepted) or "nobody (the policy grants it to no role)"
        return f"{actor.id} acted as {actor.role!r}; {action} needs {need}"
    if policy is not None and policy.users:
        user = policy.users.get(actor.id)
        if user is None:
            return f"{actor.id} is not a user of the policy for {policy.system}"
        if actor.role not in user.roles:
            held = ", ".join(user.roles) or "none"
            return f"{actor.id} claims {actor.role!r}, which the policy in force does not grant (roles: {held})"
    return None


def _model_ref(subject: str | None) -> tuple[str, int | None] | None:
    if not subject or not subject.startswith("model:"):
        return None
    body = subject[len("model:") :]
    name, sep, version = body.rpartition("@")
    if not sep:
        return (body, None) if body else None
    if not version.isdigit() or not name:
        return None
    return name, int(version)


def _str(v: Any) -> str | None:
    return v if isinstance(v, str) and v else None


class Replay:
    """The governance state of one ledger, folded event by event with a verdict for each."""

    def __init__(self, load_policy: Callable[[str], Policy | None]) -> None:
        """``load_policy(sha256)`` returns the parsed policy blob, or None when it is missing or invalid."""
        self._load = load_policy
        self._policy_cache: dict[str, Policy | None] = {}
        self.seq = -1
        self.size = 0
        self.verdicts: dict[int, Verdict] = {}
        """Every governance event judged, by seq."""
        self.versions: dict[tuple[str, int], _Version] = {}
        self.deployments: dict[int, _Deployment] = {}
        self.policies: dict[str, PolicyInForce] = {}
        self.trail_policy: PolicyInForce | None = None
        self.key_chain: list[tuple[str, int]] = []
        """The checkpoint key chain: (verifier key, seq) of ``trail.initialized``, then of each admitted rotation."""
        self.reviewed: dict[str, int] = {}
        self.proposals: dict[int, PolicyProposal] = {}
        """Admitted ``policy.proposed`` events by seq (high-risk changes waiting for a second approver)."""
        self.lock = threading.RLock()
        self._execute: Execute | None = None

    # -- driving ---------------------------------------------------------------------------------

    def advance(self, execute: Execute, size: int | None = None) -> None:
        """Fold the watched events after :attr:`seq` (up to the ledger end, or seq ``size - 1``)."""
        with self.lock:
            self._execute = execute
            placeholders = ",".join("?" * len(WATCHED))
            sql = f"SELECT seq, leaf, leaf_hash FROM events WHERE seq > ? AND type IN ({placeholders})"
            args: list[Any] = [self.seq, *WATCHED]
            if size is not None:
                sql += " AND seq < ?"
                args.append(size)
            for _seq, leaf, leaf_hash in execute(sql + " ORDER BY seq", args):
                if leaf:  # governance types are never purged; an emptied one simply carries no decision
                    self.apply(Event.from_leaf(bytes(leaf), bytes(leaf_hash)))
            if size is None:
                row = execute("SELECT max(seq) FROM events", ())
                end = int(row[0][0]) if row and row[0][0] is not None else -1
            else:
                end = size - 1
            self.seq = max(self.seq, end)
            self.size = self.seq + 1

    def verdict(self, seq: int) -> Verdict | None:
        """The verdict of the governance event at ``seq`` (None when it is not one or not folded yet)."""
        return self.verdicts.get(seq)

    def apply(self, ev: Event) -> Verdict:
        """Judge ``ev`` from the current state, apply it when admissible, and remember the verdict."""
        handler = _HANDLERS.get(ev.type)
        try:
            v = handler(self, ev) if handler is not None else Verdict(ev.seq, ev.type, True)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:  # a malformed event takes no effect
            v = Verdict(ev.seq, ev.type, False, "malformed", f"malformed {ev.type}: {exc}")
        self.verdicts[ev.seq] = v
        self.seq = max(self.seq, ev.seq)
        return v

    # -- state helpers ---------------------------------------------------------------------------

    def policy_blob(self, sha256: str) -> Policy | None:
        """The parsed policy with this hash (cached), or None when the blob is missing or invalid."""
        if sha256 not in self._policy_cache:
            self._policy_cache[sha256] = self._load(sha256)
        return self._policy_cache[sha256]

    def policy_at(self, ev: Event) -> PolicyInForce | None:
        """The policy in force for ``ev``: the system's latest admitted registration.

        Without one (a trail run from a policy file that was never registered) the policy the event itself
        cites (``policy_sha256``) is used, so the rules are still checked against the text the operation
        applied; ``audit check`` reports that the policy was not registered.
        """
        pif = self.policies.get(ev.system)
        if pif is not None:
            return pif
        cited = _str(ev.payload.get("policy_sha256"))
        if cited is not None:
            pol = self.policy_blob(cited)
            if pol is not None:
                return PolicyInForce(cited, None, pol)
        return None

    def version(self, ev: Event) -> _Version | None:
        """The registered version an event's subject names (None when unknown)."""
        ref = _model_ref(ev.subject)
        if ref is None or ref[1] is None:
            return None
        return self.versions.get((ref[0], ref[1]))

    def effective(self, v: _Version, stage: str, policy: Policy | None) -> list[_Approval]:
        """The approvals of ``stage`` that count under ``policy``: active, required role, four-eyes, one each."""
        spec = policy.gate(stage).approvals if policy is not None else None
        if spec is None:
            return []
        seen: set[str] = set()
        out: list[_Approval] = []
        for a in v.approvals:
            if not a.active or a.stage != stage or a.role not in spec.roles or a.approver in seen:
                continue
            if spec.four_eyes and a.approver == v.registrant:
                continue
            seen.add(a.approver)
            out.append(a)
        return out

    def approvals_complete(self, v: _Version, stage: str, policy: Policy | None) -> bool:
        """Whether ``stage`` has the approvals its gate asks for (True when it asks for none)."""
        spec = policy.gate(stage).approvals if policy is not None else None
        return spec is None or len(self.effective(v, stage, policy)) >= spec.min

    def active_deployments(self, model: str, version: int | None, env: str | None, state: str) -> list[_Deployment]:
        """Deployments of ``model`` (``@version``) in ``env`` (any when None) in ``state``."""
        return [
            d
            for d in self.deployments.values()
            if d.model == model
            and (version is None or d.version == version)
            and (env is None or d.env == env)
            and d.state == state
        ]

    def deployed_at(self, model: str, version: int, env: str) -> bool:
        """Whether ``model@version`` is live in ``env`` now (at the replay's position)."""
        return bool(self.active_deployments(model, version, env, "live"))


def _no(ev: Event, rule: str, reason: str) -> Verdict:
    return Verdict(ev.seq, ev.type, False, rule, reason)


def _yes(ev: Event, **facts: Any) -> Verdict:
    return Verdict(ev.seq, ev.type, True, facts=facts)


def _initialized(r: Replay, ev: Event) -> Verdict:
    if ev.seq != 0:
        return _no(ev, "initialized", "trail.initialized is valid only as event 0")
    key = _str(ev.payload.get("verifier_key"))
    if key is None:
        return _no(ev, "malformed", "trail.initialized names no verifier_key")
    r.key_chain = [(key, 0)]
    return _yes(ev)


def _key_rotated(r: Replay, ev: Event) -> Verdict:
    pol = r.trail_policy.policy if r.trail_policy is not None else None
    roles = (getattr(pol.roles, "keys", ()) if pol is not None else ()) or (ADMIN_ROLE,)
    if r.trail_policy is not None and (why := _role_problem(pol, ev.actor, roles, "rotating the signing key")):
        return _no(ev, "role", why)
    old, new = _str(ev.payload.get("old_verifier_key")), _str(ev.payload.get("new_verifier_key"))
    if old is None or new is None:
        return _no(ev, "malformed", "key.rotated needs old_verifier_key and new_verifier_key")
    if not r.key_chain or old != r.key_chain[-1][0]:
        return _no(ev, "key_chain", "old_verifier_key is not the key in force (not chained from trail.initialized)")
    r.key_chain.append((new, ev.seq))
    return _yes(ev)


def _token(r: Replay, ev: Event) -> Verdict:
    if ev.type == "token.refused":
        return _yes(ev)
    pol = r.trail_policy.policy if r.trail_policy is not None else None
    roles = (getattr(pol.roles, "tokens", ()) if pol is not None else ()) or (ADMIN_ROLE,)
    if r.trail_policy is not None and (why := _role_problem(pol, ev.actor, roles, "managing API tokens")):
        return _no(ev, "role", why)
    return _yes(ev)


def _policy_text(r: Replay, ev: Event) -> tuple[str, Policy] | Verdict:
    """The cited policy blob of a registration or proposal, or the verdict refusing the event."""
    sha = _str(ev.payload.get("policy_sha256"))
    if sha is None:
        return _no(ev, "malformed", f"{ev.type} needs policy_sha256")
    new = r.policy_blob(sha)
    if new is None:
        return _no(ev, "policy_blob", f"the policy blob {sha} is missing or not a valid policy")
    if new.system != ev.system:
        return _no(ev, "policy_blob", f"the policy governs {new.system!r}, the event names {ev.system!r}")
    return sha, new


def _policy_proposed(r: Replay, ev: Event) -> Verdict:
    cited = _policy_text(r, ev)
    if isinstance(cited, Verdict):
        return cited
    sha, new = cited
    old = r.policies.get(ev.system)
    if old is None:
        return _no(ev, "state", f"{ev.system} has no policy in force to change; the first one is registered directly")
    why = _role_problem(old.policy, ev.actor, policy_roles(old.policy), "proposing a policy change")
    if why is not None:
        return _no(ev, "policy_role", why)
    path = ev.payload.get("path")
    where = path if isinstance(path, str) else None
    r.proposals[ev.seq] = PolicyProposal(ev.seq, ev.system, sha, ev.actor.id, new, where)
    return _yes(ev)


def _policy_registered(r: Replay, ev: Event) -> Verdict:
    cited = _policy_text(r, ev)
    if isinstance(cited, Verdict):
        return cited
    sha, new = cited
    old = r.policies.get(ev.system)
    prop: PolicyProposal | None = None
    if old is not None:
        why = _role_problem(old.policy, ev.actor, policy_roles(old.policy), "changing the policy")
        if why is not None:
            return _no(ev, "policy_role", why)
        if sha != old.sha256 and second_approver_needed(old.policy, new):
            pseq = ev.payload.get("proposal_seq")
            prop = r.proposals.get(pseq) if isinstance(pseq, int) and not isinstance(pseq, bool) else None
            if prop is None or prop.seq >= ev.seq:
                return _no(
                    ev,
                    "second_approver",
                    f"a change to the high-risk policy of {ev.system} needs a proposal and a second approver "
                    "(policy.proposed, then policy.registered citing it by proposal_seq)",
                )
            if prop.sha256 != sha or prop.system != ev.system:
                return _no(ev, "second_approver", f"the proposal in event {prop.seq} is for another policy text")
            why = proposal_problem(r, prop, ev.actor.id)
            if why is not None:
                return _no(ev, "second_approver", why)
    if prop is not None:
        prop.approved_in = ev.seq
    pif = PolicyInForce(sha, ev.seq, new)
    r.policies[ev.system] = pif
    r.trail_policy = pif
    return _yes(ev, proposal_seq=prop.seq if prop is not None else None)


def _registered(r: Replay, ev: Event) -> Verdict:
    ref = _model_ref(ev.subject)
    if ref is not None and ref[1] is not None and (ref[0], ref[1]) not in r.versions:
        registrant = _str(ev.payload.get("registrant")) or ev.actor.id
        r.versions[(ref[0], ref[1])] = _Version(ref[0], ref[1], ev.system, registrant, ev.seq)
    return _yes(ev)


def _gate(r: Replay, ev: Event) -> Verdict:
    v = r.version(ev)
    stage = _str(ev.payload.get("stage"))
    if v is None or stage is None:
        return _no(ev, "unknown_version", f"{ev.subject} is not a registered model version")
    if v.rejected or v.retired:
        return _no(ev, "state", f"{ev.subject} is {'rejected' if v.rejected else 'retired'}")
    pif = r.policy_at(ev)
    cited = _str(ev.payload.get("policy_sha256"))
    if pif is not None and pif.seq is not None and cited != pif.sha256:
        return _no(ev, "policy", f"the gate cites policy {cited}, but {pif.sha256} (event {pif.seq}) is in force")
    checks = ev.payload.get("checks")
    passed = ev.payload.get("passed") is True
    if passed and isinstance(checks, list):
        failed = [c for c in checks if isinstance(c, dict) and c.get("passed") is not True]
        if failed:
            return _no(ev, "gate_result", "the gate claims to pass although some of its checks failed")
    v.gates[stage] = (ev.seq, passed)
    return _yes(ev, passed=passed)


def _approved(r: Replay, ev: Event) -> Verdict:
    v = r.version(ev)
    stage = _str(ev.payload.get("stage"))
    if v is None or stage is None:
        return _no(ev, "unknown_version", f"{ev.subject} is not a registered model version")
    if (
        v.rejected
        or v.retired
        or (
            r.active_deployments(v.model, v.version, None, "suspended")
            and not r.active_deployments(v.model, v.version, None, "live")
        )
    ):
        return _no(ev, "state", f"{ev.subject} cannot be approved in its state")
    pif = r.policy_at(ev)
    policy = pif.policy if pif is not None else None
    spec = policy.gate(stage).approvals if policy is not None else None
    if policy is not None:
        if spec is None:
            return _no(ev, "role", f"the {stage} gate asks for no approvals")
        why = _role_problem(policy, ev.actor, spec.roles, f"approving {stage}")
        if why is not None:
            return _no(ev, "role", why)
        if spec.four_eyes and ev.actor.id == v.registrant:
            return _no(ev, "four_eyes", f"{ev.actor.id} registered {ev.subject} and cannot approve it")
    if any(a.active and a.stage == stage and a.approver == ev.actor.id for a in v.approvals):
        return _no(ev, "duplicate", f"{ev.actor.id} already approved {ev.subject} for {stage}")
    gate = v.gates.get(stage)
    if gate is None or not gate[1]:
        return _no(ev, "gate", f"the latest {stage} gate of {ev.subject} did not pass")
    gate_seq = ev.payload.get("gate_seq")
    if gate_seq is not None and gate_seq != gate[0]:
        return _no(ev, "gate", f"the approval cites gate event {gate_seq}, the latest is {gate[0]}")
    from .signing import SIGNATURE_FIELD, body_of, signature_problem

    bad_sig = signature_problem(policy, spec, ev.actor.id, body_of(ev), ev.payload.get(SIGNATURE_FIELD))
    if bad_sig is not None:
        return _no(ev, "signature", bad_sig)
    v.approvals.append(_Approval(ev.seq, stage, ev.actor.id, ev.actor.role))
    return _yes(ev, complete=r.approvals_complete(v, stage, policy))


def _revoked(r: Replay, ev: Event) -> Verdict:
    v = r.version(ev)
    stage = _str(ev.payload.get("stage"))
    aseq = ev.payload.get("approval_seq")
    if v is None or stage is None or not isinstance(aseq, int):
        return _no(ev, "malformed", "a revocation names a version, a stage and approval_seq")
    target = next((a for a in v.approvals if a.seq == aseq and a.active and a.stage == stage), None)
    if target is None:
        return _no(ev, "ref", f"event {aseq} is not an active {stage} approval of {ev.subject}")
    if target.approver != ev.actor.id:
        return _no(ev, "role", f"only {target.approver} may withdraw their approval in event {aseq}")
    target.active = False
    pif = r.policy_at(ev)
    return _yes(ev, complete=r.approvals_complete(v, stage, pif.policy if pif else None) and _has_spec(pif, stage))


def _has_spec(pif: PolicyInForce | None, stage: str) -> bool:
    return pif is not None and pif.policy.gate(stage).approvals is not None


def _rejected(r: Replay, ev: Event) -> Verdict:
    v = r.version(ev)
    stage = _str(ev.payload.get("stage")) or ""
    if v is None:
        return _no(ev, "unknown_version", f"{ev.subject} is not a registered model version")
    if v.rejected or v.retired:
        return _no(ev, "state", f"{ev.subject} is already {'rejected' if v.rejected else 'retired'}")
    if r.active_deployments(v.model, v.version, None, "live"):
        return _no(ev, "state", f"{ev.subject} is deployed; it cannot be rejected")
    pif = r.policy_at(ev)
    spec = pif.policy.gate(stage).approvals if pif is not None and stage else None
    if spec is not None and (why := _role_problem(pif.policy if pif else None, ev.actor, spec.roles, "rejecting")):
        return _no(ev, "role", why)
    if (bad := _person_signature(pif, spec, ev, "rejection")) is not None:
        return _no(ev, "signature", bad)
    v.rejected = True
    for d in r.active_deployments(v.model, v.version, None, "suspended"):
        d.state = "ended"
    return _yes(ev)


def _break_glass(r: Replay, ev: Event) -> Verdict:
    v = r.version(ev)
    if v is None:
        return _no(ev, "unknown_version", f"{ev.subject} is not a registered model version")
    pif = r.policy_at(ev)
    if pif is not None:
        if pif.policy.refuses_deployment:
            return _no(ev, "prohibited", f"the policy for {pif.policy.system} forbids deployment outright")
        why = _role_problem(pif.policy, ev.actor, pif.policy.roles.break_glass, "breaking glass")
        if why is not None:
            return _no(ev, "role", why)
    return _yes(ev)


def _deployed(r: Replay, ev: Event) -> Verdict:
    v = r.version(ev)
    env = _str(ev.payload.get("env"))
    traffic = ev.payload.get("traffic", 1.0)
    if v is None or env is None:
        return _no(ev, "unknown_version", f"{ev.subject} is not a registered model version")
    if isinstance(traffic, bool) or not isinstance(traffic, int | float) or not 0 < traffic <= 1:
        return _no(ev, "malformed", f"traffic {traffic!r} is not a share in (0, 1]")
    if v.rejected or v.retired:
        return _no(ev, "state", f"{ev.subject} is {'rejected' if v.rejected else 'retired'}")
    if r.active_deployments(v.model, v.version, env, "suspended"):
        return _no(ev, "state", f"{ev.subject} is suspended in {env}; it must be resumed, not redeployed")
    stage = _str(ev.payload.get("stage")) or env
    pif = r.policy_at(ev)
    policy = pif.policy if pif is not None else None
    gate = v.gates.get(stage)
    problems = []
    if gate is None or not gate[1]:
        problems.append(f"no passed {stage} gate")
    if not r.approvals_complete(v, stage, policy):
        problems.append(f"{stage} approvals incomplete")
    forced = ev.payload.get("break_glass") is True
    if problems:
        if not forced:
            return _no(ev, "deploy_unapproved", f"{ev.subject} deployed to {env} with {' and '.join(problems)}")
        bg = [
            int(ref[6:]) for ref in ev.refs if ref.startswith("event:") and ref[6:].isdigit() and int(ref[6:]) < ev.seq
        ]
        ok = any((bv := r.verdicts.get(s)) is not None and bv.type == "model.break_glass" and bv.admitted for s in bg)
        if not ok:
            return _no(ev, "break_glass", f"a forced deployment of {ev.subject} cites no admitted model.break_glass")
    spec = policy.gates[stage].approvals if policy is not None and stage in policy.gates else None
    if (bad := _person_signature(pif, spec, ev, "deployment")) is not None:
        return _no(ev, "signature", bad)
    for d in r.active_deployments(v.model, v.version, env, "live"):
        d.state = "ended"
    if float(traffic) >= 1.0 and ev.payload.get("mode") != "shadow":
        # A shadow runs beside the live version: it replaces nothing.
        for d in [
            *r.active_deployments(v.model, None, env, "live"),
            *r.active_deployments(v.model, None, env, "suspended"),
        ]:
            if d.version != v.version:
                d.state = "ended"
    r.deployments[ev.seq] = _Deployment(ev.seq, v.model, v.version, env, float(traffic), stage, "live", forced)
    return _yes(ev, break_glass=forced and bool(problems))


def _person_signature(pif: PolicyInForce | None, spec: Any, ev: Event, what: str) -> str | None:
    """Why a person's signature on ``ev`` makes it not count, where the stage says ``signed: required``
    (or a signature is present). Services and the system sign nothing: the rule is about people."""
    from .signing import SIGNATURE_FIELD, signature_problem, signed_body_of

    signature = ev.payload.get(SIGNATURE_FIELD)
    if ev.actor.kind != "human" and signature is None:
        return None
    body = signed_body_of(ev)
    if body is None:
        return None
    policy = pif.policy if pif is not None else None
    return signature_problem(policy, spec, ev.actor.id, body, signature, what)


def _kill_switch(r: Replay, ev: Event) -> Verdict:
    ref = _model_ref(ev.subject)
    if ref is None:
        return _no(ev, "malformed", f"{ev.subject} does not name a model")
    pif = r.policy_at(ev)
    suspending = ev.type == "model.suspended"
    if pif is not None:
        roles = pif.policy.roles.suspend if suspending else pif.policy.roles.resume
        why = _role_problem(pif.policy, ev.actor, roles, "suspending" if suspending else "resuming")
        if why is not None:
            return _no(ev, "role", why)
    env = _str(ev.payload.get("env"))
    env = None if env == "*" else env
    for d in r.active_deployments(ref[0], ref[1], env, "live" if suspending else "suspended"):
        d.state = "suspended" if suspending else "live"
    return _yes(ev)


def _retired(r: Replay, ev: Event) -> Verdict:
    v = r.version(ev)
    if v is None:
        return _no(ev, "unknown_version", f"{ev.subject} is not a registered model version")
    if v.rejected or v.retired:
        return _no(ev, "state", f"{ev.subject} is already {'rejected' if v.rejected else 'retired'}")
    pif = r.policy_at(ev)
    if pif is not None:
        roles = list(pif.policy.roles.suspend)
        for g in pif.policy.gates.values():
            if g.approvals is not None:
                roles += [x for x in g.approvals.roles if x not in roles]
        if roles and (why := _role_problem(pif.policy, ev.actor, roles, "retiring")):
            return _no(ev, "role", why)
    env = _str(ev.payload.get("env"))
    active = [
        *r.active_deployments(v.model, v.version, env, "live"),
        *r.active_deployments(v.model, v.version, env, "suspended"),
    ]
    if env is not None and not active:
        return _no(ev, "state", f"{ev.subject} is not deployed in {env}")
    for d in active:
        d.state = "ended"
    remaining = r.active_deployments(v.model, v.version, None, "live") + r.active_deployments(
        v.model, v.version, None, "suspended"
    )
    if env is None or not remaining:
        v.retired = True
    return _yes(ev)


def _reviewed(r: Replay, ev: Event) -> Verdict:
    did = _str(ev.payload.get("decision_id"))
    if did is None:
        return _no(ev, "malformed", "a review names no decision_id")
    if ev.actor.kind != "human":
        return _no(ev, "human", f"{ev.actor.id} is a {ev.actor.kind} actor; only a human may review")
    if did in r.reviewed:
        return _no(ev, "duplicate", f"decision {did} was already reviewed in event {r.reviewed[did]}")
    if ev.type == "oversight.overridden":
        pif = r.policy_at(ev)
        spec = pif.policy.oversight if pif is not None else None
        if (bad := _person_signature(pif, spec, ev, "override")) is not None:
            return _no(ev, "signature", bad)
    if r._execute is not None:
        row = r._execute(
            "SELECT seq FROM events WHERE subject = ? AND type = 'inference.decision' AND seq < ? ORDER BY seq LIMIT 1",
            (f"decision:{did}", ev.seq),
        )
        if not row:
            return _no(ev, "ref", f"no decision {did} before event {ev.seq}")
    r.reviewed[did] = ev.seq
    return _yes(ev)


def _revealed(r: Replay, ev: Event) -> Verdict:
    pif = r.policy_at(ev)
    if ev.actor.kind != "human":
        return _no(ev, "human", "only a human may reveal sealed data")
    if pif is not None and (why := _role_problem(pif.policy, ev.actor, pif.policy.roles.reveal, "revealing")):
        return _no(ev, "role", why)
    return _yes(ev)


def _informational(r: Replay, ev: Event) -> Verdict:
    return _yes(ev)


_HANDLERS: dict[str, Callable[[Replay, Event], Verdict]] = {
    "trail.initialized": _initialized,
    "key.rotated": _key_rotated,
    "token.created": _token,
    "token.revoked": _token,
    "policy.registered": _policy_registered,
    "policy.proposed": _policy_proposed,
    "model.registered": _registered,
    "model.imported": _registered,
    "gate.evaluated": _gate,
    "model.approved": _approved,
    "model.approval_revoked": _revoked,
    "model.rejected": _rejected,
    "model.break_glass": _break_glass,
    "model.deployed": _deployed,
    "model.suspended": _kill_switch,
    "model.resumed": _kill_switch,
    "model.retired": _retired,
    "oversight.reviewed": _reviewed,
    "oversight.overridden": _reviewed,
    "oversight.revealed": _revealed,
}


# ----------------------------------------------------------------------------------- per trail


_replays: weakref.WeakKeyDictionary[Trail, Replay] = weakref.WeakKeyDictionary()
_replays_lock = threading.Lock()


def policy_loader(trail: Trail) -> Callable[[str], Policy | None]:
    """A loader of policy blobs from ``trail``'s blob store for :class:`Replay` (None: missing or invalid)."""
    ref = weakref.ref(trail)

    def load(sha256: str) -> Policy | None:
        from ..policy import parse_policy

        t = ref()
        if t is None:
            return None
        try:
            text = t.blobs.get_bytes(sha256).decode("utf-8")
            return parse_policy(text, f"policy blob {sha256[:12]}")
        except (ModeltrailError, UnicodeDecodeError, OSError):
            return None

    return load


def replay_for(trail: Trail, execute: Execute | None = None) -> Replay:
    """The trail's governance replay, advanced to the ledger end (cached per open trail).

    ``execute`` reads the ledger (the projection's connection inside its lock; default the trail's store).
    A ledger that shrank (a rollback) resets the replay.
    """
    with _replays_lock:
        r = _replays.get(trail)
        if r is None:
            r = Replay(policy_loader(trail))
            _replays[trail] = r
    run: Execute = execute if execute is not None else trail.store.execute
    with r.lock:
        size = trail.store.size() if execute is None else None
        if size is not None and size < r.size:
            r = Replay(policy_loader(trail))
            with _replays_lock:
                _replays[trail] = r
        r.advance(run)
    return r


def fresh_replay(trail: Trail) -> Replay:
    """A replay of the whole ledger from event 0, not cached (what ``audit check`` uses)."""
    r = Replay(policy_loader(trail))
    r.advance(trail.store.execute)
    return r


def admitted_in_fold(db: Db, ev: Event) -> Verdict | None:
    """The verdict of ``ev`` for a projection fold (None when the fold runs outside a trail's catch-up).

    A fold only has the projection's connection; the trail (whose blob store holds the policies) comes from
    :data:`CURRENT_TRAIL`, which :func:`modeltrail.projections.catch_up` sets.
    """
    trail = CURRENT_TRAIL.get()
    if trail is None:
        return None
    r = replay_for(trail, db.execute)
    return r.verdict(ev.seq)


__all__ = [
    "CURRENT_TRAIL",
    "DEFAULT_POLICY_ROLE",
    "HIGH_RISK",
    "WATCHED",
    "PolicyInForce",
    "PolicyProposal",
    "Replay",
    "Verdict",
    "admitted_in_fold",
    "fresh_replay",
    "policy_loader",
    "policy_roles",
    "proposal_problem",
    "replay_for",
    "second_approver_needed",
]
