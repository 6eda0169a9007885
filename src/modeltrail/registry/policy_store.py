"""Policies kept in the trail: the YAML text as a blob, its registration as a ``policy.registered`` event.

The policy in force for a system is the one of the latest ``policy.registered`` event for that system, so
every gate evaluation and approval can cite the exact text (by hash) it was judged under. Without one,
the trail config's ``policy`` path (relative to the trail's parent folder) is used.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ApprovalError, NotFoundError, PolicyError
from ..events import Actor, Receipt
from ..governance.namespace import record_governed
from ..identity import Identity, acting_actor, identity_from_actor
from ..policy import Policy, parse_policy

if TYPE_CHECKING:
    from ..trail import Trail


@dataclass(frozen=True)
class StoredPolicy:
    """A policy with the hash of the exact YAML it was parsed from and the registering event, if any."""

    policy: Policy
    sha256: str
    seq: int | None
    """The ``policy.registered`` event; None for a policy from the config file or passed in directly."""


def _looks_like_path(value: str | os.PathLike[str]) -> bool:
    if isinstance(value, os.PathLike):
        return True
    return "\n" not in value and len(value) < 4096 and Path(value).is_file()


def _read_policy(path_or_text: str | os.PathLike[str]) -> tuple[Policy, str, str | None]:
    """The validated policy, its exact text and its file path (None for text passed in)."""
    if _looks_like_path(path_or_text):
        p = Path(path_or_text)
        try:
            text = p.read_text(encoding="utf-8")
        except OSError as exc:
            raise PolicyError(f"{p}: cannot read policy file: {exc.strerror or exc}") from exc
        source: str | None = str(p)
    else:
        text, source = str(path_or_text), None
    return parse_policy(text, source or "<policy>"), text, source


def needs_second_approver(trail: Trail, policy: Policy, text: str | None = None) -> bool:
    """Whether registering ``policy`` needs a second person: it replaces a policy and either is high-risk.

    The first registration of a system has no policy to ask and stays a single step, and so does
    registering again the exact text in force (``text``, when given). A change that loosens a high-risk
    system's gates, or downgrades its tier, is exactly what one person must not do alone.
    """
    from ..governance.rules import replay_for, second_approver_needed

    replay = replay_for(trail)
    with replay.lock:
        pif = replay.policies.get(policy.system)
    if pif is None or (text is not None and hashlib.sha256(text.encode()).hexdigest() == pif.sha256):
        return False
    return second_approver_needed(pif.policy, policy)


def register_policy(
    trail: Trail, path_or_text: str | os.PathLike[str], *, actor: Actor | Identity
) -> tuple[Policy, Receipt]:
    """Validate a policy (a file path or the YAML text), store it as a blob and record ``policy.registered``.

    Raises :class:`~modeltrail.errors.PolicyError` (with file, line and field) for an invalid policy; nothing
    is recorded then. A change to a high-risk system's policy needs a second approver: this raises
    :class:`~modeltrail.errors.ApprovalError` then, naming :func:`propose_policy` and :func:`approve_policy`.
    """
    policy, text, source = _read_policy(path_or_text)
    who = _policy_changer(trail, policy.system, actor)
    if needs_second_approver(trail, policy, text):
        raise ApprovalError(
            f"the policy of {policy.system} is high-risk: a change takes effect only when a second person with "
            "the policy role approves it; propose it (`modeltrail policy set FILE` proposes; "
            "`modeltrail policy approve SEQ` approves)"
        )
    digest = trail.blobs.put_bytes(text.encode())
    receipt = record_governed(
        trail,
        "policy.registered",
        system=policy.system,
        actor=who,
        subject=f"system:{policy.system}",
        payload={"policy_sha256": digest, "path": source, "system": policy.system, "risk_tier": policy.risk_tier},
        refs=[f"blob:sha256:{digest}"],
    )
    return policy, receipt


def propose_policy(
    trail: Trail, path_or_text: str | os.PathLike[str], *, actor: Actor | Identity
) -> tuple[Policy, Receipt]:
    """Record ``policy.proposed``: a change to a system's policy that takes effect once a second person
    with the policy role approves it (:func:`approve_policy`). The proposer needs the policy role too.

    The text is validated and stored first (a proposal names a blob that exists and parses). Raises
    :class:`~modeltrail.errors.NotFoundError` when the system has no policy yet (register the first one
    with :func:`register_policy`).
    """
    policy, text, source = _read_policy(path_or_text)
    from ..governance.rules import replay_for

    replay = replay_for(trail)
    with replay.lock:
        in_force = replay.policies.get(policy.system)
    if in_force is None:
        raise NotFoundError(f"{policy.system} has no policy yet: register the first one with `modeltrail policy set`")
    who = _policy_changer(trail, policy.system, actor)
    digest = trail.blobs.put_bytes(text.encode())
    receipt = record_governed(
        trail,
        "policy.proposed",
        system=policy.system,
        actor=who,
        subject=f"system:{policy.system}",
        payload={
            "policy_sha256": digest,
            "path": source,
            "system": policy.system,
            "risk_tier": policy.risk_tier,
            "replaces": in_force.sha256,
        },
        refs=[f"blob:sha256:{digest}", *([f"event:{in_force.seq}"] if in_force.seq is not None else [])],
    )
    return policy, receipt


def approve_policy(trail: Trail, proposal_seq: int, *, actor: Actor | Identity) -> tuple[Policy, Receipt]:
    """Approve the proposal in event ``proposal_seq``: record ``policy.registered`` by the second person.

    Checked here as on replay: the proposal was admitted, is still current (no other policy took effect
    since), was not approved already, and the approver holds the policy role and is not the proposer.
    Raises :class:`~modeltrail.errors.ApprovalError` or :class:`PermissionDeniedError` otherwise.
    """
    from ..governance.rules import proposal_problem, replay_for

    replay = replay_for(trail)
    with replay.lock:
        prop = replay.proposals.get(proposal_seq)
    if prop is None:
        raise NotFoundError(f"event {proposal_seq} is not an admitted policy.proposed")
    who = _policy_changer(trail, prop.system, actor)
    with replay.lock:
        why = proposal_problem(replay, prop, who.id)
    if why is not None:
        raise ApprovalError(why)
    receipt = record_governed(
        trail,
        "policy.registered",
        system=prop.system,
        actor=who,
        subject=f"system:{prop.system}",
        payload={
            "policy_sha256": prop.sha256,
            "path": prop.path,
            "system": prop.system,
            "risk_tier": prop.policy.risk_tier,
            "proposal_seq": proposal_seq,
            "proposed_by": prop.proposer,
        },
        refs=[f"blob:sha256:{prop.sha256}", f"event:{proposal_seq}"],
    )
    return prop.policy, receipt


def _policy_changer(trail: Trail, system: str, actor: Actor | Identity) -> Actor:
    """The actor registering a policy for ``system``: anyone for the first one, then ``roles.policy`` only.

    The roles come from the policy in force (default ``compliance``): a data scientist cannot loosen the
    gates that judge their own models. The first registration of a system has no policy to ask; it is on the
    record with its actor like every other.
    """
    from ..governance.rules import policy_roles, replay_for

    replay = replay_for(trail)
    with replay.lock:
        pif = replay.policies.get(system)
    if pif is None:
        return acting_actor(actor)
    in_force = pif.policy
    ident = identity_from_actor(actor, in_force)
    return ident.actor_for(policy_roles(in_force), f"change the policy of {system}")


def stored_policy(trail: Trail, system: str | None = None) -> StoredPolicy:
    """The policy in force for ``system`` (any system when None), with its hash and registering event.

    Raises :class:`~modeltrail.errors.NotFoundError` when no policy is registered and the config names none.
    """
    # The latest registration the governance rules admit (a policy.registered appended around the library,
    # by someone without the policy role or naming a missing blob, is not in force).
    from ..governance.rules import replay_for

    replay = replay_for(trail)
    with replay.lock:
        pif = replay.trail_policy if system is None else replay.policies.get(system)
    if pif is not None and pif.seq is not None:
        return StoredPolicy(pif.policy, pif.sha256, pif.seq)
    if trail.config.policy:
        path = Path(trail.config.policy)
        if not path.is_absolute():
            path = trail.root / path
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise PolicyError(f"{path}: cannot read the policy file named in config.json: {exc}") from exc
        policy = parse_policy(data.decode("utf-8"), str(path))
        if system is None or policy.system == system:
            # Kept as a blob too, so that a gate evaluated under it can cite text that stays retrievable.
            return StoredPolicy(policy, trail.blobs.put_bytes(data), None)
    where = f" for system {system!r}" if system else ""
    raise NotFoundError(f"no policy registered{where}: run `modeltrail policy set FILE`")


def current_policy(trail: Trail, system: str | None = None) -> Policy:
    """The policy in force for ``system`` (see :func:`stored_policy`)."""
    return stored_policy(trail, system).policy


def policy_or_none(trail: Trail, system: str | None = None) -> Policy | None:
    """The policy in force for ``system`` (any system when None), or None when there is none."""
    try:
        return current_policy(trail, system)
    except NotFoundError:
        return None


def adopt_policy(trail: Trail, policy: Policy) -> StoredPolicy:
    """Wrap a policy passed in by a caller: its YAML form is stored as a blob so a gate can cite it."""
    digest = trail.blobs.put_bytes(policy.to_yaml().encode())
    return StoredPolicy(policy, digest, None)


__all__ = [
    "StoredPolicy",
    "adopt_policy",
    "approve_policy",
    "current_policy",
    "needs_second_approver",
    "propose_policy",
    "register_policy",
    "stored_policy",
]
