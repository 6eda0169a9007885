"""Approvers sign with their own SSH keys (real ``ssh-keygen -Y sign`` output); forged approvals do not count."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from _registry_support import POLICY, full_evidence, make_trail, trained_model
from modeltrail import projections
from modeltrail.audit.check import check
from modeltrail.cli.main import main
from modeltrail.crypto import sshsig
from modeltrail.errors import SignatureError
from modeltrail.events import Actor, EventInput, PreparedEvents, prepare
from modeltrail.registry import approval_body_for, approve, evaluate_gate_for, status

pytestmark = pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="needs OpenSSH's ssh-keygen")

BOB, CAROL = Actor("bob", "model_risk"), Actor("carol", "compliance")


def keygen(tmp: Path, name: str, kind: str = "ed25519") -> tuple[Path, str]:
    key = tmp / name
    extra = ["-b", "2048"] if kind == "rsa" else []
    subprocess.run(["ssh-keygen", "-q", "-t", kind, *extra, "-N", "", "-C", name, "-f", str(key)], check=True)
    return key, (tmp / f"{name}.pub").read_text().strip()


def sign(key: Path, body: bytes, tmp: Path, namespace: str = "modeltrail") -> str:
    msg = tmp / "body.json"
    msg.write_bytes(body)
    Path(str(msg) + ".sig").unlink(missing_ok=True)
    subprocess.run(["ssh-keygen", "-q", "-Y", "sign", "-f", str(key), "-n", namespace, str(msg)], check=True)
    return Path(str(msg) + ".sig").read_text()


@pytest.mark.parametrize("kind", ["ed25519", "ecdsa", "rsa"])
def test_sshsig_from_ssh_keygen_verifies(tmp_path: Path, kind: str) -> None:
    key, pub = keygen(tmp_path, "k", kind)
    sig = sign(key, b"approve credit@1", tmp_path)
    sshsig.verify(sig, b"approve credit@1", pub)
    with pytest.raises(SignatureError, match="does not verify"):
        sshsig.verify(sig, b"approve credit@2", pub)
    with pytest.raises(SignatureError, match="namespace"):
        sshsig.verify(sign(key, b"x", tmp_path, namespace="git"), b"x", pub)
    _, other = keygen(tmp_path, "other")
    with pytest.raises(SignatureError, match="another key"):
        sshsig.verify(sig, b"approve credit@1", other)


@pytest.fixture()
def signed(tmp_path: Path, backend_url: str | None):  # type: ignore[no-untyped-def]
    keys = tmp_path / "keys"
    keys.mkdir()
    bob_key, bob_pub = keygen(keys, "bob")
    carol_key, carol_pub = keygen(keys, "carol")
    policy = (
        POLICY.replace(
            "approvals: {roles: [model_risk, compliance], min: 2, four_eyes: true}",
            "approvals: {roles: [model_risk, compliance], min: 2, four_eyes: true, signed: required}",
        )
        .replace("bob: {roles: [model_risk]}", f'bob: {{roles: [model_risk], ssh_key: "{bob_pub}"}}')
        .replace("carol: {roles: [compliance]}", f'carol: {{roles: [compliance], ssh_key: "{carol_pub}"}}')
    )
    t = make_trail(tmp_path, policy, url=backend_url)
    ref = trained_model(t)
    full_evidence(t, ref)
    evaluate_gate_for(t, ref, "production", actor=BOB)
    yield t, ref, bob_key, carol_key, keys
    t.close()


def test_signed_approvals_count_and_unsigned_ones_do_not(signed) -> None:  # type: ignore[no-untyped-def]
    t, ref, bob_key, carol_key, keys = signed
    with pytest.raises(SignatureError, match="requires bob's SSH signature"):
        approve(t, ref, "production", actor=BOB, rationale="fine")
    body = approval_body_for(t, ref, "production", actor=BOB, rationale="fine")
    approve(t, ref, "production", actor=BOB, rationale="fine", signature=sign(bob_key, body, keys))
    # carol's approval signed with bob's key: refused
    cbody = approval_body_for(t, ref, "production", actor=CAROL, rationale="ok")
    with pytest.raises(SignatureError, match="another key"):
        approve(t, ref, "production", actor=CAROL, rationale="ok", signature=sign(bob_key, cbody, keys))
    # A process that can write to the ledger makes up carol's approval: it does not count.
    forged = prepare(
        EventInput(
            "model.approved",
            "credit-scoring",
            CAROL,
            "model:credit@1",
            {"stage": "production", "rationale": "ok", "complete": True},
        )
    )
    seq = t.log.append([PreparedEvents([forged])])[0][0].seq
    projections.rebuild(t)
    assert [a.approver for a in status(t, ref).approvals] == ["bob"]
    assert {v.seq: v.kind for v in check(t).violations} == {seq: "approval_signature"}
    approve(t, ref, "production", actor=CAROL, rationale="ok", signature=sign(carol_key, cbody, keys))
    projections.catch_up(t)
    assert status(t, ref).version.state == "approved"


def test_cli_print_body_and_signature(signed) -> None:  # type: ignore[no-untyped-def]
    t, ref, bob_key, _, keys = signed
    args = ["--trail", str(t.path), "approve", ref, "--stage", "production", "--rationale", "fine", "--actor", "bob"]
    runner = CliRunner()
    body = runner.invoke(main, [*args, "--print-body"])
    assert body.exit_code == 0, body.output
    sig_file = keys / "approval.sig"
    sig_file.write_text(sign(bob_key, body.stdout.encode(), keys))
    r = runner.invoke(main, [*args, "--signature", str(sig_file)])
    assert r.exit_code == 0, r.output
    assert t.get_event(t.size() - 1).payload["signature"].startswith("-----BEGIN SSH SIGNATURE-----")


# ---------------------------------------------------------------------- allowed-signers file (point 7)


def test_allowed_signers_file_lists_the_approvers_keys(tmp_path: Path, backend_url: str | None) -> None:
    keys = tmp_path / "keys"
    keys.mkdir()
    bob_key, bob_pub = keygen(keys, "bob")
    carol_key, carol_pub = keygen(keys, "carol", "ecdsa")
    _, git_pub = keygen(keys, "git-only")
    # The file ssh-keygen -Y verify reads: principals, options, key. Only the modeltrail namespace counts.
    allowed = (
        "# approvers of credit-scoring\n"
        f"bob {bob_pub}\n"
        f'carol,c.* namespaces="modeltrail,git" {carol_pub}\n'
        f'carol namespaces="git" {git_pub}\n'
    )
    (keys / "allowed_signers").write_text(allowed)
    for principal in ("bob", "carol"):  # the file is the format ssh-keygen itself accepts
        body = keys / f"{principal}.txt"
        body.write_bytes(b"probe")
        sig = sign(bob_key if principal == "bob" else carol_key, b"probe", keys)
        (keys / "probe.sig").write_text(sig)
        done = subprocess.run(
            ["ssh-keygen", "-Y", "verify", "-f", str(keys / "allowed_signers"), "-I", principal, "-n", "modeltrail",
             "-s", str(keys / "probe.sig")],
            input=b"probe", capture_output=True, check=False,
        )
        assert done.returncode == 0, done.stderr
    block = "".join(f"  {line}\n" for line in allowed.splitlines())
    policy = POLICY.replace(
        "approvals: {roles: [model_risk, compliance], min: 2, four_eyes: true}",
        "approvals: {roles: [model_risk, compliance], min: 2, four_eyes: true, signed: required}",
    ) + f"allowed_signers: |\n{block}"
    t = make_trail(tmp_path, policy, url=backend_url)
    try:
        from modeltrail.registry import current_policy

        pol = current_policy(t, "credit-scoring")
        assert pol.signer_keys("carol") == [carol_pub.rsplit(" ", 1)[0]]
        assert pol.signer_keys("bob") == [bob_pub.rsplit(" ", 1)[0]] and pol.signer_keys("erin") == []
        ref = trained_model(t)
        full_evidence(t, ref)
        evaluate_gate_for(t, ref, "production", actor=BOB)
        body = approval_body_for(t, ref, "production", actor=BOB, rationale="fine")
        approve(t, ref, "production", actor=BOB, rationale="fine", signature=sign(bob_key, body, keys))
        cbody = approval_body_for(t, ref, "production", actor=CAROL, rationale="ok")
        with pytest.raises(SignatureError, match="does not verify"):
            approve(t, ref, "production", actor=CAROL, rationale="ok", signature=sign(bob_key, cbody, keys))
        approve(t, ref, "production", actor=CAROL, rationale="ok", signature=sign(carol_key, cbody, keys))
        projections.catch_up(t)
        assert status(t, ref).version.state == "approved"
        assert check(t).ok, check(t).violations
    finally:
        t.close()


@pytest.mark.parametrize(
    "line,reason",
    [
        ("bob ssh-ed25519 AAAA", "not a valid SSH public key"),
        ("bob cert-authority ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFoo", "not supported"),
        ('bob valid-before="20300101" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFoo', "not supported"),
        ("bob", "expected"),
    ],
)
def test_bad_allowed_signers_lines_are_refused_with_the_line(line: str, reason: str) -> None:
    from modeltrail.errors import PolicyError
    from modeltrail.policy import parse_policy

    with pytest.raises(PolicyError, match=reason):
        parse_policy(f"system: s\nrisk_tier: minimal\nallowed_signers: |\n  # ok\n  {line}\n")


# ------------------------------------------------------- rejections and deployments by people (point 7)


def test_signed_required_covers_deployments_and_rejections_by_people(
    tmp_path: Path, backend_url: str | None
) -> None:
    from modeltrail.registry import deploy, deployment_body_for, reject, rejection_body_for

    keys = tmp_path / "keys"
    keys.mkdir()
    pairs = {name: keygen(keys, name) for name in ("bob", "carol", "erin")}
    policy = POLICY.replace(
        "approvals: {roles: [model_risk, compliance], min: 2, four_eyes: true}",
        "approvals: {roles: [model_risk, compliance], min: 2, four_eyes: true, signed: required}",
    )
    for name, role in (("bob", "model_risk"), ("carol", "compliance"), ("erin", "ops")):
        policy = policy.replace(
            f"{name}: {{roles: [{role}]}}", f'{name}: {{roles: [{role}], ssh_key: "{pairs[name][1]}"}}'
        )
    erin = Actor("erin", "ops")
    t = make_trail(tmp_path, policy, url=backend_url)
    try:
        ref = trained_model(t)
        full_evidence(t, ref)
        evaluate_gate_for(t, ref, "production", actor=BOB)
        for who, key in ((BOB, pairs["bob"][0]), (CAROL, pairs["carol"][0])):
            body = approval_body_for(t, ref, "production", actor=who, rationale="ok")
            approve(t, ref, "production", actor=who, rationale="ok", signature=sign(key, body, keys))
        with pytest.raises(SignatureError, match="requires erin's SSH signature on the deployment"):
            deploy(t, ref, "production", actor=erin)
        body = deployment_body_for(t, ref, "production", actor=erin)
        with pytest.raises(SignatureError, match="does not verify"):
            deploy(t, ref, "production", actor=erin, signature=sign(pairs["bob"][0], body, keys))
        deploy(t, ref, "production", actor=erin, signature=sign(pairs["erin"][0], body, keys))
        # A deployment made up around the library, unsigned: it changes nothing and is reported.
        forged = prepare(
            EventInput("model.deployed", "credit-scoring", erin, f"model:{ref}", {"env": "staging", "stage": "production"})
        )
        seq = t.log.append([PreparedEvents([forged])])[0][0].seq
        # Rejections by people: the same rule.
        bad = trained_model(t, version=2)
        with pytest.raises(SignatureError, match="on the rejection"):
            reject(t, bad, "production", actor=BOB, rationale="weak")
        rbody = rejection_body_for(t, bad, "production", actor=BOB, rationale="weak")
        reject(t, bad, "production", actor=BOB, rationale="weak", signature=sign(pairs["bob"][0], rbody, keys))
        projections.rebuild(t)
        assert {d.env for d in status(t, ref).deployments if d.state == "live"} == {"production"}
        assert status(t, bad).version.state == "rejected"
        found = {v.seq: (v.kind, v.message) for v in check(t).violations}
        assert {s: k for s, (k, _) in found.items()} == {seq: "approval_signature"}, found
    finally:
        t.close()


def test_cli_deploy_print_body_and_signature(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.mkdir()
    pairs = {name: keygen(keys, name) for name in ("bob", "carol", "erin")}
    policy = POLICY.replace(
        "approvals: {roles: [model_risk, compliance], min: 2, four_eyes: true}",
        "approvals: {roles: [model_risk, compliance], min: 2, four_eyes: true, signed: required}",
    )
    for name, role in (("bob", "model_risk"), ("carol", "compliance"), ("erin", "ops")):
        policy = policy.replace(
            f"{name}: {{roles: [{role}]}}", f'{name}: {{roles: [{role}], ssh_key: "{pairs[name][1]}"}}'
        )
    t = make_trail(tmp_path, policy)
    try:
        ref = trained_model(t)
        full_evidence(t, ref)
        evaluate_gate_for(t, ref, "production", actor=BOB)
        for who, key in ((BOB, pairs["bob"][0]), (CAROL, pairs["carol"][0])):
            body = approval_body_for(t, ref, "production", actor=who, rationale="ok")
            approve(t, ref, "production", actor=who, rationale="ok", signature=sign(key, body, keys))
        runner = CliRunner()
        args = ["--trail", str(t.path), "deploy", ref, "--env", "production", "--as", "erin"]
        unsigned = runner.invoke(main, args)
        assert unsigned.exit_code == 1 and "signature" in unsigned.stderr
        body = runner.invoke(main, [*args, "--print-body"])
        assert body.exit_code == 0, body.output
        sig_file = keys / "deploy.sig"
        sig_file.write_text(sign(pairs["erin"][0], body.stdout.encode(), keys))
        r = runner.invoke(main, [*args, "--signature", str(sig_file)])
        assert r.exit_code == 0, r.output
    finally:
        t.close()


def test_signed_overrides_where_oversight_requires_them(tmp_path: Path, backend_url: str | None) -> None:
    import modeltrail
    from modeltrail.registry import register_policy
    from modeltrail.runtime import review
    from modeltrail.runtime.oversight import override_body_for

    keys = tmp_path / "keys"
    keys.mkdir()
    rita_key, rita_pub = keygen(keys, "rita")
    policy = (
        "system: s\nrisk_tier: high\noversight: {fallback: human_review, signed: required}\n"
        f'users:\n  rita: {{roles: [reviewer], ssh_key: "{rita_pub}"}}\n  carol: {{roles: [compliance]}}\n'
    )
    rita = Actor("rita", "reviewer")
    with modeltrail.init(tmp_path / "t", url=backend_url) as t:
        register_policy(t, policy, actor=CAROL)
        svc = Actor("svc", "service", "service")
        for did in ("d1", "d2", "d3"):
            t.record(
                "inference.decision",
                system="s",
                actor=svc,
                subject=f"decision:{did}",
                payload={"decision_id": did, "output": 1, "route": "review"},
            )
        with pytest.raises(SignatureError, match="on the override"):
            review(t, "d1", actor=rita, override=0, reason="income verified")
        body = override_body_for(t, "d1", actor=rita, value=0, reason="income verified")
        review(t, "d1", actor=rita, override=0, reason="income verified", signature=sign(rita_key, body, keys))
        review(t, "d2", actor=rita, accept=True, reason="fine")  # accepting changes no output: unsigned
        forged = prepare(
            EventInput(
                "oversight.overridden", "s", rita, "decision:d3", {"decision_id": "d3", "value": 0, "reason": "x"}
            )
        )
        seq = t.log.append([PreparedEvents([forged])])[0][0].seq
        assert {v.seq: v.kind for v in check(t).violations} == {seq: "approval_signature"}
