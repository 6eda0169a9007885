"""Write tests/data/pii_testset.csv: a labelled, synthetic set of columns for the PII scanner.

Every value is generated here (no real person's data): e-mails, phones, IBANs (mod-97 check digits
computed), payment cards (Luhn), national IDs (random candidates kept when the scanner's own checksum
validators accept them, so they are valid by the published rules), IP addresses, names in three formats,
and the same kinds inside free-text sentences. Negative columns hold look-alikes that must not be
reported: segments and statuses under person-like column names, version strings, amounts, codes,
one-digit-off identifiers.

Long format, one row per cell: ``case,column,expected,value`` where ``expected`` is the PII kind the
column holds (empty for a negative column). Positive columns have neutral names (``field_07``), so the
values must carry the evidence; negative columns keep their look-alike names (``customer_segment_0``). Run::

    python scripts/make_pii_testset.py          # rewrites tests/data/pii_testset.csv (seeded: same file)
"""

from __future__ import annotations

import csv
import random
import string
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from modeltrail.evidence.pii import (  # noqa: E402
    de_steuer_id_valid,
    es_dni_nie_valid,
    fr_nir_valid,
    luhn_valid,
    nl_bsn_valid,
    pl_pesel_valid,
)

OUT = ROOT / "tests" / "data" / "pii_testset.csv"
ROWS = 40  # cells per column
COLUMNS_PER_CASE = 3

FIRST = ["anna", "jan", "maria", "lukas", "sophie", "marco", "elena", "piotr", "clara", "thomas", "ines", "jonas"]
LAST = ["schmidt", "rossi", "kowalski", "dubois", "garcia", "jansen", "novak", "müller", "bianchi", "silva"]
WORDS = [
    "the",
    "customer",
    "asked",
    "about",
    "the",
    "delivery",
    "and",
    "wants",
    "a",
    "call",
    "back",
    "tomorrow",
    "regarding",
    "the",
    "open",
    "invoice",
]


def iban(rng: random.Random) -> str:
    bban = "".join(rng.choice(string.digits) for _ in range(18))
    country = "DE"
    numeric = "".join(str(int(ch, 36)) for ch in bban + country + "00")
    check = 98 - int(numeric) % 97
    raw = f"{country}{check:02d}{bban}"
    return " ".join(raw[i : i + 4] for i in range(0, len(raw), 4))


def card(rng: random.Random) -> str:
    while True:
        digits = "4" + "".join(rng.choice(string.digits) for _ in range(15))
        if luhn_valid(digits):
            return " ".join(digits[i : i + 4] for i in range(0, 16, 4))


def _valid(rng: random.Random, make: Callable[[random.Random], str], check: Callable[[str], bool]) -> str:
    while True:
        value = make(rng)
        if check(value):
            return value


def national_id(rng: random.Random) -> str:
    schemes: list[tuple[Callable[[random.Random], str], Callable[[str], bool]]] = [
        (lambda r: str(r.randint(1, 9)) + "".join(r.choice(string.digits) for _ in range(10)), de_steuer_id_valid),
        (
            lambda r: "".join(r.choice(string.digits) for _ in range(8)) + r.choice(string.ascii_uppercase),
            es_dni_nie_valid,
        ),
        (lambda r: "".join(r.choice(string.digits) for _ in range(9)), nl_bsn_valid),
        (lambda r: "".join(r.choice(string.digits) for _ in range(11)), pl_pesel_valid),
        (lambda r: r.choice("12") + "".join(r.choice(string.digits) for _ in range(14)), fr_nir_valid),
    ]
    make, check = rng.choice(schemes)
    return _valid(rng, make, check)


def letter_id(rng: random.Random) -> str:
    """A Spanish DNI (digits and a check letter): the ID kind that free text can carry without context."""
    return _valid(
        rng,
        lambda r: "".join(r.choice(string.digits) for _ in range(8)) + r.choice(string.ascii_uppercase),
        es_dni_nie_valid,
    )


def phone(rng: random.Random) -> str:
    return f"+49 {rng.randint(151, 179)} {rng.randint(1000000, 9999999)}"


def email(rng: random.Random) -> str:
    return f"{rng.choice(FIRST)}.{rng.choice(LAST)}{rng.randint(1, 99)}@example.{rng.choice(['com', 'org', 'eu'])}"


def ipv4(rng: random.Random) -> str:
    return ".".join(str(rng.randint(1, 254)) for _ in range(4))


def ipv6(rng: random.Random) -> str:
    return "2001:db8:" + ":".join(f"{rng.randint(0, 65535):x}" for _ in range(6))


def name_cap(rng: random.Random) -> str:
    return f"{rng.choice(FIRST).title()} {rng.choice(LAST).title()}"


def name_lower(rng: random.Random) -> str:
    return f"{rng.choice(FIRST)} {rng.choice(LAST)}"


def name_last_first(rng: random.Random) -> str:
    return f"{rng.choice(LAST).upper()}, {rng.choice(FIRST).title()}"


def sentence(rng: random.Random, inner: str) -> str:
    words = rng.sample(WORDS, 6)
    cut = rng.randint(1, 5)
    return " ".join([*words[:cut], inner, *words[cut:]])


def off_by_one(value: str) -> str:
    """The value with its last digit changed: no longer checksum-valid (for most schemes)."""
    for i in range(len(value) - 1, -1, -1):
        if value[i].isdigit():
            return value[:i] + str((int(value[i]) + 1) % 10) + value[i + 1 :]
    return value


POSITIVE: dict[str, tuple[str, Callable[[random.Random], str]]] = {
    "email": ("email", email),
    "phone": ("phone", phone),
    "iban": ("iban", iban),
    "payment_card": ("payment_card", card),
    "national_id": ("national_id", national_id),
    "ip_v4": ("ip_address", ipv4),
    "ip_v6": ("ip_address", ipv6),
    "name_capitalised": ("person_name", name_cap),
    "name_lower_case": ("person_name", name_lower),
    "name_last_first": ("person_name", name_last_first),
    "text_phone": ("phone", lambda r: sentence(r, phone(r))),
    "text_iban": ("iban", lambda r: sentence(r, iban(r))),
    "text_card": ("payment_card", lambda r: sentence(r, card(r))),
    "text_id": ("national_id", lambda r: sentence(r, letter_id(r))),
    "text_ip": ("ip_address", lambda r: sentence(r, ipv4(r))),
    "text_email": ("email", lambda r: sentence(r, email(r))),
}

NEGATIVE: dict[str, Callable[[random.Random], str]] = {
    "customer_segment": lambda r: r.choice(["Premium", "Gold", "Standard", "Basic", "Business"]),
    "applicant_status": lambda r: r.choice(["Approved", "Rejected", "Pending", "Withdrawn"]),
    "contact_channel": lambda r: r.choice(["Email", "Phone", "Letter", "Branch Visit", "Online"]),
    "product_name": lambda r: r.choice(["Home Loan", "Car Loan", "Credit Line", "Student Loan"]),
    "software_version": lambda r: f"{r.randint(1, 3)}.{r.randint(0, 20)}.{r.randint(0, 9)}",
    "amount": lambda r: f"{r.randint(100, 99999)}.{r.randint(0, 99):02d}",
    "order_code": lambda r: "ORD-" + "".join(r.choice(string.ascii_uppercase + string.digits) for _ in range(8)),
    "bad_iban": lambda r: off_by_one(iban(r).replace(" ", "")),
    "bad_card": lambda r: off_by_one(card(r)),
    "city": lambda r: r.choice(["Berlin", "Lyon", "Milano", "Porto", "Gdansk", "Utrecht"]),
    "comment": lambda r: " ".join(r.sample(WORDS, 8)),
    "purpose": lambda r: r.choice(["new car", "used car", "furniture", "radio tv", "education", "business"]),
}


def main() -> None:
    rng = random.Random(15)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with OUT.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["case", "column", "expected", "value"])
        n = 0
        for case, (kind, make) in POSITIVE.items():
            for _ in range(COLUMNS_PER_CASE):
                column = f"field_{n:02d}"
                n += 1
                for _ in range(ROWS):
                    writer.writerow([case, column, kind, make(rng)])
        for case, make in NEGATIVE.items():
            for k in range(COLUMNS_PER_CASE):
                for _ in range(ROWS):
                    writer.writerow([case, f"{case}_{k}", "", make(rng)])
    print(f"wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
