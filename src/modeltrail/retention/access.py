"""Who may forget, hold and reveal: the policy's roles for the retention operations, refusals recorded.

The roles come from the trail-wide policy (``roles.retention``, ``roles.erasure``, ``roles.holds``,
``roles.subject_access``); where the policy lists none, the defaults below apply, so a trail without a
roles section still has somebody who may act, and it is never the data scientist. A refusal is itself a
ledger event (the action, who tried, why) before :class:`PermissionDeniedError` is raised.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..errors import PermissionDeniedError
from ..events import Actor
from ..governance.namespace import record_governed
from ..identity import DEFAULT_ROLE, Identity, identity_from_actor
from ..registry.policy_store import policy_or_none

if TYPE_CHECKING:
    from ..trail import Trail

#: Action -> roles that may perform it when the policy's ``roles.<action>`` is empty.
DEFAULT_ROLES: Mapping[str, tuple[str, ...]] = {
    "retention": ("compliance", "dpo"),
    "erasure": ("dpo", "compliance"),
    "holds": ("legal", "compliance"),
    "subject_access": ("dpo", "compliance"),
}


def allowed_roles(trail: Trail, action: str) -> tuple[str, ...]:
    """The roles that may perform ``action`` under the trail's policy (or :data:`DEFAULT_ROLES`)."""
    policy = policy_or_none(trail)
    listed: tuple[str, ...] = getattr(policy.roles, action, ()) if policy is not None else ()
    return listed or DEFAULT_ROLES[action]


def authorise(
    trail: Trail,
    actor: Actor | Identity,
    *,
    action: str,
    what: str,
    refused_type: str,
    payload: Mapping[str, Any],
    system: str = "modeltrail",
) -> Actor:
    """The actor performing ``action`` in an allowed role, or a recorded ``refused_type`` and PermissionDeniedError.

    ``what`` completes "``<user> may not …``"; ``payload`` (never a person's identifier) goes into the
    refusal event with the reason.
    """
    policy = policy_or_none(trail)
    allowed = allowed_roles(trail, action)
    try:
        ident = identity_from_actor(actor, policy)
        role = ident.role_for(allowed)
        if role is None:
            raise PermissionDeniedError(
                f"{ident.user_id} may not {what}: that needs one of the roles {', '.join(allowed)}"
            )
    except PermissionDeniedError as exc:
        if isinstance(actor, Identity):
            who = actor.acting_as() if actor.roles else Actor(actor.user_id, DEFAULT_ROLE, actor.kind)
        else:
            who = actor
        record_governed(trail, refused_type, system=system, actor=who, payload={**payload, "reason": str(exc)})
        raise
    return ident.acting_as(role)


__all__ = ["DEFAULT_ROLES", "allowed_roles", "authorise"]
