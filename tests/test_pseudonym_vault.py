"""The pseudonym vault: random tokens per (field, value), stable until erasure, never derivable from the id."""

from __future__ import annotations

from pathlib import Path

from modeltrail.crypto.pseudonym import Pseudonymiser
from modeltrail.crypto.vault import PseudonymVault, is_vault_token

KEY = b"k" * 32


def test_tokens_are_random_stable_and_forgotten(tmp_path: Path) -> None:
    v = PseudonymVault(tmp_path / "v.db", Pseudonymiser(KEY))
    a = v.token("APP-1", "applicant_id")
    assert is_vault_token(a) and a == v.token("APP-1", "applicant_id") and len(a) == 26
    assert a != v.token("APP-1", "other_field") and a != v.token("APP-2", "applicant_id")
    # Not a function of the id: a second vault with the same key gives another token.
    w = PseudonymVault(tmp_path / "w.db", Pseudonymiser(KEY))
    assert w.token("APP-1", "applicant_id") != a
    assert v.forget("APP-1", ["applicant_id"]) == [a]
    assert v.find("APP-1", "applicant_id") is None
    b = v.token("APP-1", "applicant_id")  # a returning person gets a fresh token: new data, new link
    assert b != a
    assert (tmp_path / "v.db").stat().st_mode & 0o777 == 0o600
    v.close()
    w.close()


def test_an_erasure_in_another_process_clears_the_cache(tmp_path: Path) -> None:
    serving = PseudonymVault(tmp_path / "v.db", Pseudonymiser(KEY))
    erasing = PseudonymVault(tmp_path / "v.db", Pseudonymiser(KEY))
    a = serving.token("APP-1", "applicant_id")  # cached in the serving process
    assert erasing.forget_tokens([a]) == 1
    assert serving.token("APP-1", "applicant_id") != a  # the cached link is not revived
    serving.close()
    erasing.close()
