"""Signed notes (C2SP signed-note, Ed25519) and checkpoints (C2SP tlog-checkpoint)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from modeltrail.errors import SignatureError, ValidationError
from modeltrail.ledger import note as note_mod
from modeltrail.ledger.note import (
    Checkpoint,
    MalformedNoteError,
    NoteSignature,
    NoteSigner,
    NoteVerifier,
    compute_key_id,
    is_valid_key_name,
    open_note,
    sign_checkpoint,
    sign_note,
    verify_checkpoint,
)

VECTOR = json.loads(
    (Path(__file__).parent / "data" / "testvectors" / "signed-note" / "peterneumann.json").read_text("utf-8")
)
# A fixed key keeps failures reproducible; hypothesis examples must not depend on random keys.
SIGNER = NoteSigner.from_private_key(
    Ed25519PrivateKey.from_private_bytes(bytes(range(32))), "example.com/log"
)
VERIFIER = SIGNER.verifier()
OTHER = NoteSigner.from_private_key(Ed25519PrivateKey.from_private_bytes(bytes(32)), "witness.example")
TEXT = "example.com/log\n3\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"


def _sig_b64(note: str, line: int = 0) -> str:
    """The base64 field of the ``line``-th signature line."""
    block = note[note.rfind("\n\n") + 2 :]
    return block.splitlines()[line].split(" ")[2]


# -- public test vector ------------------------------------------------------------------------


def test_vector_signing_reproduces_note_byte_for_byte() -> None:
    signer = NoteSigner(VECTOR["signer_key"])
    assert signer.name == "PeterNeumann"
    assert signer.key_id_hex == "c74f20a3"
    assert sign_note(VECTOR["text"], signer).encode("utf-8") == VECTOR["note"].encode("utf-8")


def test_vector_note_opens() -> None:
    opened = open_note(VECTOR["note"], [NoteVerifier(VECTOR["verifier_key"])])
    assert opened.text == VECTOR["text"]
    assert opened.signatures == [NoteSignature("PeterNeumann", bytes.fromhex("c74f20a3"), True)]
    # bytes in, and verifier key strings instead of objects, work the same
    assert open_note(VECTOR["note"].encode("utf-8"), [VECTOR["verifier_key"]]).text == VECTOR["text"]


@pytest.mark.parametrize("case", VECTOR["invalid_notes"], ids=lambda c: c["why"])
def test_vector_invalid_notes_rejected(case: dict[str, str]) -> None:
    with pytest.raises(SignatureError):
        open_note(case["note"], [VECTOR["verifier_key"]])


def test_vector_key_strings_round_trip() -> None:
    signer = NoteSigner(VECTOR["signer_key"])
    assert signer.signer_key() == VECTOR["signer_key"]
    assert signer.verifier_key() == VECTOR["verifier_key"]
    verifier = NoteVerifier(VECTOR["verifier_key"])
    assert verifier.verifier_key() == VECTOR["verifier_key"]
    assert verifier == signer.verifier()
    assert verifier.key_id == compute_key_id("PeterNeumann", verifier.public_key)
    assert "AYEK" not in repr(signer)  # the seed never appears in a repr


# -- key strings --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    [
        "",
        "PeterNeumann+c74f20a3",
        "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # id does not match
        "PaulNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # name does not match
        "PeterNeumann+c74f20a+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # 7 hex digits
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10T",  # bad base64
        "PeterNeumann+c74f20a3+Ahpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # algorithm 0x02
        "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # space in name
        VECTOR["signer_key"],
    ],
)
def test_bad_verifier_keys_rejected(key: str) -> None:
    with pytest.raises(ValidationError):
        NoteVerifier(key)


@pytest.mark.parametrize(
    "key",
    [
        VECTOR["verifier_key"],
        VECTOR["signer_key"].replace("c74f20a3", "c74f20a4"),
        VECTOR["signer_key"].replace("PRIVATE+KEY", "PRIVATE+KEX"),
        VECTOR["signer_key"][:-1],
    ],
)
def test_bad_signer_keys_rejected(key: str) -> None:
    with pytest.raises(ValidationError):
        NoteSigner(key)


def test_key_names() -> None:
    assert is_valid_key_name("example.com/log42")
    for bad in ["", "a b", "a+b", "a\tb", "a\u00a0b", "a\u3000b", "a\x01b"]:
        assert not is_valid_key_name(bad)
        with pytest.raises(ValidationError):
            NoteSigner.generate(bad)


def test_upper_case_key_id_accepted_and_canonicalised() -> None:
    verifier = NoteVerifier(VECTOR["verifier_key"].replace("c74f20a3", "C74F20A3"))
    assert verifier.verifier_key() == VECTOR["verifier_key"]


# -- signing and opening ------------------------------------------------------------------------


def test_text_with_empty_lines_round_trips() -> None:
    text = "\nfirst\n\n\nlast\n\n"
    note = sign_note(text, SIGNER)
    assert open_note(note, [VERIFIER]).text == text


@pytest.mark.parametrize(
    "text", ["", "no newline", "tab\there\n", "cr\r\n", "nul\x00\n", "surrogate\ud800\n"]
)
def test_sign_rejects_invalid_texts(text: str) -> None:
    with pytest.raises(ValidationError):
        sign_note(text, SIGNER)


def test_sign_needs_distinct_signers() -> None:
    with pytest.raises(ValidationError):
        sign_note(TEXT)
    with pytest.raises(ValidationError):
        sign_note(TEXT, SIGNER, SIGNER)


def test_unknown_keys_are_reported_not_fatal() -> None:
    note = sign_note(TEXT, SIGNER, OTHER)
    opened = open_note(note, [VERIFIER])
    assert [(s.name, s.key_id, s.verified) for s in opened.signatures] == [
        (SIGNER.name, SIGNER.key_id, True),
        (OTHER.name, OTHER.key_id, False),
    ]
    assert all(s.verified for s in open_note(note, [VERIFIER, OTHER.verifier()]).signatures)
    with pytest.raises(SignatureError, match="not signed by any known key"):
        open_note(note, [NoteSigner.generate("example.com/log").verifier()])


def test_failing_known_signature_rejects_whole_note() -> None:
    note = sign_note(TEXT, SIGNER, OTHER)
    # OTHER's line carries a valid signature of a different text: OTHER is known, so the note fails
    # even though SIGNER's signature is fine.
    forged = _sig_b64(sign_note("another text\n", OTHER))
    bad = note.replace(_sig_b64(note, 1), forged)
    with pytest.raises(SignatureError, match="does not verify"):
        open_note(bad, [VERIFIER, OTHER.verifier()])
    assert open_note(bad, [VERIFIER]).text == TEXT


def test_same_name_other_key_is_unknown() -> None:
    # Same name, different key: a different key id, hence an unknown key that must be ignored.
    impostor = NoteSigner.generate(SIGNER.name)
    note = sign_note(TEXT, impostor, SIGNER)
    opened = open_note(note, [VERIFIER])
    assert [s.verified for s in opened.signatures] == [False, True]


def test_ambiguous_verifiers_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    same = [NoteVerifier(VECTOR["verifier_key"]), NoteVerifier(VECTOR["verifier_key"])]
    assert open_note(VECTOR["note"], same).text == VECTOR["text"]  # the same key twice is fine
    # Force a key id collision between two different keys of one name (2^32 work otherwise).
    monkeypatch.setattr(note_mod, "compute_key_id", lambda name, pub: b"\0\0\0\0")
    a = NoteVerifier.from_public_key(Ed25519PrivateKey.generate().public_key(), "log")
    b = NoteVerifier.from_public_key(Ed25519PrivateKey.generate().public_key(), "log")
    assert a.key_id == b.key_id and a != b
    with pytest.raises(ValidationError, match="share name and id"):
        open_note(VECTOR["note"], [a, b])


def _note() -> str:
    return sign_note(TEXT, SIGNER)


@pytest.mark.parametrize(
    ("why", "mutate"),
    [
        ("missing blank line", lambda n: n.replace("\n\n", "\n")),
        ("no signature block", lambda n: n[: n.rfind("\n\n") + 2]),
        ("no trailing newline", lambda n: n[:-1]),
        ("trailing garbage", lambda n: n + "garbage"),
        ("trailing garbage line", lambda n: n + "garbage\n"),
        ("trailing blank line", lambda n: n + "\n"),
        ("duplicated signature line", lambda n: n + n[n.rfind("\n\n") + 2 :]),
        ("bad base64", lambda n: n.replace(_sig_b64(n), _sig_b64(n)[:-2] + "!=")),
        ("truncated base64", lambda n: n.replace(_sig_b64(n), _sig_b64(n)[:-4])),
        ("missing padding", lambda n: n.replace(_sig_b64(n), _sig_b64(n).rstrip("="))),
        ("hyphen instead of em dash", lambda n: n.replace("— ", "- ")),
        ("en dash instead of em dash", lambda n: n.replace("— ", "– ")),
        ("no space after dash", lambda n: n.replace("— ", "—")),
        ("two spaces", lambda n: n.replace(f"— {SIGNER.name} ", f"— {SIGNER.name}  ")),
        ("no signature field", lambda n: n.replace(f" {_sig_b64(n)}", "")),
        ("key id only", lambda n: n.replace(_sig_b64(n), base64.b64encode(SIGNER.key_id).decode())),
        ("plus in name", lambda n: n.replace(f"— {SIGNER.name}", "— a+b")),
        ("control character", lambda n: n.replace("example", "exa\x01mple", 1)),
        ("CRLF line ends", lambda n: n.replace("\n", "\r\n")),
    ],
)
def test_malformed_notes_rejected(why: str, mutate: object) -> None:
    assert callable(mutate)
    bad = mutate(_note())
    assert bad != _note(), why
    with pytest.raises(SignatureError):
        open_note(bad, [VERIFIER])


def test_malformed_errors_are_validation_errors_too() -> None:
    with pytest.raises(MalformedNoteError) as info:
        open_note(_note().replace("\n\n", "\n"), [VERIFIER])
    assert isinstance(info.value, ValidationError)
    assert isinstance(info.value, SignatureError)
    with pytest.raises(MalformedNoteError):
        open_note(b"caf\xc3\n\n\xe2\x80\x94 x AAAAAAA=\n", [VERIFIER])


def test_wrong_key_id_is_unknown_key() -> None:
    note = _note()
    raw = bytearray(base64.b64decode(_sig_b64(note)))
    raw[0] ^= 0xFF
    bad = note.replace(_sig_b64(note), base64.b64encode(bytes(raw)).decode())
    with pytest.raises(SignatureError, match="not signed by any known key"):
        open_note(bad, [VERIFIER])


def test_too_many_signatures_rejected() -> None:
    signers = [NoteSigner.generate(f"w{i}") for i in range(101)]
    note = sign_note(TEXT, SIGNER, *signers)
    with pytest.raises(MalformedNoteError, match="more than 100"):
        open_note(note, [VERIFIER])
    ok = sign_note(TEXT, SIGNER, *signers[:99])
    assert len(open_note(ok, [VERIFIER]).signatures) == 100


# -- property tests -----------------------------------------------------------------------------

_line_chars = st.characters(exclude_categories=["Cs"], min_codepoint=0x20)
note_texts = st.lists(st.text(_line_chars, max_size=40), min_size=1, max_size=8).map(
    lambda lines: "\n".join(lines) + "\n"
)


@settings(max_examples=200, deadline=None)
@given(text=note_texts)
def test_sign_open_round_trip(text: str) -> None:
    note = sign_note(text, SIGNER, OTHER)
    opened = open_note(note, [VERIFIER])
    assert opened.text == text
    assert [s.verified for s in opened.signatures] == [True, False]
    assert open_note(note.encode("utf-8"), [OTHER.verifier()]).text == text


@settings(max_examples=300, deadline=None)
@given(text=note_texts, data=st.data())
def test_any_bit_flip_in_signature_bytes_rejected(text: str, data: st.DataObject) -> None:
    note = sign_note(text, SIGNER)
    b64 = _sig_b64(note)
    raw = bytearray(base64.b64decode(b64))
    bit = data.draw(st.integers(0, len(raw) * 8 - 1))
    raw[bit // 8] ^= 1 << (bit % 8)
    bad = note[: note.rfind(b64)] + base64.b64encode(bytes(raw)).decode() + "\n"
    with pytest.raises(SignatureError):
        open_note(bad, [VERIFIER])


@settings(max_examples=300, deadline=None)
@given(text=note_texts, data=st.data())
def test_any_bit_flip_in_signature_text_rejected(text: str, data: st.DataObject) -> None:
    note = sign_note(text, SIGNER)
    start = note.rfind(_sig_b64(note))
    pos = data.draw(st.integers(start, len(note) - 2))  # any character of the base64 field
    bit = data.draw(st.integers(0, 7))
    flipped = chr(ord(note[pos]) ^ (1 << bit))
    bad = note[:pos] + flipped + note[pos + 1 :]
    with pytest.raises(SignatureError):
        open_note(bad, [VERIFIER])


# -- checkpoints --------------------------------------------------------------------------------

ROOT = bytes(range(32))


def test_checkpoint_round_trip() -> None:
    cp = Checkpoint("example.com/log", 20852163, ROOT, ("ext one", "ext-two"))
    text = cp.to_text()
    assert text == f"example.com/log\n20852163\n{base64.b64encode(ROOT).decode()}\next one\next-two\n"
    assert Checkpoint.parse(text) == cp
    note = sign_checkpoint(cp, SIGNER)
    assert note.startswith(text + "\n— example.com/log ")
    assert verify_checkpoint(note, [VERIFIER]) == cp
    empty = Checkpoint("example.com/log", 0, bytes(32))
    assert verify_checkpoint(sign_checkpoint(empty, SIGNER), [VERIFIER]) == empty


def test_checkpoint_signed_by_unknown_key_rejected() -> None:
    note = sign_checkpoint(Checkpoint("example.com/log", 1, ROOT), OTHER)
    with pytest.raises(SignatureError):
        verify_checkpoint(note, [VERIFIER])


def test_checkpoint_body_checked_after_signature() -> None:
    note = sign_note("example.com/log\n01\n" + base64.b64encode(ROOT).decode() + "\n", SIGNER)
    with pytest.raises(ValidationError, match=r"checkpoint\.size"):
        verify_checkpoint(note, [VERIFIER])


_R = base64.b64encode(ROOT).decode()


@pytest.mark.parametrize(
    "text",
    [
        "",
        f"example.com/log\n5\n{_R}",  # no final newline
        "example.com/log\n5\n",  # no root
        f"\n5\n{_R}\n",  # empty origin
        f"example.com/log\n05\n{_R}\n",  # leading zero
        f"example.com/log\n00\n{_R}\n",
        f"example.com/log\n-1\n{_R}\n",
        f"example.com/log\n+1\n{_R}\n",
        f"example.com/log\n 1\n{_R}\n",
        f"example.com/log\n1 \n{_R}\n",
        f"example.com/log\n1_000\n{_R}\n",
        f"example.com/log\n\u0661\n{_R}\n",  # Arabic-Indic digit one
        f"example.com/log\n18446744073709551616\n{_R}\n",  # 2^64
        f"example.com/log\n1\n{base64.b64encode(ROOT[:31]).decode()}\n",  # 31-byte root
        f"example.com/log\n1\n{_R.rstrip('=')}\n",  # unpadded
        f"example.com/log\n1\n{_R[:-2]}F=\n",  # non-canonical padding bits
        f"example.com/log\n1\n{_R}\n\n",  # empty extension line
        f"example.com/log\n1\n{_R}\next\n\n",
        f"example.com/log\n1\n{_R}\r\n",
    ],
)
def test_checkpoint_parse_rejections(text: str) -> None:
    with pytest.raises(ValidationError):
        Checkpoint.parse(text)


def test_checkpoint_parse_accepts_limits() -> None:
    assert Checkpoint.parse(f"o\n0\n{_R}\n").size == 0
    assert Checkpoint.parse(f"o\n18446744073709551615\n{_R}\n").size == 2**64 - 1
    # Origins need not follow the key-name rules (the spec only recommends it).
    assert Checkpoint.parse(f"log with spaces+plus\n1\n{_R}\n").origin == "log with spaces+plus"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"origin": ""},
        {"origin": "a\nb"},
        {"size": -1},
        {"size": True},
        {"size": 2**64},
        {"root": bytes(31)},
        {"root": "00" * 32},
        {"extensions": ("",)},
        {"extensions": ("a\nb",)},
        {"extensions": ["x"]},
    ],
)
def test_checkpoint_constructor_validates(kwargs: dict[str, object]) -> None:
    args: dict[str, object] = {"origin": "example.com/log", "size": 1, "root": ROOT, "extensions": ()}
    args.update(kwargs)
    with pytest.raises(ValidationError):
        Checkpoint(**args)  # type: ignore[arg-type]
