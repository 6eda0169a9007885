"""Who is acting: identities from API tokens, the environment or the trail config, and their roles.

An :class:`Identity` is a person (or service) and every role the policy grants them. An action accepts some
roles (the approver roles of a gate, the ``suspend`` roles, ...); :meth:`Identity.acting_as` turns the
identity into the :class:`~modeltrail.events.Actor` recorded on the event, carrying the one role the action
relied on.

Resolution order in :func:`resolve_identity`:

1. an API token (argument or ``$MODELTRAIL_TOKEN``): tokens are random, shown once by
   :func:`create_token`, and stored only as their SHA-256 in ``keys/tokens.json`` (mode 0600);
2. ``$MODELTRAIL_USER``;
3. ``user`` in the trail's ``config.json``.

``as_user`` (the CLI's ``--as``) replaces all of that, and only when the policy says
``allow_impersonation: true`` (tests and demos).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import re
import secrets
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import NotFoundError, PermissionDeniedError, ValidationError
from .events import Actor, format_ts, parse_ts
from .governance.namespace import record_governed

if TYPE_CHECKING:
    from .policy import Policy
    from .trail import Trail

TOKENS_FILE = "tokens.json"
TOKEN_PREFIX = "mt_"
DEFAULT_ROLE = "user"
"""The role recorded for a person the policy grants no role (they may still run unprivileged commands)."""

_USER_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@\-]{0,199}")
_ROLE_RE = re.compile(r"[a-z][a-z0-9_\-]{0,63}")
_TOKEN_RE = re.compile(r"mt_([0-9a-f]{16})_[A-Za-z0-9_\-]{43}")


@dataclass(frozen=True)
class Identity:
    """A resolved person or service: their id, every role they hold, and where the identity came from."""

    user_id: str
    roles: tuple[str, ...]
    kind: str = "human"
    source: str = "config"
    """``token``, ``env``, ``config``, ``impersonation``, ``os`` (the login name) or ``actor`` (an Actor)."""
    fallback_role: str = DEFAULT_ROLE

    @property
    def primary_role(self) -> str:
        """The role recorded for actions that accept anybody: the first held role, else the fallback."""
        return self.roles[0] if self.roles else self.fallback_role

    def role_for(self, accepted: Iterable[str]) -> str | None:
        """The first of this identity's roles that ``accepted`` contains, or None."""
        allowed = set(accepted)
        return next((r for r in self.roles if r in allowed), None)

    def acting_as(self, role: str | None = None) -> Actor:
        """The event actor for this identity acting in ``role`` (default: :attr:`primary_role`).

        Raises :class:`PermissionDeniedError` when the identity does not hold ``role``.
        """
        if role is None:
            return Actor(self.user_id, self.primary_role, self.kind)
        if role not in self.roles:
            held = ", ".join(self.roles) or "none"
            raise PermissionDeniedError(f"{self.user_id} does not hold the role {role!r} (roles: {held})")
        return Actor(self.user_id, role, self.kind)

    def actor_for(self, accepted: Iterable[str], action: str) -> Actor:
        """The actor for an ``action`` that only ``accepted`` roles may perform.

        Raises :class:`PermissionDeniedError` naming the action, the roles it needs and the roles held.
        """
        wanted = tuple(accepted)
        role = self.role_for(wanted)
        if role is None:
            need = ", ".join(wanted) or "nobody (the policy grants it to no role)"
            held = ", ".join(self.roles) or "none"
            raise PermissionDeniedError(
                f"{self.user_id} may not {action}: it needs one of the roles {need}; {self.user_id} holds {held}"
            )
        return Actor(self.user_id, role, self.kind)


def identity_for_user(
    user_id: str,
    policy: Policy | None,
    *,
    kind: str = "human",
    source: str = "config",
    fallback_role: str | None = None,
) -> Identity:
    """The identity of ``user_id`` with the roles ``policy.users`` grants (none if the policy omits them)."""
    if not isinstance(user_id, str) or not _USER_RE.fullmatch(user_id):
        raise ValidationError(f"expected a user id of letters, digits, . _ @ -, got {user_id!r}", field="user")
    roles: tuple[str, ...] = ()
    if policy is not None and user_id in policy.users:
        roles = tuple(policy.users[user_id].roles)
    fallback = fallback_role if fallback_role and _ROLE_RE.fullmatch(fallback_role) else DEFAULT_ROLE
    return Identity(user_id, roles, kind, source, fallback)


def acting_actor(actor: Actor | Identity | Mapping[str, str]) -> Actor:
    """The :class:`Actor` an event records for ``actor``.

    An :class:`Identity` acts in its role (:meth:`Identity.acting_as`), an :class:`Actor` is taken as
    is, and a mapping must be ``{id, role[, kind]}`` (ValidationError naming ``actor`` otherwise).
    """
    if isinstance(actor, Identity):
        return actor.acting_as()
    if isinstance(actor, Actor):
        return actor
    if isinstance(actor, Mapping):
        unknown = set(actor) - {"id", "role", "kind"}
        if unknown or "id" not in actor or "role" not in actor:
            raise ValidationError(
                "expected {id, role[, kind]}" + (f"; unknown keys {sorted(unknown)}" if unknown else ""), field="actor"
            )
        return Actor(actor["id"], actor["role"], actor.get("kind", "human"))
    raise ValidationError(
        f"expected an Actor, an Identity or {{id, role[, kind]}}, got {type(actor).__name__}", field="actor"
    )


def identity_from_actor(actor: Actor | Identity, policy: Policy | None) -> Identity:
    """Normalise what a library caller passes as ``actor`` into an :class:`Identity`.

    An :class:`Identity` is returned as is. An :class:`Actor` claims one role; when the policy lists users,
    the claim is checked against them (so a library caller cannot approve under a role the policy does not
    grant), and the identity then holds just that role.
    """
    if isinstance(actor, Identity):
        return actor
    if not isinstance(actor, Actor):
        raise ValidationError(f"expected an Actor or an Identity, got {type(actor).__name__}", field="actor")
    if policy is not None and policy.users:
        user = policy.users.get(actor.id)
        if user is None:
            raise PermissionDeniedError(f"{actor.id} is not a user of the policy for {policy.system}")
        if actor.role not in user.roles and actor.role != DEFAULT_ROLE:
            held = ", ".join(user.roles) or "none"
            raise PermissionDeniedError(
                f"{actor.id} claims the role {actor.role!r}, which the policy does not grant (roles: {held})"
            )
    roles = () if actor.role == DEFAULT_ROLE else (actor.role,)
    return Identity(actor.id, roles, actor.kind, "actor")


# ------------------------------------------------------------------------------------------- tokens


def _tokens_path(trail: Trail) -> Path:
    return Path(trail.keys_dir) / TOKENS_FILE


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Serialise read-modify-write of the token file across processes (POSIX advisory lock)."""
    lock = path.with_suffix(".lock")
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX)
        except ImportError:  # Windows: a single writer is the documented expectation there
            pass
        yield
    finally:
        os.close(fd)


def _read_tokens(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    mode = path.stat().st_mode & 0o077
    if mode and os.name != "nt":
        raise PermissionDeniedError(f"{path} is readable by other users; run `chmod 600 {path}`")
    data = json.loads(path.read_text(encoding="utf-8"))
    tokens = data.get("tokens", []) if isinstance(data, dict) else []
    return [t for t in tokens if isinstance(t, dict)]


def _write_tokens(path: Path, tokens: list[dict[str, Any]]) -> None:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    # Created 0600 from the start: the file never exists with wider permissions.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump({"format": "modeltrail-tokens/1", "tokens": tokens}, fh, indent=2, sort_keys=True)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


ADMIN_ROLE = "admin"
"""The role that manages trail-wide things (API tokens, signing keys) when the policy names no other."""


def _trail_policy(trail: Trail) -> Policy | None:
    """The policy in force for the trail as a whole (None when there is none)."""
    from .registry.policy_store import policy_or_none  # the registry builds on this module

    return policy_or_none(trail)


def admin_roles(policy: Policy | None, action: str) -> tuple[str, ...]:
    """The roles that may perform the trail-wide ``action`` (``tokens`` or ``keys``).

    The policy's ``roles.<action>`` when it lists any, else ``admin``: unlike the model actions, an empty
    list does not mean "nobody", because a trail must always be able to manage its tokens and keys.
    """
    allowed: tuple[str, ...] = getattr(policy.roles, action, ()) if policy is not None else ()
    return allowed or (ADMIN_ROLE,)


def _authorise(
    trail: Trail,
    actor: Actor | Identity,
    *,
    action: str,
    what: str,
    refused_type: str,
    subject: str | None,
    payload: dict[str, Any],
) -> Actor:
    """The actor for a trail-wide privileged ``action``, or a recorded refusal and PermissionDeniedError.

    The roles come from the policy's users (or, without a policy, from what a library caller's
    :class:`Actor` claims); ``what`` completes "``<user> may not …``" in the refusal. A refusal is recorded
    as ``refused_type`` (``payload`` plus ``reason``) before it is raised.
    """
    policy = _trail_policy(trail)
    allowed = admin_roles(policy, action)
    claimed = actor.acting_as() if isinstance(actor, Identity) and actor.roles else actor
    try:
        ident = identity_from_actor(actor, policy)
        role = ident.role_for(allowed)
        if role is None:
            raise PermissionDeniedError(
                f"{ident.user_id} may not {what}: that needs one of the roles {', '.join(allowed)}"
            )
    except PermissionDeniedError as exc:
        who = claimed if isinstance(claimed, Actor) else Actor(claimed.user_id, DEFAULT_ROLE, claimed.kind)
        record_governed(
            trail,
            refused_type,
            system="modeltrail",
            actor=who,
            subject=subject,
            payload={**payload, "reason": str(exc)},
        )
        raise
    return ident.acting_as(role)


def _token_admin(trail: Trail, actor: Actor | Identity, action: str, user: str | None) -> Actor:
    """The actor managing tokens, if the policy lets them (``roles.tokens``; without one: ``admin``).

    A token carries its user's roles, so minting one is as privileged as acting as that user: a refusal
    is recorded (``token.refused``) before it is raised.
    """
    return _authorise(
        trail,
        actor,
        action="tokens",
        what=f"{action} API tokens",
        refused_type="token.refused",
        subject=f"user:{user}" if user else None,
        payload={"action": action, "user": user},
    )


def key_admin(trail: Trail, actor: Actor | Identity) -> Actor:
    """The actor rotating the trail's signing key, if the policy lets them (``roles.keys``; else ``admin``).

    Mirrors token management: the roles come from the policy in force (an :class:`Actor`'s claimed role
    is checked against the policy's users; without a policy the claim stands). A refusal is recorded as
    ``key.rotation_refused`` before :class:`PermissionDeniedError` is raised.
    """
    return _authorise(
        trail,
        actor,
        action="keys",
        what="rotate the signing key",
        refused_type="key.rotation_refused",
        subject=None,
        payload={"action": "rotate"},
    )


def local_identity(trail: Trail, *, as_user: str | None = None) -> Identity:
    """Who manages trail-wide things (tokens, keys) from a shell: the resolved identity, else the login name.

    With ``as_user``, an API token, ``$MODELTRAIL_USER`` or a configured ``user`` this is
    :func:`resolve_identity` under the trail's policy; otherwise the operating-system login name, holding
    no roles (so it is refused wherever a role is needed, and the refusal records who tried).
    """
    if as_user or os.environ.get("MODELTRAIL_TOKEN") or os.environ.get("MODELTRAIL_USER") or trail.config.user:
        return resolve_identity(trail, _trail_policy(trail), as_user=as_user)
    import getpass

    return Identity(getpass.getuser(), (), "human", "os", DEFAULT_ROLE)


def token_expiry(text: str, now: datetime | None = None) -> datetime:
    """When a token given ``--expires TEXT`` stops working: a duration (``30d``, ``12h``, ``2w``, ``P90D``,
    ``P1Y``) from ``now``, or an ISO 8601 time (``2027-01-31T00:00:00Z``). :class:`ValidationError` otherwise."""
    from .policy.duration import parse_duration
    from .policy.model import window_seconds

    now = now or datetime.now(UTC)
    text = text.strip()
    try:
        if text[:1].isdigit() and text[-1:] in "mhdw" and text[:-1].isdigit():
            when = now + timedelta(seconds=window_seconds(text))
        elif text[:1] in ("P", "p"):
            when = parse_duration(text.upper()).add_to(now)
        else:
            when = parse_ts(text, "expires")
    except (ValueError, ValidationError) as exc:
        raise ValidationError(
            f"expected a duration such as 30d, 12h or P90D, or an ISO 8601 time: {exc}", field="expires"
        ) from None
    if when <= now:
        raise ValidationError("the expiry must be in the future", field="expires")
    return when


def create_token(
    trail: Trail, user: str, actor: Actor | Identity, *, kind: str = "human", expires: datetime | None = None
) -> str:
    """Create an API token for ``user`` and return it; it is shown only this once.

    Only the token's SHA-256 is kept (``keys/tokens.json``, mode 0600). The ledger records
    ``token.created`` with the token id, user and expiry, never the token or its hash. With ``expires``
    (see :func:`token_expiry`) the token is refused from that moment on.
    """
    if kind not in ("human", "service"):
        raise ValidationError(f"expected human or service, got {kind!r}", field="kind")
    if expires is not None and expires.tzinfo is None:
        raise ValidationError("expected a time with a time zone", field="expires")
    identity_for_user(user, None)  # validates the id
    until = format_ts(expires.astimezone(UTC)) if expires is not None else None
    creator = _token_admin(trail, actor, "create", user)
    token_id = secrets.token_hex(8)
    token = f"{TOKEN_PREFIX}{token_id}_{secrets.token_urlsafe(32)}"
    path = _tokens_path(trail)
    with _locked(path):
        tokens = _read_tokens(path)
        tokens.append(
            {
                "id": token_id,
                "sha256": _hash_token(token),
                "user": user,
                "kind": kind,
                "created": format_ts(datetime.now(UTC)),
                "created_by": creator.id,
                "revoked": False,
                **({"expires": until} if until else {}),
            }
        )
        _write_tokens(path, tokens)
    record_governed(
        trail,
        "token.created",
        system="modeltrail",
        actor=creator,
        subject=f"token:{token_id}",
        payload={"token_id": token_id, "user": user, "kind": kind, **({"expires": until} if until else {})},
    )
    return token


def revoke_token(trail: Trail, token_id: str, actor: Actor | Identity, *, reason: str = "") -> None:
    """Revoke the token ``token_id`` (the id shown by :func:`create_token`, the 16 hex after ``mt_``)."""
    path = _tokens_path(trail)
    creator = _token_admin(trail, actor, "revoke", None)
    with _locked(path):
        tokens = _read_tokens(path)
        found = [t for t in tokens if t.get("id") == token_id and not t.get("revoked")]
        if not found:
            raise NotFoundError(f"no active token with id {token_id!r}")
        for t in found:
            t["revoked"] = True
        _write_tokens(path, tokens)
    record_governed(
        trail,
        "token.revoked",
        system="modeltrail",
        actor=creator,
        subject=f"token:{token_id}",
        payload={"token_id": token_id, "reason": reason},
    )


def _token_user(trail: Trail, token: str) -> tuple[str, str]:
    """(user, kind) of a valid token; PermissionDeniedError for an unknown, malformed or revoked one."""
    if not _TOKEN_RE.fullmatch(token.strip()):
        raise PermissionDeniedError("the API token is malformed (expected mt_<id>_<secret>)")
    digest = _hash_token(token.strip())
    for t in _read_tokens(_tokens_path(trail)):
        # Constant-time comparison: the stored hash must not leak through timing.
        if hmac.compare_digest(str(t.get("sha256", "")), digest):
            if t.get("revoked"):
                raise PermissionDeniedError(f"the API token {t.get('id')} has been revoked")
            until = t.get("expires")
            if isinstance(until, str) and parse_ts(until, "expires") <= datetime.now(UTC):
                raise PermissionDeniedError(f"the API token {t.get('id')} expired at {until}")
            return str(t["user"]), str(t.get("kind", "human"))
    raise PermissionDeniedError("the API token is not known to this trail")


# ----------------------------------------------------------------------------------------- resolving


def resolve_identity(
    trail: Trail, policy: Policy | None, *, as_user: str | None = None, token: str | None = None
) -> Identity:
    """Who is acting: ``as_user`` (if the policy allows impersonation), else a token, env or config user.

    Raises :class:`PermissionDeniedError` when impersonation is refused, a token is invalid, or no identity
    is configured at all.
    """
    fallback = trail.config.role
    if as_user is not None:
        if policy is None or not policy.allow_impersonation:
            raise PermissionDeniedError(
                f"--as {as_user} refused: the policy does not allow impersonation "
                "(allow_impersonation is false; it is meant for tests and demos only)"
            )
        if as_user not in policy.users:
            raise PermissionDeniedError(f"--as {as_user} refused: {as_user} is not a user of the policy")
        return identity_for_user(as_user, policy, source="impersonation", fallback_role=fallback)
    token = token if token is not None else os.environ.get("MODELTRAIL_TOKEN") or None
    if token:
        user, kind = _token_user(trail, token)
        return identity_for_user(user, policy, kind=kind, source="token", fallback_role=fallback)
    env_user = os.environ.get("MODELTRAIL_USER")
    if env_user:
        return identity_for_user(env_user, policy, source="env", fallback_role=fallback)
    if trail.config.user:
        return identity_for_user(trail.config.user, policy, source="config", fallback_role=fallback)
    raise PermissionDeniedError(
        "no identity: set MODELTRAIL_TOKEN (see `modeltrail token create`), MODELTRAIL_USER, "
        "or `user` in the trail's config.json"
    )


def resolve_actor(
    trail: Trail, policy: Policy | None, *, as_user: str | None = None, token: str | None = None
) -> Actor:
    """The acting :class:`Actor` with its primary role (see :func:`resolve_identity`)."""
    return resolve_identity(trail, policy, as_user=as_user, token=token).acting_as()


__all__ = [
    "ADMIN_ROLE",
    "DEFAULT_ROLE",
    "Identity",
    "admin_roles",
    "create_token",
    "identity_for_user",
    "identity_from_actor",
    "key_admin",
    "local_identity",
    "resolve_actor",
    "resolve_identity",
    "revoke_token",
    "token_expiry",
]
