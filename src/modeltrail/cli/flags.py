"""The identity flags every command shares: ``--actor ID`` and ``--actor-role ROLE``.

One spelling on every command. What ``--actor`` means follows from the command:

- privileged commands (gates, approvals, deployment, the kill switch, review, tokens, key rotation)
  resolve who acts from ``$MODELTRAIL_TOKEN``, ``$MODELTRAIL_USER`` or the trail config, and take their
  roles from the policy; ``--actor USER`` acts as another user of the policy only where the policy sets
  ``allow_impersonation: true`` (tests and demos);
- recording commands (lineage, evaluate, record) name the actor of the events they write, with
  ``--actor-role`` (with a token set, the token's user acts and ``--actor`` may only repeat it).

The earlier spellings (``--as`` on privileged commands, ``--role`` for the actor's role) still work as
hidden aliases and print a deprecation note on stderr.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def _keep(dest: str) -> Callable[[click.Context, click.Parameter, Any], Any]:
    """Callback of the visible flag: keep a value its hidden alias already put in ``ctx.params``."""

    def callback(ctx: click.Context, _param: click.Parameter, value: Any) -> Any:
        return value if value is not None else ctx.params.get(dest)

    return callback


def _alias(dest: str, old: str, new: str) -> Callable[[click.Context, click.Parameter, Any], None]:
    def callback(ctx: click.Context, _param: click.Parameter, value: Any) -> None:
        if value is None:
            return
        click.echo(f"note: {old} is deprecated; use {new}", err=True)
        ctx.params[dest] = value

    return callback


def alias_option(old: str, new: str, dest: str, **kwargs: Any) -> Callable[[F], F]:
    """A hidden, deprecated spelling ``old`` of the flag ``new`` (both fill the parameter ``dest``)."""
    return click.option(
        old, f"_{dest}_alias_{old.strip('-').replace('-', '_')}", hidden=True, expose_value=False,
        callback=_alias(dest, old, new), is_eager=False, **kwargs,
    )  # fmt: skip


def impersonation_option(fn: F) -> F:
    """``--actor USER`` for privileged commands (parameter ``as_user``; ``--as`` is its old spelling)."""
    fn = alias_option("--as", "--actor", "as_user", metavar="USER")(fn)
    return click.option(
        "--actor",
        "as_user",
        metavar="USER",
        callback=_keep("as_user"),
        help="Act as USER (only when the policy sets allow_impersonation: true; tests and demos).",
    )(fn)


def actor_options(default_role: str | None, *, role_alias: bool = True) -> Callable[[F], F]:
    """``--actor ID`` and ``--actor-role ROLE`` for recording commands (parameters actor_id, actor_role).

    ``role_alias``: also accept the old ``--role`` for the actor's role (not where ``--role`` means
    something else, such as a dataset's role).
    """

    def decorate(fn: F) -> F:
        if role_alias:
            fn = alias_option("--role", "--actor-role", "actor_role", metavar="ROLE")(fn)
        fn = click.option(
            "--actor-role",
            "actor_role",
            metavar="ROLE",
            callback=_keep("actor_role"),
            help="Role the actor acts in" + (f" (default {default_role})." if default_role else "."),
        )(fn)
        return click.option(
            "--actor", "actor_id", metavar="ID", callback=_keep("actor_id"), help="Who acts (the events' actor id)."
        )(fn)

    return decorate
