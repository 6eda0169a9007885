"""``modeltrail console``: the oversight console's sign-in accounts (the pages are served by ``modeltrail serve``)."""

from __future__ import annotations

import sys
from types import ModuleType

import click

from ..errors import ModeltrailError
from ..identity import local_identity
from .flags import impersonation_option
from .main import TrailContext, handle_errors, pass_ctx


def _auth() -> ModuleType:
    """:mod:`modeltrail.server.console.auth`, or a clear error without the server extra (FastAPI, argon2)."""
    try:
        from ..server.console import auth
    except ImportError as exc:
        raise ModeltrailError(f"the console needs the server extra: pip install 'modeltrail[server]' ({exc})") from None
    return auth


@click.group("console")
def console_group() -> None:
    """The oversight web console served by `modeltrail serve`: sign-in accounts."""


@console_group.group("user")
def user_group() -> None:
    """Console accounts (argon2id password hashes in the trail's keys dir; roles come from the policy)."""


@user_group.command("add")
@click.argument("user")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input (for scripts).")
@impersonation_option
@pass_ctx
@handle_errors
def user_add_cmd(tc: TrailContext, user: str, password_stdin: bool, as_user: str | None) -> None:
    """Create console user USER (a user of the policy) or change their password; ends their sessions."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt(f"Password for {user}", hide_input=True, confirmation_prompt=True)
    trail = tc.trail()
    _auth().set_password(trail, user, password, actor=local_identity(trail, as_user=as_user))
    click.echo(f"console user {user} set; sign in at http://127.0.0.1:8000/ after `modeltrail serve`", err=True)


@user_group.command("list")
@pass_ctx
@handle_errors
def user_list_cmd(tc: TrailContext) -> None:
    """List console users and how many sessions each has open."""
    users = _auth().ConsoleUsers(tc.trail().keys_dir)
    try:
        for u in users.users():
            click.echo(f"{u}\t{users.session_count(u)} session(s)")
    finally:
        users.close()


@user_group.command("remove")
@click.argument("user")
@impersonation_option
@pass_ctx
@handle_errors
def user_remove_cmd(tc: TrailContext, user: str, as_user: str | None) -> None:
    """Delete console user USER and end their sessions."""
    trail = tc.trail()
    _auth().remove_user(trail, user, actor=local_identity(trail, as_user=as_user))
    click.echo(f"console user {user} removed", err=True)


COMMANDS: list[click.Command] = [console_group]
