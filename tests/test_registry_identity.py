"""Identity: API tokens (stored hashed, 0600), env and config users, impersonation only when allowed; policies."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

import modeltrail
from _registry_support import ADMIN, POLICY, SYSTEM, make_trail
from modeltrail.errors import NotFoundError, PermissionDeniedError, PolicyError
from modeltrail.events import Actor
from modeltrail.identity import create_token, identity_for_user, resolve_actor, resolve_identity, revoke_token
from modeltrail.policy import parse_policy
from modeltrail.registry import approve_policy, current_policy, propose_policy, register_policy, stored_policy

STRICT = POLICY.replace("allow_impersonation: true", "allow_impersonation: false")


@pytest.fixture
def trail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, backend_url: str | None) -> Iterator[modeltrail.Trail]:
    monkeypatch.delenv("MODELTRAIL_USER", raising=False)
    monkeypatch.delenv("MODELTRAIL_TOKEN", raising=False)
    t = make_trail(tmp_path, url=backend_url)
    yield t
    t.close()


def test_token_is_stored_hashed_with_private_permissions(trail: modeltrail.Trail) -> None:
    policy = current_policy(trail, SYSTEM)
    token = create_token(trail, "bob", ADMIN)
    path = trail.keys_dir / "tokens.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    stored = path.read_text()
    assert token not in stored and json.loads(stored)["tokens"][0]["user"] == "bob"
    ident = resolve_identity(trail, policy, token=token)
    assert (ident.user_id, ident.roles, ident.source) == ("bob", ("model_risk",), "token")
    # The ledger learns that a token was made, never the token or its hash.
    ev = next(trail.events("token.created"))
    assert ev.payload["user"] == "bob" and token not in ev.leaf.decode()
    assert json.loads(stored)["tokens"][0]["sha256"] not in ev.leaf.decode()


def test_token_from_env_bad_and_revoked_tokens(trail: modeltrail.Trail, monkeypatch: pytest.MonkeyPatch) -> None:
    policy = current_policy(trail, SYSTEM)
    token = create_token(trail, "ci", ADMIN, kind="service")
    monkeypatch.setenv("MODELTRAIL_TOKEN", token)
    monkeypatch.setenv("MODELTRAIL_USER", "alice")  # the token wins over the user variable
    ident = resolve_identity(trail, policy)
    assert ident.user_id == "ci" and ident.kind == "service" and ident.roles == ()
    assert resolve_actor(trail, policy).role == "user"
    with pytest.raises(PermissionDeniedError, match="not known"):
        resolve_identity(trail, policy, token=token[:-4] + "AAAA")
    with pytest.raises(PermissionDeniedError, match="malformed"):
        resolve_identity(trail, policy, token="hunter2")
    revoke_token(trail, token.split("_")[1], ADMIN, reason="leaked")
    with pytest.raises(PermissionDeniedError, match="revoked"):
        resolve_identity(trail, policy)


def test_env_then_config_user(trail: modeltrail.Trail, monkeypatch: pytest.MonkeyPatch) -> None:
    policy = current_policy(trail, SYSTEM)
    with pytest.raises(PermissionDeniedError, match="no identity"):
        resolve_identity(trail, policy)
    cfg = trail.path / "config.json"
    data = json.loads(cfg.read_text())
    data["user"] = "carol"
    cfg.write_text(json.dumps(data))
    with modeltrail.open(trail.path) as t2:
        assert resolve_identity(t2, policy).user_id == "carol"
        monkeypatch.setenv("MODELTRAIL_USER", "dave")
        ident = resolve_identity(t2, policy)
        assert ident.user_id == "dave" and ident.roles == ("model_risk", "compliance")


def test_impersonation_only_when_the_policy_allows_it(trail: modeltrail.Trail) -> None:
    allowed = current_policy(trail, SYSTEM)
    assert resolve_identity(trail, allowed, as_user="erin").roles == ("ops",)
    with pytest.raises(PermissionDeniedError, match="not a user"):
        resolve_identity(trail, allowed, as_user="zoe")
    strict = parse_policy(STRICT)
    with pytest.raises(PermissionDeniedError, match="does not allow impersonation"):
        resolve_identity(trail, strict, as_user="erin")


def test_acting_as_picks_the_role_the_action_accepts(trail: modeltrail.Trail) -> None:
    dave = identity_for_user("dave", current_policy(trail, SYSTEM))
    assert dave.acting_as().role == "model_risk"
    assert dave.actor_for(["compliance", "auditor"], "reveal").role == "compliance"
    with pytest.raises(PermissionDeniedError, match="needs one of the roles ops"):
        dave.actor_for(["ops"], "suspend credit@1")
    with pytest.raises(PermissionDeniedError):
        dave.acting_as("ops")


def test_policy_store_latest_wins_and_config_fallback(tmp_path: Path) -> None:
    t = modeltrail.init(tmp_path / "p")
    with pytest.raises(NotFoundError, match="policy set"):
        current_policy(t, SYSTEM)
    (tmp_path / "p" / "policy.yaml").write_text(POLICY)
    cfg = t.path / "config.json"
    data = json.loads(cfg.read_text())
    data["policy"] = "policy.yaml"
    cfg.write_text(json.dumps(data))
    t.close()
    with modeltrail.open(tmp_path / "p") as t:
        fallback = stored_policy(t, SYSTEM)
        assert fallback.seq is None and t.blobs.exists(fallback.sha256)
        with pytest.raises(NotFoundError):
            stored_policy(t, "another-system")
        _, r1 = register_policy(t, tmp_path / "p" / "policy.yaml", actor=ADMIN)
        ev = t.get_event(r1.seq)
        assert ev.payload["risk_tier"] == "high" and ev.payload["path"].endswith("policy.yaml")
        assert t.blobs.get_bytes(ev.payload["policy_sha256"]).decode() == POLICY
        with pytest.raises(PermissionDeniedError, match="needs one of the roles compliance"):
            register_policy(t, STRICT, actor=ADMIN)  # changing the policy in force takes roles.policy
        # A high-risk policy changes with two people: one proposes, a second approves.
        _, proposal = propose_policy(t, STRICT, actor=Actor("carol", "compliance"))
        _, r2 = approve_policy(t, proposal.seq, actor=Actor("dave", "compliance"))
        latest = stored_policy(t, SYSTEM)
        assert latest.seq == r2.seq and latest.policy.allow_impersonation is False
        with pytest.raises(PolicyError, match="risk_tier"):
            register_policy(
                t, POLICY.replace("risk_tier: high", "risk_tier: extreme"), actor=Actor("carol", "compliance")
            )
        assert stored_policy(t, SYSTEM).seq == r2.seq


def test_token_creation_needs_the_tokens_role_and_refusals_are_recorded(trail: modeltrail.Trail) -> None:
    from modeltrail.errors import PermissionDeniedError
    from modeltrail.events import Actor

    register_policy(trail, POLICY, actor=Actor("carol", "compliance"))
    alice = Actor("alice", "data_scientist")
    with pytest.raises(PermissionDeniedError, match="tokens"):
        create_token(trail, "carol", alice)  # a data scientist cannot mint an approver's token
    refused = list(trail.events("token.refused"))
    assert refused and refused[-1].actor.id == "alice" and refused[-1].payload["user"] == "carol"
    assert create_token(trail, "carol", ADMIN).startswith("mt_")
