"""Policies kept in the trail: the YAML text as a blob, its registration as a ``policy.registered`` event.

The policy in force for a system is the one of the latest ``policy.registered`` event for that system, so
every gate evaluation and approval can cite the exact text (by hash) it was judged under. Without one,
the trail config's ``policy`` path (relative to the trail's parent folder) is used.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import NotFoundError, PolicyError
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


def register_policy(
    trail: Trail, path_or_text: str | os.PathLike[str], *, actor: Actor | Identity
) -> tuple[Policy, Receipt]:
    """Validate a policy (a file path or the YAML text), store it as a blob and record ``policy.registered``.

    Raises :class:`~modeltrail.errors.PolicyError` (with file, line and field) for an invalid policy; nothing
    is recorded then.
    """
    if _looks_like_path(path_or_text):
        p = Path(path_or_text)
        try:
            text = p.read_text(encoding="utf-8")
        except OSError as exc:
            raise PolicyError(f"{p}: cannot read policy file: {exc.strerror or exc}") from exc
        source: str | None = str(p)
    else:
        text, source = str(path_or_text), None
    policy = parse_policy(text, source or "<policy>")
    who = _policy_changer(trail, policy.system, actor)
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


__all__ = ["StoredPolicy", "adopt_policy", "current_policy", "register_policy", "stored_policy"]
