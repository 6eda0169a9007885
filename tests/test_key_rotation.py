"""Signing-key rotation is privileged like token management: roles.keys (default admin), refusals recorded."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

import modeltrail
from _registry_support import ADMIN, POLICY, make_trail
from modeltrail.cli.main import main
from modeltrail.errors import PermissionDeniedError
from modeltrail.events import Actor
from modeltrail.identity import admin_roles, identity_for_user
from modeltrail.policy import parse_policy

NO_ENV = {"MODELTRAIL_URL": None, "MODELTRAIL_TOKEN": None, "MODELTRAIL_USER": None}


@pytest.fixture(autouse=True)
def _no_ambient_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in NO_ENV:
        monkeypatch.delenv(name, raising=False)


def _cli(trail_path: Path, args: list[str], **env: str | None) -> tuple[int, str, str]:
    r = CliRunner().invoke(main, ["--trail", str(trail_path), "key", "rotate", *args], env={**NO_ENV, **env})
    return r.exit_code, r.stdout, r.stderr


def test_policy_keys_role_defaults_to_admin() -> None:
    assert admin_roles(None, "keys") == ("admin",)
    assert admin_roles(parse_policy(POLICY), "keys") == ("admin",)  # the policy names none
    ops = parse_policy(POLICY.replace("  tokens: [admin]", "  tokens: [admin]\n  keys: [ops]"))
    assert ops.roles.keys == ("ops",) and admin_roles(ops, "keys") == ("ops",)
    assert ops.roles.to_dict()["keys"] == ["ops"]


def test_library_rotation_needs_the_keys_role(tmp_path: Path) -> None:
    with make_trail(tmp_path) as t:
        old = t.signer().verifier_key()
        with pytest.raises(PermissionDeniedError, match="rotate the signing key"):
            t.rotate_key(Actor("alice", "data_scientist"))
        with pytest.raises(PermissionDeniedError, match="does not grant"):
            t.rotate_key(Actor("alice", "admin"))  # a claimed role the policy's users do not grant
        assert t.signer().verifier_key() == old and t.verifier_keys() == [old]
        refused = list(t.events("key.rotation_refused"))
        assert [(e.actor.id, e.system, e.payload["action"]) for e in refused] == [
            ("alice", "modeltrail", "rotate"),
            ("alice", "modeltrail", "rotate"),
        ]
        assert "needs one of the roles admin" in refused[0].payload["reason"]
        # An identity resolved under the policy, holding admin: rotated, and the actor says so.
        t.rotate_key(identity_for_user("root", parse_policy(POLICY)), reason="compromise drill")
        assert t.signer().verifier_key() != old
        [rot] = t.events("key.rotated")
        assert (rot.actor.id, rot.actor.role, rot.payload["reason"]) == ("root", "admin", "compromise drill")
        assert t.verify().ok


def test_library_rotation_without_a_policy_trusts_the_claimed_admin_role(tmp_path: Path) -> None:
    with modeltrail.init(tmp_path) as t:
        with pytest.raises(PermissionDeniedError):
            t.rotate_key({"id": "bob", "role": "ops"})
        t.rotate_key({"id": "root", "role": "admin"})
        assert [e.actor.id for e in t.events("key.rotated")] == ["root"]


def test_cli_rotation_acts_as_the_resolved_identity(tmp_path: Path) -> None:
    make_trail(tmp_path).close()
    folder = tmp_path / "proj"
    code, _, err = _cli(folder, [], MODELTRAIL_USER="alice")
    assert code == 1 and "may not rotate the signing key" in err
    code, out, err = _cli(folder, ["--reason", "yearly"], MODELTRAIL_USER="root")
    assert code == 0, err
    code, _, err = _cli(folder, ["--actor", "erin"])
    assert code == 1 and "erin may not rotate" in err
    code, _, err = _cli(folder, ["--role", "admin"], MODELTRAIL_USER="root")
    assert code == 2 and "takes no --role" in err
    code, _, err = _cli(folder, ["--actor", "erin"])  # --actor is the one spelling; --as its old alias
    assert code == 1 and "erin may not rotate" in err
    with modeltrail.open(folder) as t:
        [rot] = t.events("key.rotated")
        assert (rot.actor.id, rot.actor.role, rot.payload["reason"]) == ("root", "admin", "yearly")
        assert [e.actor.id for e in t.events("key.rotation_refused")] == ["alice", "erin", "erin"]
        assert len(t.verifier_keys()) == 2
        assert out.splitlines()[0] == t.signer().verifier_key()  # the new key, then the checkpoint note


def test_cli_rotation_without_a_policy_is_refused_like_token_management(tmp_path: Path) -> None:
    modeltrail.init(tmp_path).close()
    code, _, err = _cli(tmp_path, [])
    assert code == 1 and "may not rotate the signing key" in err
    token_code = CliRunner().invoke(main, ["--trail", str(tmp_path), "token", "create", "bob"], env=NO_ENV)
    assert token_code.exit_code == 1  # the same rule as for API tokens
    with modeltrail.open(tmp_path) as t:
        assert len(t.verifier_keys()) == 1 and len(list(t.events("key.rotation_refused"))) == 1
        # The library still lets the owner rotate by acting as admin (no policy to check the claim against).
        t.rotate_key(ADMIN)
        assert len(t.verifier_keys()) == 2
