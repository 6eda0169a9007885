"""PII scanner: checksum validators against published and computed examples, detectors, masking.

Valid national identifiers are generated here by computing their check digits with independent code, and
every negative is the same number with one digit off.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modeltrail.errors import ValidationError
from modeltrail.evidence import pii

DATA = Path(__file__).parent / "data"


def off_by_one(value: str, pos: int = -1) -> str:
    """The same string with the digit at ``pos`` changed by one."""
    chars = list(value)
    idx = [i for i, c in enumerate(chars) if c.isdigit()][pos]
    chars[idx] = str((int(chars[idx]) + 1) % 10)
    return "".join(chars)


# ---------------------------------------------------------------------------- generators (test-side)


def make_steuer_id(rng: random.Random) -> str:
    while True:
        digits = rng.sample(range(10), 9)
        digits.insert(rng.randrange(1, 10), digits[rng.randrange(9)])  # exactly one digit twice
        if digits[0] == 0:
            continue
        product = 10
        for d in digits:
            s = (d + product) % 10 or 10
            product = (2 * s) % 11
        check = (11 - product) % 10
        return "".join(map(str, digits)) + str(check)


def make_nir(rng: random.Random, dept: str | None = None) -> str:
    sex = rng.choice("12")
    yy, mm = f"{rng.randrange(100):02d}", f"{rng.randrange(1, 13):02d}"
    dept = dept or f"{rng.randrange(1, 96):02d}"
    body = f"{sex}{yy}{mm}{dept}{rng.randrange(1, 1000):03d}{rng.randrange(1, 1000):03d}"
    numeric = body.replace("2A", "19").replace("2B", "18")
    return body + f"{97 - int(numeric) % 97:02d}"


ODD = [1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23]


def cf_check(first15: str) -> str:
    total = 0
    for i, ch in enumerate(first15):
        v = int(ch) if ch.isdigit() else ord(ch) - 65
        total += ODD[v] if i % 2 == 0 else v
    return chr(65 + total % 26)


def make_cf(rng: random.Random) -> str:
    letters = "".join(rng.choice("BCDFGLMNPRSTVZ") for _ in range(6))
    body = f"{letters}{rng.randrange(100):02d}{rng.choice('ABCDEHLMPRST')}{rng.randrange(1, 72):02d}"
    body += f"{rng.choice('ABCDEFGHILM')}{rng.randrange(1, 1000):03d}"
    return body + cf_check(body)


def make_dni(rng: random.Random) -> str:
    n = rng.randrange(10**7, 10**8)
    return f"{n:08d}" + "TRWAGMYFPDXBNJZSQVHLCKE"[n % 23]


def make_bsn(rng: random.Random) -> str:
    while True:
        d = [rng.randrange(10) for _ in range(8)]
        rest = sum(x * w for x, w in zip(d, range(9, 1, -1), strict=True)) % 11
        if rest < 10:  # last digit must equal the weighted sum mod 11
            return "".join(map(str, d)) + str(rest)


def make_pesel(rng: random.Random) -> str:
    yy, mm, dd = rng.randrange(100), rng.randrange(1, 13), rng.randrange(1, 29)
    mm += rng.choice([0, 20])
    d = [int(c) for c in f"{yy:02d}{mm:02d}{dd:02d}{rng.randrange(10000):04d}"]
    s = sum(x * w for x, w in zip(d, [1, 3, 7, 9, 1, 3, 7, 9, 1, 3], strict=True))
    return "".join(map(str, d)) + str((10 - s % 10) % 10)


def make_card(rng: random.Random, prefix: str, length: int) -> str:
    body = prefix + "".join(str(rng.randrange(10)) for _ in range(length - len(prefix) - 1))
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:  # these positions are doubled once the check digit is appended
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return body + str((10 - total % 10) % 10)


# ---------------------------------------------------------------------------- validators


def test_iban_published_examples_and_one_off() -> None:
    for iban in [
        "DE89 3704 0044 0532 0130 00",
        "GB82 WEST 1234 5698 7654 32",
        "FR14 2004 1010 0505 0001 3M02 606",
        "NL91 ABNA 0417 1643 00",
        "BE68 5390 0754 7034",
    ]:
        assert pii.iban_valid(iban), iban
        assert not pii.iban_valid(off_by_one(iban)), iban
    assert not pii.iban_valid("DE89 3704 0044 0532 0130 0")  # wrong length for DE
    assert not pii.iban_valid("QQ89 3704 0044 0532 0130 00")  # unknown country


def test_luhn_cards() -> None:
    for card in [
        "4111 1111 1111 1111",
        "5555555555554444",
        "378282246310005",
        "4012888888881881",
        "6011111111111117",
        "3530111333300000",
        "2223003122003222",
    ]:
        assert pii.payment_card_valid(card), card
        assert not pii.payment_card_valid(off_by_one(card)), card
        assert not pii.payment_card_valid(off_by_one(card, 3)), card
    # Luhn-valid but no issuer with that prefix/length.
    assert pii.luhn_valid("0000000000000000") and not pii.payment_card_valid("0000000000000000")
    rng = random.Random(1)
    for prefix, n in [("4", 16), ("51", 16), ("34", 15), ("6011", 16)]:
        assert pii.payment_card_valid(make_card(rng, prefix, n))


@pytest.mark.parametrize(
    ("make", "check"),
    [
        (make_steuer_id, pii.de_steuer_id_valid),
        (make_nir, pii.fr_nir_valid),
        (make_cf, pii.it_codice_fiscale_valid),
        (make_dni, pii.es_dni_nie_valid),
        (make_bsn, pii.nl_bsn_valid),
        (make_pesel, pii.pl_pesel_valid),
    ],
)
def test_national_ids_generated(make: object, check: object) -> None:
    rng = random.Random(42)
    for _ in range(200):
        value = make(rng)  # type: ignore[operator]
        assert check(value), value  # type: ignore[operator]
        if value[-1].isdigit():
            assert not check(off_by_one(value)), value  # type: ignore[operator]
        else:
            assert not check(value[:-1] + chr((ord(value[-1]) - 64) % 26 + 65)), value  # type: ignore[operator]
        assert not check(off_by_one(value, 1)), value  # type: ignore[operator]


def test_national_ids_published_examples() -> None:
    assert pii.de_steuer_id_valid("86095742719")
    assert not pii.de_steuer_id_valid("86095742718")
    assert not pii.de_steuer_id_valid("12345678903")  # all digits distinct: structure rule fails
    assert pii.it_codice_fiscale_valid("RSSMRA85T10A562S")
    assert not pii.it_codice_fiscale_valid("RSSMRA85T10A562T")
    assert pii.it_codice_fiscale_valid("RSSMRA85T10A56NH")  # omocodia: last digit 2 -> N, check recomputed
    assert pii.es_dni_nie_valid("12345678Z") and not pii.es_dni_nie_valid("12345678A")
    nie = "X1234567" + "TRWAGMYFPDXBNJZSQVHLCKE"[1234567 % 23]
    assert pii.es_dni_nie_valid(nie) and not pii.es_dni_nie_valid(off_by_one(nie))
    assert pii.nl_bsn_valid("111222333") and pii.nl_bsn_valid("123456782")
    assert not pii.nl_bsn_valid("111222334") and not pii.nl_bsn_valid("000000000")
    assert pii.pl_pesel_valid("44051401359") and not pii.pl_pesel_valid("44051401358")
    corsica = make_nir(random.Random(3), dept="2A")
    assert "2A" in corsica and pii.fr_nir_valid(corsica)
    assert not pii.fr_nir_valid(off_by_one(corsica))


# ---------------------------------------------------------------------------- masking


def test_masks_known_shapes() -> None:
    assert pii.mask_value("email", "john.doe@example.com") == "j***@e***.com"
    assert pii.mask_value("iban", "DE89370400440532013000") == "DE89 **** **** **** **30 00"
    assert pii.mask_value("payment_card", "4111 1111 1111 1111") == "**** **** **** 1111"
    assert pii.mask_value("person_name", "Anna Schmidt") == "A*** S***"
    assert pii.mask_value("date_of_birth", "1984-05-12") == "19**-**-**"
    assert pii.mask_value("date_of_birth", "12.05.1984") == "**.**.19**"


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(pii.PII_KINDS),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456789", min_size=4, max_size=30),
)
def test_mask_never_contains_raw_value(kind: str, raw: str) -> None:
    value = f"{raw}@{raw}.com" if kind == "email" else raw
    masked = pii.mask_value(kind, value)
    assert value not in masked
    assert raw not in masked.replace(" ", "")
    shown = sum(c.isalnum() for c in masked)
    assert shown <= max(len(value) // 2, 4)


# ---------------------------------------------------------------------------- scanning


def _frame(n: int = 300, seed: int = 7) -> pd.DataFrame:
    rng = random.Random(seed)
    first = ["Anna", "Jan", "Marie", "Lukas", "Sofia", "Pierre", "Giulia", "Piotr", "Daan", "Lucia"]
    last = ["Schmidt", "Dupont", "Rossi", "Kowalski", "de Vries", "García", "Müller", "Novak"]
    ibans = ["DE89 3704 0044 0532 0130 00", "GB82 WEST 1234 5698 7654 32", "NL91ABNA0417164300"]
    return pd.DataFrame(
        {
            "customer": [f"{rng.choice(first)} {rng.choice(last)}" for _ in range(n)],
            "contact": [f"{rng.choice(first).lower()}.{i}@mail{i % 7}.example.eu" for i in range(n)],
            "payout_account": [rng.choice(ibans) for _ in range(n)],
            "mobile": [f"+49 151 {rng.randrange(10**7):07d}" for _ in range(n)],
            "card": [make_card(rng, "4", 16) for _ in range(n)],
            "dob": [
                f"{rng.randrange(1940, 2004)}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 28):02d}"
                for _ in range(n)
            ],
            "steuer": [make_steuer_id(rng) for _ in range(n)],
            "nir": [make_nir(rng) for _ in range(n)],
            "cf": [make_cf(rng) for _ in range(n)],
            "dni": [make_dni(rng) for _ in range(n)],
            "bsn": np.array([int(make_bsn(rng)) for _ in range(n)], dtype=np.int64),
            "pesel": [make_pesel(rng) for _ in range(n)],
            "amount": np.round(np.random.default_rng(seed).lognormal(7, 1, n), 2),
            "city": [rng.choice(["Berlin", "Paris", "Roma", "Warszawa", "Madrid"]) for _ in range(n)],
        }
    )


def test_scan_finds_each_kind_and_masks_examples() -> None:
    df = _frame()
    scan = pii.scan_dataframe(df)
    by_col = {(f.column, f.kind): f for f in scan.findings}
    expected = {
        ("customer", "person_name"),
        ("contact", "email"),
        ("payout_account", "iban"),
        ("mobile", "phone"),
        ("card", "payment_card"),
        ("dob", "date_of_birth"),
        ("steuer", "national_id"),
        ("nir", "national_id"),
        ("cf", "national_id"),
        ("dni", "national_id"),
        ("bsn", "national_id"),
        ("pesel", "national_id"),
    }
    assert expected <= set(by_col), sorted(set(by_col))
    assert not {c for c, _ in by_col} & {"amount", "city"}
    assert by_col[("steuer", "national_id")].detail.startswith("DE Steuer-ID")
    assert by_col[("nir", "national_id")].detail.startswith("FR NIR")
    assert by_col[("cf", "national_id")].detail.startswith("IT codice fiscale")
    assert by_col[("dni", "national_id")].detail.startswith("ES DNI")
    assert by_col[("bsn", "national_id")].detail.startswith("NL BSN")
    assert by_col[("pesel", "national_id")].detail.startswith("PL PESEL")
    assert by_col[("payout_account", "iban")].count == 300
    assert by_col[("payout_account", "iban")].share == 1.0
    assert "DE89 **** **** **** **30 00" in by_col[("payout_account", "iban")].examples
    # No example anywhere contains a raw cell value.
    raw = {re.sub(r"\s", "", str(v)) for col in df.columns for v in df[col]}
    for f in scan.findings:
        assert 1 <= len(f.examples) <= 3
        for ex in f.examples:
            assert re.sub(r"\s", "", ex) not in raw, (f.column, ex)
            assert "*" in ex


def test_one_digit_off_identifiers_are_not_reported() -> None:
    rng = random.Random(5)
    df = pd.DataFrame(
        {
            "a": [off_by_one(make_steuer_id(rng)) for _ in range(200)],
            "b": [off_by_one(make_bsn(rng)) for _ in range(200)],
            "c": [off_by_one(make_pesel(rng)) for _ in range(200)],
            "d": [off_by_one(make_card(rng, "4", 16)) for _ in range(200)],
            "e": [off_by_one(off_by_one(make_dni(rng), 0)) for _ in range(200)],
            "f": ["DE89 3704 0044 0532 0130 01"] * 200,
        }
    )
    assert pii.scan_dataframe(df).findings == []


def test_random_numbers_dates_and_words_are_not_pii() -> None:
    g = np.random.default_rng(0)
    n = 2000
    df = pd.DataFrame(
        {
            "ref_no": g.integers(10**8, 10**9, n),  # 9 digits: ~9 % pass the BSN 11-proof by chance
            "ref11": [f"{x:011d}" for x in g.integers(10**10, 10**11, n)],
            "long": [f"{x:016d}" for x in g.integers(4 * 10**15, 5 * 10**15, n)],
            "booked": pd.date_range("2023-01-01", periods=n, freq="h"),
            "amount": g.normal(1000, 300, n),
            "status": g.choice(["Active", "Closed", "Pending"], n),
            "product_name": g.choice(["Gold Card", "Silver Plan"], n),
            "telephone": g.choice(["yes", "none"], n),
        }
    )
    assert pii.scan_dataframe(df).findings == []


def test_dob_without_name_hint_needs_birth_like_spread() -> None:
    g = np.random.default_rng(1)
    born = pd.to_datetime("1940-01-01") + pd.to_timedelta(g.integers(0, 60 * 365, 500), unit="D")
    scan = pii.scan_dataframe(pd.DataFrame({"d1": born, "birth_year": born.year}))
    kinds = {(f.column, f.kind, f.confidence) for f in scan.findings}
    assert ("d1", "date_of_birth", 0.5) in kinds
    assert any(c == "birth_year" and k == "date_of_birth" for c, k, _ in kinds)


def test_names_by_value_heuristic_without_column_name() -> None:
    df = pd.DataFrame(
        {"x": ["Anna Schmidt", "Jan Kowalski", "Marie Curie", "Thomas Müller", "Lucia Rossi"] * 20}
    )
    (f,) = pii.scan_dataframe(df).findings
    assert f.kind == "person_name" and not f.name_hint and f.confidence < 0.9


def test_email_inside_free_text() -> None:
    df = pd.DataFrame({"note": ["call back", "wrote from jane.roe@example.org yesterday", "ok"] * 10})
    (f,) = pii.scan_dataframe(df).findings
    assert f.kind == "email" and f.count == 10 and f.examples == ("j***@e***.org",)


def test_sampling_is_bounded_and_reported() -> None:
    df = pd.DataFrame({"mail": [f"user{i}@example.com" for i in range(5000)]})
    scan = pii.scan_dataframe(df, sample_rows=1000)
    assert scan.rows_total == 5000 and scan.rows_scanned == 1000
    assert scan.to_dict()["sampled"] is True
    assert scan.findings[0].rows_scanned == 1000 and scan.findings[0].count == 1000
    assert pii.scan_dataframe(df, sample_rows=1000).to_dict() == scan.to_dict()  # deterministic
    with pytest.raises(ValidationError):
        pii.scan_dataframe(df, sample_rows=0)


def test_german_credit_has_no_pii() -> None:
    df = pd.read_csv(DATA / "german_credit.csv")
    scan = pii.scan_dataframe(df)
    assert scan.findings == [] and scan.rows_scanned == 1000
