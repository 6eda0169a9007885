"""People with authority sign a generated document (the declaration of conformity) with their own SSH key."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from _registry_support import POLICY, SYSTEM, actor, make_trail
from modeltrail.cli.main import main as cli
from modeltrail.documents.signing import personal_body, personal_signatures, sign_personally
from modeltrail.errors import SignatureError, ValidationError
from modeltrail.governance.namespace import record_governed
from test_approver_signatures import keygen, sign

pytestmark = pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="needs OpenSSH's ssh-keygen")


def _trail(tmp_path: Path):  # type: ignore[no-untyped-def]
    keys = tmp_path / "keys"
    keys.mkdir()
    bob_key, bob_pub = keygen(keys, "bob")
    carol_key, carol_pub = keygen(keys, "carol")
    policy = POLICY.replace(
        "bob: {roles: [model_risk]}", f'bob: {{roles: [model_risk], ssh_key: "{bob_pub}"}}'
    ).replace("carol: {roles: [compliance]}", f'carol: {{roles: [compliance], ssh_key: "{carol_pub}"}}')
    t = make_trail(tmp_path, policy)
    html = t.blobs.put_bytes(b"<html>declaration</html>")
    doc = record_governed(
        t,
        "doc.generated",
        system=SYSTEM,
        actor=actor("carol", "compliance"),
        subject="model:credit@1",
        payload={
            "kind": "declaration_of_conformity",
            "sha256": html,
            "formats": {"html": {"sha256": html, "path": "declaration.html", "signature": ""}},
            "authority": ["bob", "carol"],
        },
        refs=[f"blob:sha256:{html}"],
    )
    return t, doc.seq, bob_key, carol_key, keys


def test_people_with_authority_sign_the_declaration(tmp_path: Path) -> None:
    t, seq, bob_key, carol_key, keys = _trail(tmp_path)
    body = personal_body(t.get_event(seq))
    assert b"declaration_of_conformity model:credit@1" in body and b"html sha256:" in body
    r = sign_personally(t, seq, sign(bob_key, body, keys), actor=actor("bob", "model_risk"))
    ev = t.get_event(r.seq)
    assert ev.type == "doc.signed" and ev.actor.id == "bob" and ev.refs == [f"event:{seq}"]
    assert [e.seq for e in personal_signatures(t, seq)] == [r.seq]
    size = t.size()
    # Someone the declaration does not name, a signature by another person, a signature over other text.
    with pytest.raises(SignatureError, match="not among the people with authority"):
        sign_personally(t, seq, sign(bob_key, body, keys), actor=actor("mallory", "model_risk"))
    with pytest.raises(SignatureError, match="does not verify"):
        sign_personally(t, seq, sign(bob_key, body, keys), actor=actor("carol", "compliance"))
    with pytest.raises(SignatureError, match="does not verify"):
        sign_personally(t, seq, sign(carol_key, body + b"x", keys), actor=actor("carol", "compliance"))
    with pytest.raises(ValidationError):
        sign_personally(t, 0, sign(carol_key, body, keys), actor=actor("carol", "compliance"))
    assert t.size() == size
    t.close()


def test_cli_print_body_then_sign(tmp_path: Path) -> None:
    t, seq, _, carol_key, keys = _trail(tmp_path)
    folder = t.path
    t.close()
    runner = CliRunner()
    base = ["--trail", str(folder), "docs", "sign", str(seq), "--actor", "carol"]
    res = runner.invoke(cli, [*base, "--print-body"])
    assert res.exit_code == 0, res.output
    sig = keys / "declaration.sig"
    sig.write_text(sign(carol_key, res.stdout.encode(), keys))
    res = runner.invoke(cli, [*base, "--signature", str(sig)])
    assert res.exit_code == 0 and "signed by carol" in res.stdout, res.output
    res = runner.invoke(cli, [*base])
    assert res.exit_code == 2 and "--signature" in res.output
